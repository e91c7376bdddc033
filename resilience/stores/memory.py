"""State in this process: a breaker's circuit and a budget's window.

Reading is lock-free (the circuit's state and open time are one tuple, replaced whole);
every change takes the store's lock, so transitions are exact under threads.
"""

from __future__ import annotations

import threading
import time

from resilience.stores.base import CLOSED, HALF_OPEN, OPEN, State

__all__ = ["BUCKETS", "MemoryBreakerStore", "MemoryBudgetStore"]

#: Buckets of a budget's window.
BUCKETS = 10
_EPSILON = 1e-9


class MemoryBreakerStore:
    """A circuit kept in this process."""

    __slots__ = ("_lock", "_successes", "_trials", "failures", "snapshot")

    remote = False

    def __init__(self) -> None:
        self.snapshot: tuple[State, float | None] = (CLOSED, None)
        self.failures = 0
        self._successes = 0
        self._trials = 0
        self._lock = threading.Lock()

    def fail(self, fail_max: int, now: float) -> bool:
        with self._lock:
            if self.snapshot[0] != CLOSED:
                return False
            self.failures += 1
            if self.failures < fail_max:
                return False
            self.snapshot = (OPEN, now)
            return True

    def clear(self) -> None:
        with self._lock:
            if self.snapshot[0] == CLOSED:
                self.failures = 0

    def half_open(self, now: float, reset_timeout: float) -> bool:
        with self._lock:
            state, opened_at = self.snapshot
            if state != OPEN or opened_at is None or now < opened_at + reset_timeout:
                return False
            self.snapshot = (HALF_OPEN, opened_at)
            self._successes = 0
            return True

    def take_trial(self, limit: int, lease: float) -> bool:
        with self._lock:
            if self.snapshot[0] != HALF_OPEN or self._trials >= limit:
                return False
            self._trials += 1
            return True

    def release_trial(self) -> None:
        with self._lock:
            self._trials = max(0, self._trials - 1)

    def trial_succeeded(self, needed: int) -> bool:
        with self._lock:
            if self.snapshot[0] != HALF_OPEN:
                return False
            self._successes += 1
            if self._successes < needed:
                return False
            self.snapshot = (CLOSED, None)
            self.failures = 0
            return True

    def trial_failed(self, now: float) -> bool:
        with self._lock:
            if self.snapshot[0] != HALF_OPEN:
                return False
            self.snapshot = (OPEN, now)
            return True

    def force(self, state: State, now: float) -> None:
        with self._lock:
            self.snapshot = (state, None if state == CLOSED else now)
            self.failures = 0
            self._successes = 0


class MemoryBudgetStore:
    """The calls and retries of one policy over the last window, in this process.

    The window is ten buckets of ``window / 10`` seconds (wall clock, so freezegun moves it).
    Counting a call is a few list operations without a lock (under heavy thread contention a
    count may be lost, which only makes the budget a little stricter); deciding a retry takes
    the lock, on the failure path only.
    """

    __slots__ = (
        "_calls",
        "_epochs",
        "_lock",
        "_per_second",
        "_retries",
        "ratio",
        "reserve",
        "window",
    )

    remote = False

    def __init__(self, ratio: float, reserve: float, window: float) -> None:
        self.ratio = ratio
        self.reserve = reserve
        self.window = window
        self._per_second = BUCKETS / window
        self._epochs = [-1] * BUCKETS
        self._calls = [0] * BUCKETS
        self._retries = [0] * BUCKETS
        self._lock = threading.Lock()

    def request(self) -> None:
        epoch = int(time.time() * self._per_second)
        slot = epoch % BUCKETS
        if self._epochs[slot] != epoch:
            self._roll(slot, epoch)
        self._calls[slot] += 1

    def _roll(self, slot: int, epoch: int) -> None:
        """Reuse ``slot`` for bucket ``epoch`` (a new bucket began)."""
        self._calls[slot] = 0
        self._retries[slot] = 0
        self._epochs[slot] = epoch

    def _now(self) -> tuple[int, int]:
        """The current bucket number and slot, the slot cleared if it is new. Under the lock."""
        epoch = int(time.time() * self._per_second)
        slot = epoch % BUCKETS
        if self._epochs[slot] != epoch:
            self._roll(slot, epoch)
        return epoch, slot

    def _allows(self, epoch: int) -> bool:
        calls = retries = 0
        oldest = epoch - BUCKETS
        for slot in range(BUCKETS):
            if self._epochs[slot] > oldest:
                calls += self._calls[slot]
                retries += self._retries[slot]
        return retries + 1 <= self.ratio * calls + self.reserve + _EPSILON

    def try_retry(self) -> bool:
        with self._lock:
            epoch, slot = self._now()
            if not self._allows(epoch):
                return False
            self._retries[slot] += 1
            return True
