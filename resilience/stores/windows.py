"""The sliding windows of a failure-rate breaker, and its circuit, in this process.

A :class:`Shape` says what a window holds and when it trips (the same rules for every store:
the Redis one, :mod:`resilience.stores.redis_windows`, runs them in Lua). The window holds
either the last ``size`` calls (count-based), or the calls of the last ``size`` buckets of
``width`` seconds (time-based: one bucket a second for windows up to a minute, as
resilience4j has; sixty buckets for longer ones). Each call is a success or a failure, slow
or not.

:class:`MemoryWindowStore` keeps one circuit: its state and open time (one tuple, read
without a lock), the window while closed, and the trials while half-open. Every change takes
its lock, so counts are exact under threads. Two shortcuts for fast successes, the common
case: a count-based window full of them is unchanged by one more (all its entries are
alike), so recording it takes nothing (``clean``); a time-based window counts them in its
newest bucket without the lock, stepping an ``itertools.count`` (atomic in CPython) that is
folded into the bucket when the next begins, unless the success could open the circuit.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from resilience.stores.base import CLOSED, HALF_OPEN, OPEN, State

__all__ = ["EPSILON", "MemoryWindowStore", "Shape"]

#: Slack of the rate comparisons: 3 failures of 10 reach a 0.3 threshold (0.3 * 10 is
#: 3.0000000000000004 in floating point).
EPSILON: Final = 1e-9
#: Most buckets of a time-based window.
MAX_BUCKETS: Final = 60

FAILED: Final = 1
SLOW: Final = 2


def _value(counter: itertools.count[int]) -> int:
    """How far an ``itertools.count()`` has counted (its repr is ``count(<next>)``; reading
    it changes nothing)."""
    return int(repr(counter)[6:-1])


@dataclass(frozen=True, slots=True)
class Shape:
    """What a failure-rate breaker's window holds, and when it trips.

    Attributes:
        size: Calls held (count-based) or buckets (time-based).
        width: Seconds per bucket; 0 for a count-based window.
        min_calls: Calls the window must hold before its rates count.
        failure_rate: The failure share that trips it (reached: ``>=``, as resilience4j).
        slow_rate: The slow-call share that trips it; ``None``: slow calls are not counted.
        trials: Trial calls while half-open; their rates decide alone.
    """

    size: int
    width: float
    min_calls: int
    failure_rate: float
    slow_rate: float | None
    trials: int
    per: float = 0.0  # buckets per second (time-based)

    @classmethod
    def of(
        cls,
        *,
        window: int | None,
        window_seconds: float | None,
        min_calls: int,
        failure_rate: float,
        slow_rate: float | None,
        trials: int,
    ) -> Shape:
        """The shape of a ``Breaker``'s window (one of ``window``, ``window_seconds``)."""
        if window_seconds is None:
            assert window is not None
            # As resilience4j: a count window can't wait for more calls than it holds.
            return cls(window, 0.0, min(min_calls, window), failure_rate, slow_rate, trials)
        buckets = min(MAX_BUCKETS, math.ceil(window_seconds))
        width = window_seconds / buckets
        return cls(buckets, width, min_calls, failure_rate, slow_rate, trials, 1 / width)

    @property
    def timed(self) -> bool:
        """Whether the window spans seconds (else a number of calls)."""
        return self.width > 0

    def over(self, calls: int, failures: int, slow: int) -> bool:
        """Whether these counts reach a threshold (``calls`` > 0)."""
        if failures >= self.failure_rate * calls - EPSILON:
            return True
        return self.slow_rate is not None and slow >= self.slow_rate * calls - EPSILON

    def tripped(self, calls: int, failures: int, slow: int) -> bool:
        """Whether a closed circuit with this window opens."""
        return calls >= self.min_calls and calls > 0 and self.over(calls, failures, slow)

    def verdict(self, done: int, failures: int, slow: int) -> State | None:
        """Half-open, after ``done`` trials: ``"open"`` once their rates must reach a
        threshold, ``"closed"`` once they can't any more, ``None`` while it is open to
        doubt. The same verdict resilience4j gives after the last trial, given as soon as
        the remaining trials can't change it."""
        trials = self.trials
        if self.over(trials, failures, slow):
            return OPEN
        left = trials - done
        if not self.over(trials, failures + left, slow + left):
            return CLOSED
        return None

    def bucket(self, now: float) -> int:
        """The number of the bucket ``now`` falls in (time-based; ``now`` > 0)."""
        return int(now * self.per)


