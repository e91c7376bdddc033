"""A rate limit shared by a fleet in Redis: the token bucket of :mod:`.buckets`, in a script.

The bucket of a policy is one key, ``{<namespace>:<policy>}:rate``, holding its theoretical
arrival time (GCRA, see :mod:`resilience.stores.buckets`), in Redis' own clock (``TIME``),
so the processes' clocks need not agree. Taking a token is one script, atomic for the whole
fleet; the key shares the policy's hash tag, so it lives in the slot of its breaker and
budget on a Redis Cluster. The key expires once the bucket is full again.

Each call the limit admits costs one round trip: a shared limit is exact or it is not shared.
While Redis is unreachable each process limits itself with a bucket of its own at the full
rate (so the fleet may let through up to once per process the rate), and logs
``storage.unavailable`` once through the :class:`~resilience.stores.redis.Link` every store
of that Redis shares; no call fails because of Redis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from resilience.stores.buckets import TokenBucket

if TYPE_CHECKING:
    from resilience.stores.redis import Link, RedisStorage

__all__ = ["RedisRateStore", "rate_store"]

#: KEYS[1] the bucket; ARGV the interval, the tolerance and the longest wait (seconds).
#: Returns {1, wait} with the token taken, or {0, wait} refused; waits as strings (a Lua
#: number would reach the client truncated to an integer).
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval, tolerance = tonumber(ARGV[1]), tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local wait = tat + interval - tolerance - now
if wait > tonumber(ARGV[3]) then return {0, tostring(wait)} end
local ttl = math.ceil((tat + interval - now) * 1000) + 1
redis.call('SET', KEYS[1], tostring(tat + interval), 'PX', ttl)
if wait < 0 then wait = 0 end
return {1, tostring(wait)}
"""


def rate_store(storage: RedisStorage, policy: str, rate: float, burst: int) -> RedisRateStore:
    """The shared bucket of the policy called ``policy`` (``rate`` calls a second)."""
    return RedisRateStore(storage.link(), policy, storage.tag(policy), rate, burst)


class RedisRateStore:
    """A token bucket in Redis, or in this process while Redis is unreachable."""

    __slots__ = ("_key", "_link", "_local", "_policy", "_script", "interval", "tolerance")

    def __init__(self, link: Link, policy: str, tag: str, rate: float, burst: int) -> None:
        self._link = link
        self._policy = policy
        self._key = f"{tag}:rate"
        self._local = TokenBucket(rate, burst)
        self.interval = self._local.interval
        self.tolerance = self._local.tolerance
        self._script = link.register_script(_TAKE)  # the client is made at the first call

    def __repr__(self) -> str:
        return f"<rate store {self._key!r}>"

    @property
    def remote(self) -> bool:
        """Whether taking a token now would talk to Redis."""
        return self._link.pending()

    def take(self, max_wait: float) -> float:
        """As :meth:`TokenBucket.take`, for the whole fleet."""
        args = [repr(self.interval), repr(self.tolerance), repr(max_wait)]
        ran, answer = self._link.run(
            lambda client: self._script(keys=[self._key], args=args), self._policy, "rate_limit"
        )
        if ran and answer is not None:
            taken, wait = answer
            seconds = float(wait)
            return seconds if taken else -max(seconds, 1e-9)
        return self._local.take(max_wait)
