"""Retry budgets: retries may only take a share of recent calls, so an outage isn't multiplied.

``Budget(ratio=0.1, min_per_second=1.0, window=10.0)`` lets a policy retry while the retries
of the last ``window`` seconds stay under ``ratio`` times the calls of that window, plus a
small reserve (``min_per_second * window``) so that a quiet policy can still retry at all.
This is Finagle's ``RetryBudget`` (a percentage of requests over a TTL, with a minimum per
second) and the ratio Envoy's retry budgets keep; it is not botocore's retry quota, a bucket
of 500 tokens that successes refill: that one lets a fixed burst through whatever the
traffic, then nothing until calls succeed again, whereas a ratio adapts to traffic, bounds
an outage's extra load to ``ratio`` however long it lasts, and adds up across a fleet (every
worker held to 10 % of its own calls holds the fleet to 10 % of its calls).

The window is ten buckets of ``window / 10`` seconds (wall clock, so freezegun moves it).
Counting a call is a few list operations without a lock (under heavy thread contention a
count may be lost, which only makes the budget a little stricter); deciding a retry takes a
lock, on the failure path only. Only retryable failures spend the budget: queue-related
retries wait on the client's own queue, not on the remote side.

With ``storage=RedisStorage(...)`` the budget is shared in Redis under
``<namespace>:<policy>:budget``: calls are still counted in process, and sent to Redis by a
helper thread each time a bucket fills (so never on a caller's path, sync or async) and along
with each retry decision (one Lua script, one round trip). The reserve is then the fleet's,
not each process's. When Redis is unreachable the budget decides on this process's own
counts (the event is ``breaker.storage_unavailable``: it is the breakers' storage).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from resilience._validate import check_number, check_seconds
from resilience.storage import redis_errors

if TYPE_CHECKING:
    from resilience.storage import RedisStorage, _Link

__all__ = ["Budget", "BudgetState"]

_BUCKETS = 10
_EPSILON = 1e-9

#: Add the calls counted since the last decision, then spend one retry if the window allows.
#: KEYS[1]: the budget hash (fields c:<bucket> calls, r:<bucket> retries).
#: ARGV: now (bucket number), buckets, ratio, reserve, ttl (ms), then bucket/calls pairs.
_DECIDE = """
local now, buckets = tonumber(ARGV[1]), tonumber(ARGV[2])
local ratio, reserve = tonumber(ARGV[3]), tonumber(ARGV[4])
for i = 6, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[1], 'c:' .. ARGV[i], ARGV[i + 1])
end
local calls, retries = 0, 0
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  local kind, bucket = string.match(fields[i], '^(%a):(%-?%d+)$')
  bucket = tonumber(bucket)
  if bucket == nil or bucket <= now - buckets then
    redis.call('HDEL', KEYS[1], fields[i])
  elseif kind == 'c' then
    calls = calls + tonumber(fields[i + 1])
  else
    retries = retries + tonumber(fields[i + 1])
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
if retries + 1 > ratio * calls + reserve + 1e-9 then return 0 end
redis.call('HINCRBY', KEYS[1], 'r:' .. now, 1)
return 1
"""


#: Add calls counted in process. KEYS[1]: the budget hash; ARGV: ttl (ms), bucket/calls pairs.
_ADD = """
for i = 2, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[1], 'c:' .. ARGV[i], ARGV[i + 1])
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class Budget:
    """How many retries a policy may make: a share of its recent calls.

    Args:
        ratio: Retries allowed per call over the window, from 0 to 1 (``0.1``: at most one
            retry for ten calls).
        min_per_second: Retries per second allowed whatever the traffic, so that a policy
            called rarely may still retry (``min_per_second * window`` per window).
        window: Seconds (or a ``timedelta``) of history the ratio is taken over.
        storage: ``None`` counts in this process; a ``RedisStorage`` shares the budget with
            every process using the same namespace and policy name.

    Raises:
        TypeError: an argument has the wrong type.
        ValueError: an argument is out of range; the message says what is allowed.
    """

    ratio: float = 0.1
    min_per_second: float = 1.0
    window: float = 10.0
    storage: RedisStorage | None = None

    def __post_init__(self) -> None:
        ratio = check_number(self.ratio, "Budget.ratio")
        if not 0.0 <= ratio <= 1.0:
            msg = f"Budget.ratio must be from 0 to 1, a share of calls (got {self.ratio!r})"
            raise ValueError(msg)
        minimum = check_number(self.min_per_second, "Budget.min_per_second")
        if minimum < 0:
            msg = f"Budget.min_per_second must be >= 0 (got {self.min_per_second!r})"
            raise ValueError(msg)
        window = check_seconds(self.window, "Budget.window", allow_zero=False)
        from resilience.storage import RedisStorage  # noqa: PLC0415 - storage imports us lazily

        if self.storage is not None and not isinstance(self.storage, RedisStorage):
            msg = (
                "Budget.storage must be None (this process) or a RedisStorage "
                f"(got {self.storage!r})"
            )
            raise TypeError(msg)
        object.__setattr__(self, "ratio", ratio)
        object.__setattr__(self, "min_per_second", minimum)
        object.__setattr__(self, "window", window)

    def replace(self, **changes: Any) -> Budget:
        """A copy with some fields changed (and checked again)."""
        return replace(self, **changes)

    def build(self, policy: str) -> BudgetState:
        """The live budget of the policy called ``policy``."""
        if self.storage is None:
            return BudgetState(self, policy)
        return _SharedBudgetState(self, policy, self.storage.link())


