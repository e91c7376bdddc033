"""The store protocols: what a breaker and a budget ask of the place their state lives."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Literal, Protocol, runtime_checkable

__all__ = [
    "CLOSED",
    "HALF_OPEN",
    "OPEN",
    "BreakerStorage",
    "BreakerStore",
    "BudgetStorage",
    "BudgetStore",
    "State",
    "WindowStore",
]

State = Literal["closed", "open", "half-open"]
CLOSED: Final = "closed"
OPEN: Final = "open"
HALF_OPEN: Final = "half-open"


class BreakerStore(Protocol):
    """One circuit's state (consecutive-failure mode). Every change is atomic.

    Times are wall-clock seconds (:func:`resilience._clock.wall`), so freezegun moves them.
    """

    @property
    def remote(self) -> bool:
        """Whether operations may block on the network (async callers then offload them)."""
        ...  # pragma: no cover

    @property
    def snapshot(self) -> tuple[State, float | None]:
        """The state and, when open or half-open, the time it opened."""
        ...  # pragma: no cover

    @property
    def failures(self) -> int:
        """The run of retryable failures counted while closed."""
        ...  # pragma: no cover

    def fail(self, fail_max: int, now: float) -> bool:
        """Count one retryable failure (while closed); ``True`` when it opened the circuit."""
        ...  # pragma: no cover

    def clear(self) -> None:
        """A call succeeded while closed: the run of failures ends."""
        ...  # pragma: no cover

    def half_open(self, now: float, reset_timeout: float) -> bool:
        """Let trial calls through if the circuit has been open long enough; ``True`` when
        this call made it half-open."""
        ...  # pragma: no cover

    def take_trial(self, limit: int, lease: float) -> bool:
        """Take one of ``limit`` trial slots while half-open (held at most ``lease``
        seconds where the store is shared); ``False`` when none is free."""
        ...  # pragma: no cover

    def release_trial(self) -> None:
        """Give back a slot taken by :meth:`take_trial`."""
        ...  # pragma: no cover

    def trial_succeeded(self, needed: int) -> bool:
        """Count a trial success; ``True`` when it closed the circuit (``needed`` in a row)."""
        ...  # pragma: no cover

    def trial_failed(self, now: float) -> bool:
        """A trial failed; ``True`` when it opened the circuit again."""
        ...  # pragma: no cover

    def force(self, state: State, now: float) -> None:
        """Put the circuit in ``state`` at once (operators and tests), counts cleared."""
        ...  # pragma: no cover


class WindowStore(Protocol):
    """One circuit of a failure-rate breaker: its state, its sliding window while closed,
    its trials while half-open. Every change is atomic.

    Outcomes are codes: bit 1 a (retryable) failure, bit 2 a slow call. Times are
    wall-clock seconds (:func:`resilience._clock.wall`), so freezegun moves them.
    """

    @property
    def remote(self) -> bool:
        """Whether the next operation may block on the network."""
        ...  # pragma: no cover

    @property
    def snapshot(self) -> tuple[State, float | None]:
        """The state and, when open or half-open, the time it opened."""
        ...  # pragma: no cover

    @property
    def clean(self) -> bool:
        """Whether one more fast success would change nothing (so needs no recording)."""
        ...  # pragma: no cover

    @property
    def opened_with(self) -> tuple[int, int, int]:
        """(calls, failures, slow calls) that last opened the circuit."""
        ...  # pragma: no cover

    def record(self, code: int, now: float) -> bool:
        """Count one outcome while closed; ``True`` when it opened the circuit here and now
        (a shared store may learn of it later, and say so to its listener)."""
        ...  # pragma: no cover

    def window(self, now: float) -> tuple[int, int, int]:
        """(calls, failures, slow calls) in the window."""
        ...  # pragma: no cover

    def half_open(self, now: float, reset_timeout: float) -> bool:
        """As :meth:`BreakerStore.half_open`."""
        ...  # pragma: no cover

    def take_trial(self, limit: int, lease: float) -> bool:
        """Take one of the ``limit`` trials of this half-open spell."""
        ...  # pragma: no cover

    def release_trial(self) -> None:
        """A trial ended without an outcome: its slot is free again."""
        ...  # pragma: no cover

    def trial(self, code: int, now: float) -> State | None:
        """Count a trial's outcome; the state it moved the circuit to, if it did."""
        ...  # pragma: no cover

    def force(self, state: State, now: float) -> None:
        """Put the circuit in ``state`` at once, counts cleared."""
        ...  # pragma: no cover

    def listen(self, changed: Callable[[State, State, float], None]) -> None:
        """Call ``changed(old, new, now)`` when the circuit changes state out of sight of
        :meth:`record` (a shared store learning what its flushes did)."""
        ...  # pragma: no cover


class BudgetStore(Protocol):
    """The calls and retries of one policy over a sliding window."""

    @property
    def remote(self) -> bool:
        """Whether deciding a retry may block on the network."""
        ...  # pragma: no cover

    def request(self) -> None:
        """Count one call (its first attempt). On every call's path: cheap, lock-free."""
        ...  # pragma: no cover

    def try_retry(self) -> bool:
        """Spend one retry if the window allows it; ``False`` when the budget is spent."""
        ...  # pragma: no cover


@runtime_checkable
class BreakerStorage(Protocol):
    """Makes the breaker store of each policy (``RedisStorage`` does, by namespace)."""

    def breaker_store(self, policy: str) -> BreakerStore:
        """The store of the circuit of the policy called ``policy``."""
        ...  # pragma: no cover


@runtime_checkable
class BudgetStorage(Protocol):
    """Makes the budget store of each policy."""

    def budget_store(self, policy: str, ratio: float, reserve: float, window: float) -> BudgetStore:
        """The store of the retry budget of the policy called ``policy``."""
        ...  # pragma: no cover
