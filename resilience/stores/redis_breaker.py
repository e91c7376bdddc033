"""A circuit in Redis, mirrored in each process: healthy calls send nothing to Redis.

The circuit is the hash ``{ns:policy}:breaker`` (``state``, ``failures``, ``opened_at``,
``successes``, and ``v``, bumped by every change); its half-open trial slots are leases
``{ns:policy}:trial:<slot>`` (``SET NX PX``). Each change is one Lua script, atomic for the
whole fleet, working on Redis Cluster (the keys share a hash tag); a script that changes the
hash publishes the new state on the namespace's channel and returns it, so the process that
wrote and every process that listens update their mirror (:mod:`.redis_watch`) without
another round trip.

Reads (the state before each call, the failure count after a success) come from the mirror
while it is current; otherwise from Redis (one ``HMGET``), or, while Redis is down, from a
fresh in-process circuit per outage.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from resilience.stores.base import CLOSED, State
from resilience.stores.memory import MemoryBreakerStore
from resilience.stores.redis_watch import FIELDS, Values, decode

if TYPE_CHECKING:
    from resilience.stores.redis import Link

__all__ = ["RedisBreakerStore"]

#: Shared by every script that changes the hash: ``done(result, changed)`` publishes the new
#: state on ARGV[1] if ``changed`` and returns ``{result, state, opened_at, failures, v}``.
_DONE = """
local function done(result, changed)
  local s = redis.call('HMGET', KEYS[1], 'state', 'opened_at', 'failures', 'v')
  local v = s[4] or 0
  if changed then
    v = redis.call('HINCRBY', KEYS[1], 'v', 1)
    redis.call('PUBLISH', ARGV[1],
      cjson.encode({KEYS[1], s[1] or '', s[2] or '', s[3] or '0', v}))
  end
  return {result, s[1] or '', s[2] or '', s[3] or '0', v}
end
"""
_FAIL = """
local state = redis.call('HGET', KEYS[1], 'state')
if state and state ~= 'closed' then return done(0, false) end
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
if failures < tonumber(ARGV[2]) then return done(0, true) end
redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', ARGV[3])
return done(1, true)
"""
_CLEAR = """
local state, failures = unpack(redis.call('HMGET', KEYS[1], 'state', 'failures'))
if (state and state ~= 'closed') or not failures or failures == '0' then
  return done(0, false)
