"""The failure-rate breaker: ``Breaker(failure_rate=...)``, resilience4j's way of breaking.

The state machine::

    closed --the window's failure rate (or slow-call rate) reaches its threshold,
             once it holds min_calls calls--> open
    open --reset_timeout elapsed, at the next call--> half-open
    half-open --the half_open_calls trials' rates stay under the thresholds--> closed
    half-open --they reach a threshold--> open

What counts, as in consecutive mode: a retryable failure is a failure; any other failure
means the remote side answered, so it is a success; a cancelled attempt counts as nothing
(a cancelled trial gives its slot back). A call is slow when it lasts longer than
``slow_call_duration``, whatever its outcome. Each state starts with an empty window, as
resilience4j's do. The window lives in a store: :class:`~resilience.stores.windows.
MemoryWindowStore`, or Redis (:mod:`resilience.stores.redis_windows`), shared by a fleet.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any, cast

from resilience._clock import _REAL, wall
from resilience._spec import SpecTypeError
from resilience.categories import Category
from resilience.elements.breaker import CircuitBreaker
from resilience.stores.base import CLOSED, HALF_OPEN, OPEN, State, WindowStore
from resilience.stores.windows import FAILED, SLOW, MemoryWindowStore, Shape

if TYPE_CHECKING:
    from resilience.elements.breaker import Breaker
    from resilience.observe import Observer

__all__ = ["CalmRateBreaker", "RateBreaker", "build", "shape_of"]

RETRYABLE = Category.RETRYABLE


def shape_of(spec: Breaker) -> Shape:
    """The window a failure-rate ``Breaker`` keeps."""
    assert spec.failure_rate is not None
    assert spec.min_calls is not None
    return Shape.of(
        window=spec.window,
        window_seconds=spec.window_seconds,
        min_calls=spec.min_calls,
        failure_rate=spec.failure_rate,
        slow_rate=spec.slow_call_rate if spec.slow_call_duration is not None else None,
        trials=spec.half_open_calls,
    )


def build(spec: Breaker, policy: str, observer: Observer) -> RateBreaker:
    """The live failure-rate breaker of the policy called ``policy``.

    Raises:
        SpecTypeError: the storage can't keep a window.
    """
    shape = shape_of(spec)
    storage: Any = spec.storage
    if storage is None:
        store: WindowStore = MemoryWindowStore(shape)
    elif callable(getattr(storage, "window_store", None)):
        store = storage.window_store(policy, shape, spec.reset_timeout)
    else:
        from resilience.stores.redis import RedisStorage  # noqa: PLC0415 - only with storage

        if not isinstance(storage, RedisStorage):
            detail = (
                f"can't keep a failure-rate window (got {storage!r}): use None (memory) or "
                "RedisStorage"
            )
            raise SpecTypeError("Breaker", "storage", detail)
        from resilience.stores.redis_windows import RedisWindowStore  # noqa: PLC0415

        store = RedisWindowStore(storage, policy, shape, spec.reset_timeout)
    if isinstance(store, MemoryWindowStore) and shape.timed and spec.slow_call_duration is None:
        return CalmRateBreaker(spec, policy, store, observer)
    return RateBreaker(spec, policy, store, observer)


class RateBreaker(CircuitBreaker):
    """The live breaker of one policy in failure-rate mode: a gate every attempt passes.
    Admission (and refusal) is the consecutive breaker's; recording fills the window."""

    __slots__ = ("_slow_after", "_window", "timed")

    def __init__(self, spec: Breaker, policy: str, store: WindowStore, observer: Observer) -> None:
        super().__init__(spec, policy, cast(Any, store), observer)
        self.local = isinstance(store, MemoryWindowStore)
        self._window = store
        slow = spec.slow_call_duration
        self._slow_after = math.inf if slow is None else slow
        self.timed = slow is not None  # the drivers measure each attempt for it
        store.listen(self._seen)

    # -- record ---------------------------------------------------------------------------

    def succeeded(self, trial: bool, duration: float) -> None:
        """An admitted attempt succeeded (or failed without blaming the remote side)."""
        if trial:
            self._trial(SLOW if duration > self._slow_after else 0)
        elif duration > self._slow_after:
            self._record(SLOW)
        elif not self._window.clean:
            self._record(0)

    def failed(self, trial: bool, category: Category, duration: float) -> None:
        """An admitted attempt failed with an exception of ``category``."""
        code = FAILED if category is RETRYABLE else 0
        if duration > self._slow_after:
            code |= SLOW
        if trial:
            self._trial(code)
        elif code or not self._window.clean:
            self._record(code)

    def _record(self, code: int) -> None:
        now = wall()
        if self._window.record(code, now):
            self._rate_opened(now, trial=False)

    def _trial(self, code: int) -> None:
        now = wall()
        moved = self._window.trial(code, now)
        if moved == OPEN:
            self._rate_opened(now, trial=True)
        elif moved == CLOSED:
            self._changed(HALF_OPEN, CLOSED)

    def _rate_opened(self, now: float, *, trial: bool) -> None:
        calls, failures, slow = self._window.opened_with
        slow_rate = slow / calls if calls and not math.isinf(self._slow_after) else None
        rates = (failures / calls if calls else 0.0, slow_rate)
        self._opened(now, failures=failures, trial=trial, rates=rates)

    def _seen(self, old: State, new: State, now: float) -> None:
        """A shared store's flush found the circuit moved (opened by this process's
        outcomes, or by the fleet's)."""
        if new == OPEN:
            self._rate_opened(now, trial=old == HALF_OPEN)
        else:
            self._changed(old, new)

    def window(self) -> tuple[int, int, int]:
        """(calls, failures, slow calls) in the window (all 0 unless closed)."""
        return self._window.window(wall())


class CalmRateBreaker(RateBreaker):
    """A failure-rate breaker over a time window in memory, without slow calls: a success
    while the window is calm (see :attr:`MemoryWindowStore.calm_until`) is one clock read
    and one lock-free count, spelt out here because it is what every healthy call costs."""

    __slots__ = ()

    _window: MemoryWindowStore

    def succeeded(self, trial: bool, duration: float) -> None:
        """An admitted attempt succeeded (or failed without blaming the remote side)."""
        if not trial:
            real = _REAL[0]
            now = real() if time.time is real else wall()  # wall(), inlined
            window = self._window
            if now < window.calm_until:
                next(window.live)
                return
        super().succeeded(trial, duration)