class MemoryWindowStore:
    """A failure-rate breaker's circuit kept in this process."""

    __slots__ = (
        "_bcalls",
        "_bfailures",
        "_bslow",
        "_calls",
        "_calm",
        "_done",
        "_failures",
        "_lock",
        "_newest",
        "_per",
        "_pos",
        "_prev",
        "_ring",
        "_size",
        "_slow",
        "_taken",
        "_tfailures",
        "_tslow",
        "calm_until",
        "clean",
        "live",
        "opened_with",
        "shape",
        "snapshot",
    )

    remote = False

    def __init__(self, shape: Shape) -> None:
        self.shape = shape
        self.snapshot: tuple[State, float | None] = (CLOSED, None)
        #: Count-based: the window is full of fast successes, so one more changes nothing.
        self.clean = False
        #: (calls, failures, slow) of the window that last opened the circuit.
        self.opened_with = (0, 0, 0)
        self._lock = threading.Lock()
        size = self._size = shape.size
        self._per = shape.per
        self._ring = bytearray(size) if not shape.timed else bytearray()
        self._bcalls = [0] * size if shape.timed else []
        self._bfailures = [0] * size if shape.timed else []
        self._bslow = [0] * size if shape.timed else []
        self._empty()
        self._taken = self._done = self._tfailures = self._tslow = 0

    def _empty(self) -> None:
        """Forget the window (under the lock, or before anyone sees the store), after the
        state changed."""
        self._calls = self._failures = self._slow = 0
        self._pos = 0
        self._newest = -(2**62)
        self.clean = False
        # Time-based: the fast successes of the newest bucket, counted without the lock
        # (an itertools.count steps atomically), folded into the bucket when the next begins;
        # the bucket folded last, to fold in what a late thread added after its fold.
        #: Time-based: the counter of the newest bucket's fast successes (stepped with
        #: ``next``, without the lock, only while ``calm_until`` is ahead of the clock).
        self.live = itertools.count()
        self._prev: tuple[itertools.count[int], int, int] | None = None
        #: Time-based: no fast success can open the circuit now (closed, and the window
        #: holds no failure nor slow call, or holds min_calls already: a success only
        #: lowers the rates).
        self._calm = self.snapshot[0] == CLOSED
        #: Time-based: until when (wall-clock seconds) a fast success may be counted without
        #: the lock (calm, and before the newest bucket ends; -inf when it may not).
        self.calm_until = -math.inf
        if self.shape.timed:
            size = self.shape.size
            self._bcalls[:] = [0] * size
            self._bfailures[:] = [0] * size
            self._bslow[:] = [0] * size
        else:
            self._ring[:] = bytes(len(self._ring))

    # -- the window ---------------------------------------------------------------------------

    def _push(self, code: int) -> None:
        """Count-based: the newest call pushes out the oldest once the window is full."""
        ring, pos, size = self._ring, self._pos, self.shape.size
        if self._calls == size:
            old = ring[pos]
            self._failures -= old & FAILED
            self._slow -= (old & SLOW) >> 1
        else:
            self._calls += 1
        ring[pos] = code
        self._pos = pos + 1 if pos + 1 < size else 0
        self._failures += code & FAILED
        self._slow += (code & SLOW) >> 1
        self.clean = self._calls == size and not self._failures and not self._slow

    def _settle(self) -> None:
        """Time-based, under the lock: fold in what late threads added to the bucket folded
        last (they read its counter just before it was folded)."""
        prev = self._prev
        if prev is None:
            return
        counter, folded, bucket = prev
        late = _value(counter) - folded
        if late:
            if bucket > self._newest - self._size:
                self._bcalls[bucket % self._size] += late
                self._calls += late
            self._prev = (counter, folded + late, bucket)

    def _roll(self, now: float) -> int:
        """Time-based, under the lock: move the window to ``now``'s bucket (emptying the
        buckets that left it); that bucket's number."""
        epoch = self.shape.bucket(now)
        newest = self._newest
        if epoch > newest:
            self._settle()
            live, size = self.live, self._size
            self.calm_until = -math.inf  # before live and _newest move: see record()
            self.live = itertools.count()  # before _newest moves: see record()
            folded = _value(live)
            if folded and newest > -(2**62):
                self._bcalls[newest % size] += folded
                self._calls += folded
            self._prev = (live, folded, newest)
            for bucket in range(max(newest + 1, epoch - size + 1), epoch + 1):
                slot = bucket % size  # it held a bucket older than the window
                self._calls -= self._bcalls[slot]
                self._failures -= self._bfailures[slot]
                self._slow -= self._bslow[slot]
                self._bcalls[slot] = self._bfailures[slot] = self._bslow[slot] = 0
            self._newest = epoch
            self._calmed(self._calm)
        return epoch

    def _calmed(self, calm: bool) -> None:
        """Time-based, under the lock: whether fast successes may skip the lock now."""
        self._calm = calm
        newest = self._newest
        if calm and newest > -(2**62):
            self.calm_until = (newest + 1) / self._per
        else:
            self.calm_until = -math.inf

    def _add(self, now: float, code: int) -> None:
        epoch = self._roll(now)
        size = self._size
        if epoch <= self._newest - size:
            return  # the clock went back past the window: too old to count
        slot = epoch % size
        failed, slow = code & FAILED, (code & SLOW) >> 1
        self._bcalls[slot] += 1
        self._bfailures[slot] += failed
        self._bslow[slot] += slow
        self._calls += 1
        self._failures += failed
        self._slow += slow

    def _counts(self) -> tuple[int, int, int]:
        """(calls, failures, slow) in the window; time-based: after :meth:`_roll`."""
        if self._per:
            self._settle()
            return self._calls + _value(self.live), self._failures, self._slow
        return self._calls, self._failures, self._slow

    def record(self, code: int, now: float) -> bool:
        """Count one call of a closed circuit (``code``: ``FAILED`` and ``SLOW`` bits);
        ``True`` when it opened the circuit."""
        if not code and now < self.calm_until:
            # A fast success in the newest bucket of a calm time window: the common case,
            # without the lock. A roll closes calm_until, then replaces live before it
            # moves _newest, so a count lands in this bucket or the next; one that lands in
            # this bucket's counter after its fold is folded in by the next _settle.
            next(self.live)
            return False
        with self._lock:
            if self.snapshot[0] != CLOSED:
                return False  # admitted before the circuit opened: no say any more
            if self._per:
                self._add(now, code)
            else:
                self._push(code)
            calls, failures, slow = self._counts()
            if self.shape.tripped(calls, failures, slow):
                self.opened_with = (calls, failures, slow)
                self.snapshot = (OPEN, now)
                self._empty()
                return True
            if self._per:
                self._calmed(not (failures or slow) or calls >= self.shape.min_calls)
            return False

    def window(self, now: float) -> tuple[int, int, int]:
        """(calls, failures, slow calls) in the window now (all 0 unless closed)."""
        with self._lock:
            if self.snapshot[0] != CLOSED:
                return 0, 0, 0
            if self._per:
                self._roll(now)
                calls, failures, slow = self._counts()
                self._calmed(not (failures or slow) or calls >= self.shape.min_calls)
                return calls, failures, slow
            return self._counts()

    # -- half-open ----------------------------------------------------------------------------

    def half_open(self, now: float, reset_timeout: float) -> bool:
        with self._lock:
            state, opened_at = self.snapshot
            if state != OPEN or opened_at is None or now < opened_at + reset_timeout:
                return False
            self.snapshot = (HALF_OPEN, opened_at)
            self._taken = self._done = self._tfailures = self._tslow = 0
            return True

    def take_trial(self, limit: int, lease: float) -> bool:
        """Take one of the ``limit`` trials of this half-open spell (in all, not at a
        time: a trial's slot is given back only if it ends without an outcome)."""
        with self._lock:
            if self.snapshot[0] != HALF_OPEN or self._taken >= limit:
                return False
            self._taken += 1
            return True

    def release_trial(self) -> None:
        """A trial ended without an outcome (cancelled): its slot is free again."""
        with self._lock:
            if self.snapshot[0] == HALF_OPEN:
                self._taken = max(0, self._taken - 1)

    def trial(self, code: int, now: float) -> State | None:
        """Count a trial's outcome; the state it moved the circuit to, if it did."""
        with self._lock:
            if self.snapshot[0] != HALF_OPEN:
                return None
            self._done += 1
            self._tfailures += code & FAILED
            self._tslow += (code & SLOW) >> 1
            verdict = self.shape.verdict(self._done, self._tfailures, self._tslow)
            if verdict == OPEN:
                self.opened_with = (self._done, self._tfailures, self._tslow)
                self.snapshot = (OPEN, now)
            elif verdict == CLOSED:
                self.snapshot = (CLOSED, None)
                self._empty()
            return verdict

    def listen(self, changed: Callable[[State, State, float], None]) -> None:
        """Nothing changes out of :meth:`record`'s sight here."""

    def force(self, state: State, now: float) -> None:
        with self._lock:
            self.snapshot = (state, None if state == CLOSED else now)
            self._empty()
            self._taken = self._done = self._tfailures = self._tslow = 0