end
redis.call('HSET', KEYS[1], 'failures', 0)
return done(1, true)
"""
_HALF_OPEN = """
local state, opened = unpack(redis.call('HMGET', KEYS[1], 'state', 'opened_at'))
if state ~= 'open' or not opened then return done(0, false) end
if tonumber(ARGV[2]) < tonumber(opened) + tonumber(ARGV[3]) then return done(0, false) end
redis.call('HSET', KEYS[1], 'state', 'half-open', 'successes', 0)
return done(1, true)
"""
_TRIAL_SUCCEEDED = """
if redis.call('HGET', KEYS[1], 'state') ~= 'half-open' then return done(0, false) end
local successes = redis.call('HINCRBY', KEYS[1], 'successes', 1)
if successes < tonumber(ARGV[2]) then return done(0, false) end
redis.call('HSET', KEYS[1], 'state', 'closed', 'failures', 0, 'successes', 0)
redis.call('HDEL', KEYS[1], 'opened_at')
return done(1, true)
"""
_TRIAL_FAILED = """
if redis.call('HGET', KEYS[1], 'state') ~= 'half-open' then return done(0, false) end
redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', ARGV[2])
return done(1, true)
"""
_FORCE = """
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'failures', 0, 'successes', 0)
if ARGV[2] == 'closed' then redis.call('HDEL', KEYS[1], 'opened_at')
else redis.call('HSET', KEYS[1], 'opened_at', ARGV[3]) end
return done(1, true)
"""
#: Take the first free trial slot while half-open: KEYS[1] the breaker hash, then the slots;
#: ARGV the owner token and the lease (ms).
_ACQUIRE = """
if redis.call('HGET', KEYS[1], 'state') ~= 'half-open' then return 0 end
for i = 2, #KEYS do
  if redis.call('SET', KEYS[i], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
end
return 0
"""
#: Give back one slot held by this owner (a lease that expired meanwhile is left alone).
_RELEASE = """
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then return redis.call('DEL', key) end
end
return 0
"""
_CHANGES = {
    "fail": _FAIL,
    "clear": _CLEAR,
    "half_open": _HALF_OPEN,
    "trial_succeeded": _TRIAL_SUCCEEDED,
    "trial_failed": _TRIAL_FAILED,
    "force": _FORCE,
}


class RedisBreakerStore:
    """A circuit in Redis, read from this process's mirror, or in this process while Redis
    is unreachable."""

    __slots__ = (
        "_acquire",
        "_channel",
        "_key",
        "_link",
        "_local",
        "_local_generation",
        "_mirror",
        "_policy",
        "_release",
        "_remote_trials",
        "_scripts",
        "_slots",
        "_token",
        "_watch",
    )

    def __init__(self, link: Link, policy: str) -> None:
        spec = link.spec
        self._link = link
        self._policy = policy
        self._key = spec.key(policy, "breaker")
        self._channel = spec.channel
        self._watch = link.watch
        self._mirror = link.watch.mirror(self._key, policy)
        self._local = MemoryBreakerStore()
        self._local_generation = link.generation
        self._token = uuid.uuid4().hex
        self._remote_trials = 0
        self._slots: list[str] = []
        self._scripts = {name: link.script(_DONE + source) for name, source in _CHANGES.items()}
        self._acquire = link.script(_ACQUIRE)
        self._release = link.script(_RELEASE)

    #: Answers from this process's mirror while ``remote`` is false (no network then).
    mirrored = True

    def __repr__(self) -> str:
        return f"<breaker store {self._key!r} at {self._link.shown}>"

    @property
    def remote(self) -> bool:
        """Whether admitting or recording a success may block on the network: not while the
        mirror is current and the circuit closed with no failures (the healthy path)."""
        mirror = self._mirror
        if mirror.epoch == self._watch.epoch and not mirror.failures:
            return mirror.snapshot[0] != CLOSED and self._link.pending()
        return self._link.pending()

    @property
    def remote_failure(self) -> bool:
        """Whether recording a failure may block on the network (it is written)."""
        return self._link.pending()

    # -- which side ---------------------------------------------------------------------------

    def _fallback(self) -> MemoryBreakerStore:
        """The in-process state: a fresh one (closed, counting from zero) per outage."""
        generation = self._link.generation
        if self._local_generation != generation:
            self._local = MemoryBreakerStore()
            self._local_generation = generation
        return self._local

    def _read(self) -> Values | None:
        """The circuit as Redis has it now (and into the mirror); ``None`` if Redis can't
        be used."""
        watch = self._watch
        watch.start()
        epoch, stamp = watch.current(), self._mirror.stamp
        ran, found = self._link.run(
            lambda client: client.hmget(self._key, *FIELDS), self._policy, "breaker"
        )
        if not ran:
            return None
        values = decode(found)
        watch.apply(self._mirror, values, epoch, stamp)
        return values

    def _change(self, name: str, *args: object) -> bool | None:
        """Run a script that changes the circuit: its verdict (``None``: Redis can't be
        used)."""
        watch = self._watch
        epoch = watch.current()
        script = self._scripts[name]
        keys, argv = [self._key], [self._channel, *args]
        ran, reply = self._link.run(
            lambda client: script(client, keys, argv), self._policy, "breaker"
        )
        if not ran or reply is None:
            return None
        result, *fields = reply
        watch.apply(self._mirror, decode(fields), epoch)
        return bool(result)

    # -- the protocol -------------------------------------------------------------------------

    @property
    def snapshot(self) -> tuple[State, float | None]:
        mirror = self._mirror
        if mirror.epoch == self._watch.epoch:
            return mirror.snapshot
        values = self._read()
        return self._fallback().snapshot if values is None else values[0]

    @property
    def failures(self) -> int:
        mirror = self._mirror
        if mirror.epoch == self._watch.epoch:
            return mirror.failures
        values = self._read()
        return self._fallback().failures if values is None else values[1]

    def fail(self, fail_max: int, now: float) -> bool:
        result = self._change("fail", fail_max, repr(now))
        return self._fallback().fail(fail_max, now) if result is None else result

    def clear(self) -> None:
        if self._change("clear") is None:
            self._fallback().clear()

    def half_open(self, now: float, reset_timeout: float) -> bool:
        result = self._change("half_open", repr(now), repr(reset_timeout))
        return self._fallback().half_open(now, reset_timeout) if result is None else result

    def _trial_keys(self, limit: int) -> list[str]:
        if len(self._slots) != limit:
            self._slots = [self._link.spec.key(self._policy, f"trial:{n}") for n in range(limit)]
        return self._slots

    def take_trial(self, limit: int, lease: float) -> bool:
        """Take one of ``limit`` trial slots; a slot taken in Redis is leased for ``lease``
        seconds, so a worker that dies in a trial can't block the circuit for ever."""
        keys = [self._key, *self._trial_keys(limit)]
        argv: list[Any] = [self._token, max(1, int(lease * 1000))]
        ran, taken = self._link.run(
            lambda client: self._acquire(client, keys, argv), self._policy, "breaker"
        )
        if ran:
            if taken:
                self._remote_trials += 1
            return bool(taken)
        return self._fallback().take_trial(limit, lease)

    def release_trial(self) -> None:
        if self._remote_trials > 0:
            self._remote_trials -= 1
            keys, argv = self._slots, [self._token]
            self._link.run(
                lambda client: self._release(client, keys, argv), self._policy, "breaker"
            )
            return  # if Redis is away, the lease runs out by itself
        self._fallback().release_trial()

    def trial_succeeded(self, needed: int) -> bool:
        result = self._change("trial_succeeded", needed)
        return self._fallback().trial_succeeded(needed) if result is None else result

    def trial_failed(self, now: float) -> bool:
        result = self._change("trial_failed", repr(now))
        return self._fallback().trial_failed(now) if result is None else result

    def force(self, state: State, now: float) -> None:
        if self._change("force", state, repr(now)) is None:
            self._fallback().force(state, now)
