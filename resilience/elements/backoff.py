"""Exponential backoff with jitter, and schedule previews.

The four jitter strategies are the formulas of the AWS Architecture Blog article "Exponential
Backoff And Jitter". For retry ``k = 1, 2, ...``::

    base = min(maximum, initial * multiplier ** (k - 1))
    none          base
    full          uniform(0, base)
    equal         base / 2 + uniform(0, base / 2)
    decorrelated  min(maximum, uniform(initial, previous * 3)), previous starting at initial
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal, get_args

from resilience._spec import SpecValueError, check_fields, checked

if TYPE_CHECKING:
    from tenacity import RetryCallState
    from tenacity.wait import wait_base

__all__ = ["JITTERS", "Backoff", "Jitter"]

Jitter = Literal["none", "full", "equal", "decorrelated"]
JITTERS: tuple[str, ...] = get_args(Jitter)

_RANDOM = random.Random()


@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    """How long to wait before each retry.

    Args:
        initial: The base delay before the first retry, in seconds (or a ``timedelta``).
        maximum: No delay is longer than this.
        multiplier: Growth of the base delay per retry (``>= 1``).
        jitter: ``"full"`` (default), ``"equal"``, ``"decorrelated"`` or ``"none"``.

    Raises:
        TypeError: an argument has the wrong type.
        ValueError: an argument is out of range; the message says what is allowed.
    """

    initial: float = field(
        default=0.1,
        metadata=checked("seconds", "Seconds before the first retry (the base delay).", minimum=0),
    )
    maximum: float = field(
        default=20.0,
        metadata=checked(
            "seconds", "No wait is longer than this many seconds.", minimum=0, exclusive=True
        ),
    )
    multiplier: float = field(
        default=2.0,
        metadata=checked(
            "number",
            "Growth of the base delay per retry.",
            minimum=1,
            phrase="a finite number >= 1",
        ),
    )
    jitter: Jitter = field(
        default="full",
        metadata=checked(
            "choice",
            "none: the base delay; full: uniform(0, base); equal: base/2 + uniform(0, base/2); "
            "decorrelated: min(maximum, uniform(initial, previous * 3)).",
            choices=JITTERS,
        ),
    )

    if TYPE_CHECKING:  # what the constructor accepts: durations as seconds or timedelta

        def __init__(
            self,
            *,
            initial: float | timedelta = ...,
            maximum: float | timedelta = ...,
            multiplier: float = ...,
            jitter: Jitter = ...,
        ) -> None: ...

    def __post_init__(self) -> None:
        check_fields(self)
        if self.maximum < self.initial:
            detail = f"must be >= Backoff.initial (got {self.maximum} < {self.initial})"
            raise SpecValueError("Backoff", "maximum", detail)

    def replace(self, **changes: float | timedelta | str) -> Backoff:
        """A copy with some fields changed (and checked again)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def base(self, retry: int) -> float:
        """The un-jittered delay before retry number ``retry`` (1-based); never overflows."""
        if retry < 1:
            msg = f"retry numbers start at 1 (got {retry})"
            raise ValueError(msg)
        if self.initial == 0:
            return 0.0
        if self.multiplier == 1:
            return self.initial
        # Compare logarithms first: multiplier ** (retry - 1) overflows a float long before
        # retry 10 000, and maximum / initial overflows for a tiny initial.
        exponent = (retry - 1) * math.log(self.multiplier)
        if math.log(self.initial) + exponent >= math.log(self.maximum):
            return self.maximum
        try:
            return min(self.maximum, self.initial * self.multiplier ** (retry - 1))
        except OverflowError:  # a subnormal initial times a huge power: still below maximum
            return min(self.maximum, math.exp(math.log(self.initial) + exponent))

    def delay(
        self, retry: int, previous: float | None = None, rng: random.Random | None = None
    ) -> float:
        """The jittered delay before retry number ``retry``.

        Args:
            retry: 1 for the wait after the first failure, 2 after the second, ...
            previous: The delay before the previous retry (``decorrelated`` only; the first
                retry starts from ``initial``).
            rng: A random source, for reproducible samples.
        """
        uniform = (rng or _RANDOM).uniform
        jitter = self.jitter
        if jitter == "decorrelated":
            last = self.initial if previous is None else previous
            return min(self.maximum, uniform(self.initial, max(self.initial, last * 3)))
        base = self.base(retry)
        if jitter == "full":
            return uniform(0.0, base)
        if jitter == "equal":
            return base / 2 + uniform(0.0, base / 2)
        return base

    def longest(self, retry: int, previous: float | None = None) -> float:
        """The longest the delay before retry number ``retry`` can be."""
        if self.jitter == "decorrelated":
            last = self.initial if previous is None else previous
            return min(self.maximum, max(self.initial, last * 3))
        return self.base(retry)

    def schedule(self, n: int, rng: random.Random | None = None) -> list[float]:
        """A sample of the first ``n`` delays, for previews and tests."""
        delays: list[float] = []
        previous: float | None = None
        for retry in range(1, n + 1):
            previous = self.delay(retry, previous, rng)
            delays.append(previous)
        return delays

    def wait(self) -> wait_base:
        """A fresh tenacity wait object following this backoff, decorrelated jitter included
        (it remembers the previous delay: one per retry sequence)::

            tenacity.Retrying(wait=Backoff(jitter="decorrelated").wait())
        """
        wait: wait_base = _wait_class()(self)
        return wait


_WAIT: list[type[Any]] = []


def _wait_class() -> type[Any]:
    """The tenacity wait class, defined at first use: tenacity is imported only then."""
    if not _WAIT:
        from tenacity.wait import wait_base  # noqa: PLC0415 - only for tenacity users

        class BackoffWait(wait_base):
            """A tenacity wait that follows a :class:`Backoff`."""

            def __init__(self, backoff: Backoff) -> None:
                self.backoff = backoff
                self.previous: float | None = None

            def __call__(self, retry_state: RetryCallState) -> float:
                delay = self.backoff.delay(retry_state.attempt_number, self.previous)
                self.previous = delay
                return delay

        _WAIT.append(BackoffWait)
    return _WAIT[0]
