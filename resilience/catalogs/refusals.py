"""`resilience`'s own exceptions, as seen by an outer policy.

A refusal by a policy nested inside another one's function (its circuit is open, its
bulkhead is full, its rate limit is spent) is, for the outer policy, a failure like any
other: the remote side behind the inner policy is down or busy for now, so it is retryable,
and the seconds the inner policy said to wait are the hint (an open circuit's ``remaining``,
a rate limit's ``retry_after``). A policy never retries its own refusals: those never reach
its classifier.
"""

from __future__ import annotations

from collections.abc import Callable

from resilience.catalogs import Catalog, Reader, Reading, by_class
from resilience.catalogs._read import attr
from resilience.categories import Category

_X = "resilience.errors."


def _nothing(exc: BaseException) -> Reading:
    return (), None


def _seconds(name: str) -> Callable[[BaseException], float | None]:
    def hint(exc: BaseException) -> float | None:
        seconds = attr(exc, name)
        return seconds if type(seconds) is float and 0 < seconds < float("inf") else None

    return hint


CATALOG = Catalog(
    "refusals",
    "resilience's own exceptions: a nested policy's refusal, a wrong policy file",
    (
        by_class(
            _X + "CircuitOpenError",
            Category.RETRYABLE,
            "a nested policy's circuit is open: the remote side behind it is down for now",
        ),
        by_class(
            _X + "_CircuitOpen",
            Category.RETRYABLE,
            "the base of CircuitOpenError: a nested policy's circuit is open",
        ),
        by_class(
            _X + "ConcurrencyLimitError",
            Category.RETRYABLE,
            "a nested policy's bulkhead is full: the remote side behind it is busy for now",
        ),
        by_class(
            _X + "RateLimitedError",
            Category.RETRYABLE,
            "a nested policy's rate limit is spent for now; its retry_after is the hint",
        ),
        by_class(_X + "ConfigError", Category.PERMANENT, "a policy file or rule is wrong"),
        by_class(_X + "ResilienceError", Category.PERMANENT, "an error of resilience itself"),
    ),
    readers=(
        Reader(_X + "CircuitOpenError", _nothing, hint=_seconds("remaining")),
        Reader(_X + "RateLimitedError", _nothing, hint=_seconds("retry_after")),
    ),
)
