"""A token bucket in this process, kept as one number: GCRA, the "virtual scheduling" form.

A bucket of ``burst`` tokens refilled at ``rate`` a second is the same limit as the generic
cell rate algorithm with an emission interval ``T = 1 / rate`` and a tolerance
``tau = burst * T``: the state is the theoretical arrival time ``tat`` of the next call, a
call at ``now`` may go at once when ``max(tat, now) + T - tau <= now``, and otherwise after
waiting for the difference. One float and one comparison per call, under a lock; the Redis
store (:mod:`resilience.stores.redis_limits`) runs the same arithmetic in a script.
"""

from __future__ import annotations

import threading
import time

__all__ = ["TokenBucket"]

_monotonic = time.monotonic  # a module attribute: freezegun replaces it too


class TokenBucket:
    """``burst`` calls at once, then ``rate`` a second, in this process. Thread-safe.

    Times are ``time.monotonic()`` (freezegun moves it).
    """

    __slots__ = ("_lock", "_slack", "_tat", "interval", "tolerance")

    remote = False

    def __init__(self, rate: float, burst: int) -> None:
        self.interval = 1.0 / rate
        self.tolerance = burst * self.interval
        self._slack = self.tolerance - self.interval  # how far ahead of now tat may run
        self._tat = 0.0
        self._lock = threading.Lock()

    def take(self, max_wait: float) -> float:
        """Take a token for a call that may wait up to ``max_wait`` seconds for it.

        Returns:
            The seconds to wait before the call (``0.0``: at once), the token taken; or,
            when the wait would be longer than ``max_wait``, minus that wait, nothing
            taken.
        """
        lock = self._lock
        lock.acquire()  # not `with`: on every call, and acquire/release cost half as much
        try:
            now = _monotonic()
            tat = self._tat
            if tat < now:  # noqa: PLR1730 - on every call: cheaper than calling max()
                tat = now
            wait = tat - now - self._slack
            if wait <= 0.0:
                self._tat = tat + self.interval
                return 0.0
            if wait > max_wait:
                return -wait
            self._tat = tat + self.interval
            return wait
        finally:
            lock.release()