class BudgetState:
    """The calls and retries of one policy over the last window, in this process."""

    __slots__ = (
        "_calls",
        "_epochs",
        "_lock",
        "_per_second",
        "_reserve",
        "_retries",
        "policy",
        "spec",
    )

    remote = False

    def __init__(self, spec: Budget, policy: str) -> None:
        self.spec = spec
        self.policy = policy
        self._per_second = _BUCKETS / spec.window
        self._reserve = spec.min_per_second * spec.window
        self._epochs = [-1] * _BUCKETS
        self._calls = [0] * _BUCKETS
        self._retries = [0] * _BUCKETS
        self._lock = threading.Lock()

    def request(self) -> None:
        """Count one call (its first attempt). Lock-free: this is on every call's path."""
        epoch = int(time.time() * self._per_second)
        slot = epoch % _BUCKETS
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
        slot = epoch % _BUCKETS
        if self._epochs[slot] != epoch:
            self._roll(slot, epoch)
        return epoch, slot

    def _allows(self, epoch: int) -> bool:
        calls = retries = 0
        oldest = epoch - _BUCKETS
        for slot in range(_BUCKETS):
            if self._epochs[slot] > oldest:
                calls += self._calls[slot]
                retries += self._retries[slot]
        return retries + 1 <= self.spec.ratio * calls + self._reserve + _EPSILON

    def try_retry(self) -> bool:
        """Spend one retry if the window allows it; ``False`` when the budget is exhausted."""
        with self._lock:
            epoch, slot = self._now()
            if not self._allows(epoch):
                return False
            self._retries[slot] += 1
            return True

    def needs_io(self) -> bool:
        """Whether deciding a retry would block on the network."""
        return False


#: Sends shared budgets' call counts to Redis, off every caller's path.
_flusher: ThreadPoolExecutor | None = None
_flusher_lock = threading.Lock()


def _background(task: Any) -> None:
    global _flusher  # noqa: PLW0603 - one helper thread per process, made on first use
    with _flusher_lock:
        if _flusher is None:
            _flusher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="resilience-budget")
        _flusher.submit(task)


class _SharedBudgetState(BudgetState):
    """A budget shared in Redis; this process's own counts decide while Redis is away."""

    __slots__ = ("_add", "_decide", "_errors", "_flushed", "_flushed_epochs", "_key", "_link")

    remote = True

    def __init__(self, spec: Budget, policy: str, link: _Link) -> None:
        super().__init__(spec, policy)
        assert spec.storage is not None
        self._link = link
        self._key = f"{spec.storage.namespace}:{policy}:budget"
        # Calls of each slot already added in Redis, valid for the bucket it was counted in.
        self._flushed = [0] * _BUCKETS
        self._flushed_epochs = [-1] * _BUCKETS
        self._decide = link.client.register_script(_DECIDE)
        self._add = link.client.register_script(_ADD)
        self._errors = redis_errors()

    def needs_io(self) -> bool:
        return self._link.pending()

    def _roll(self, slot: int, epoch: int) -> None:
        super()._roll(slot, epoch)
        _background(self.flush)

    def _pending(self, epoch: int) -> tuple[list[int], list[tuple[int, int, int]]]:
        """Calls not yet in Redis: (bucket, count) pairs flat, and what to mark flushed."""
        pending: list[int] = []
        sent: list[tuple[int, int, int]] = []
        oldest = epoch - _BUCKETS
        for i in range(_BUCKETS):
            bucket = self._epochs[i]
            if bucket > oldest:
                done = self._flushed[i] if self._flushed_epochs[i] == bucket else 0
                if self._calls[i] > done:
                    pending += (bucket, self._calls[i] - done)
                    sent.append((i, bucket, self._calls[i]))
        return pending, sent

    def _sent(self, sent: list[tuple[int, int, int]]) -> None:
        for i, bucket, calls in sent:
            self._flushed[i] = calls
            self._flushed_epochs[i] = bucket

    def _ttl(self) -> int:
        return int(self.spec.window * 2000)

    def flush(self) -> None:
        """Send the calls counted here since the last time to Redis (when it is up)."""
        with self._lock:
            epoch = int(time.time() * self._per_second)
            pending, sent = self._pending(epoch)
            if not pending or not self._link.due():
                return
            try:
                self._add(keys=[self._key], args=[self._ttl(), *pending])
            except self._errors as exc:
                self._link.failed(exc, self.policy, "budget")
            else:
                self._link.restored(self.policy, "budget")
                self._sent(sent)

    def try_retry(self) -> bool:
        with self._lock:
            epoch, slot = self._now()
            if self._link.due():
                pending, sent = self._pending(epoch)
                args = [epoch, _BUCKETS, self.spec.ratio, self._reserve, self._ttl(), *pending]
                try:
                    allowed = self._decide(keys=[self._key], args=args)
                except self._errors as exc:
                    self._link.failed(exc, self.policy, "budget")
                else:
                    self._link.restored(self.policy, "budget")
                    self._sent(sent)
                    if allowed:
                        self._retries[slot] += 1
                    return bool(allowed)
            if not self._allows(epoch):
                return False
            self._retries[slot] += 1
            return True
