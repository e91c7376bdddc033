"""`resilience`'s own exceptions, as seen by an outer policy.

A refusal by a policy nested inside another one's function (its circuit is open) is, for the
outer policy, a failure like any other: the remote side behind the inner policy is down, so
it is retryable, and the seconds the inner circuit stays open are the hint (its
``remaining``). A policy never retries its own refusals: those never reach its classifier.
"""

from __future__ import annotations

from resilience.catalogs import Catalog, Reader, Reading, by_class
from resilience.catalogs._read import attr
from resilience.categories import Category

_X = "resilience.errors."


def _nothing(exc: BaseException) -> Reading:
    return (), None


def _remaining(exc: BaseException) -> float | None:
    seconds = attr(exc, "remaining")
    return seconds if type(seconds) is float and 0 < seconds < float("inf") else None


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
        by_class(_X + "ConfigError", Category.PERMANENT, "a policy file or rule is wrong"),
        by_class(_X + "ResilienceError", Category.PERMANENT, "an error of resilience itself"),
    ),
    readers=(Reader(_X + "CircuitOpenError", _nothing, hint=_remaining),),
)
