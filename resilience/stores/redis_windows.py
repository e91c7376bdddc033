"""A failure-rate breaker's circuit and window shared by a fleet in Redis.

Beside the keys of :mod:`resilience.stores.redis` (same hash tag ``{<namespace>:<policy>}``,
same client and failover through its :class:`~resilience.stores.redis.Link`): the hash
``{ns:policy}:rate`` (``state``, ``opened_at``, a count window's totals ``calls``,
``failures``, ``slow``, the half-open trials' ``t_done``, ``t_fail``, ``t_slow``), the
window ``{ns:policy}:rate:calls`` (count-based: a list of batches ``calls:failures:slow``,
oldest first; time-based: a hash of ``c:<bucket>``, ``f:<bucket>``, ``s:<bucket>`` with
buckets numbered by wall-clock time, so every process's calls of one second add up), and the
trial leases ``{ns:policy}:rate:trial:<slot>``. Each change is one Lua script.

A healthy call costs no round trip: outcomes are added up in process and sent, as one batch,
by a helper thread at most every ``FLUSH_EVERY`` seconds while calls come, and at once after
a failure. The same script adds the batch, slides the window, decides whether the circuit
opens, and answers with the state, which each process keeps: a circuit opened by the fleet
refuses this process's calls after its next flush (within ``FLUSH_EVERY`` while it is
called). Half-open trials are taken and counted in Redis, on the caller's path (they are
rare). A count-based window then holds the fleet's last N calls batch by batch: where a batch
straddles the window's edge, its failures are trimmed in proportion.

Redis trouble never fails a call: as the consecutive store does, the circuit carries on in
this process (fresh, closed) while Redis is away, and joins the fleet's again when it answers.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from resilience._clock import wall
from resilience.stores.base import CLOSED, HALF_OPEN, OPEN, State
from resilience.stores.redis import background, mask_url
from resilience.stores.windows import FAILED, SLOW, MemoryWindowStore, Shape

if TYPE_CHECKING:
    from resilience.stores.redis import RedisStorage

__all__ = ["FLUSH_EVERY", "RedisWindowStore"]

#: Seconds between two flushes of a process's outcomes while calls come.
FLUSH_EVERY: Final = 0.1

#: The real ``time.monotonic``: flushes follow real time, also under freezegun.
_MONOTONIC = time.monotonic

_RECORD = """
local h, data = KEYS[1], KEYS[2]
local size, minc = tonumber(ARGV[2]), tonumber(ARGV[3])
local frate, srate = tonumber(ARGV[4]), tonumber(ARGV[5])
local now, bucket, ttl = ARGV[6], tonumber(ARGV[7]), ARGV[8]
local state = redis.call('HGET', h, 'state') or 'closed'
if state ~= 'closed' then
  return {state, redis.call('HGET', h, 'opened_at') or '', 0, 0, 0, 0}
end
local calls, fails, slow = 0, 0, 0
if ARGV[1] == '1' then
  for i = 9, #ARGV, 4 do
    if tonumber(ARGV[i]) > bucket - size then
      redis.call('HINCRBY', data, 'c:' .. ARGV[i], ARGV[i + 1])
      redis.call('HINCRBY', data, 'f:' .. ARGV[i], ARGV[i + 2])
      redis.call('HINCRBY', data, 's:' .. ARGV[i], ARGV[i + 3])
    end
  end
  local fields = redis.call('HGETALL', data)
  for i = 1, #fields, 2 do
    local kind, b = string.match(fields[i], '^(%a):(%-?%d+)$')
    b = tonumber(b)
    if b == nil or b <= bucket - size then
      redis.call('HDEL', data, fields[i])
    elseif kind == 'c' then calls = calls + tonumber(fields[i + 1])
    elseif kind == 'f' then fails = fails + tonumber(fields[i + 1])
    else slow = slow + tonumber(fields[i + 1]) end
  end
  if #fields > 0 then redis.call('PEXPIRE', data, ttl) end
else
  local totals = redis.call('HMGET', h, 'calls', 'failures', 'slow')
  calls, fails, slow = tonumber(totals[1] or 0), tonumber(totals[2] or 0), tonumber(totals[3] or 0)
  local c = tonumber(ARGV[9] or 0)
  if c > 0 then
    local f, s = tonumber(ARGV[10]), tonumber(ARGV[11])
    if redis.call('EXISTS', data) == 0 then  -- none yet, or evicted: the totals restart too
      calls, fails, slow = 0, 0, 0
    end
    redis.call('RPUSH', data, c .. ':' .. f .. ':' .. s)
    calls, fails, slow = calls + c, fails + f, slow + s
    while calls > size do
      local hc, hf, hs = string.match(redis.call('LINDEX', data, 0), '^(%d+):(%d+):(%d+)$')
      hc, hf, hs = tonumber(hc), tonumber(hf), tonumber(hs)
      local excess = calls - size
      if hc <= excess then
        redis.call('LPOP', data)
        calls, fails, slow = calls - hc, fails - hf, slow - hs
      else
        local df = math.floor(hf * excess / hc + 0.5)
        local ds = math.floor(hs * excess / hc + 0.5)
        redis.call('LSET', data, 0, (hc - excess) .. ':' .. (hf - df) .. ':' .. (hs - ds))
        calls, fails, slow = calls - excess, fails - df, slow - ds
      end
    end
    redis.call('HSET', h, 'calls', calls, 'failures', fails, 'slow', slow)
  end
end
if calls > 0 and calls >= minc and (fails >= frate * calls - 1e-9
    or (srate >= 0 and slow >= srate * calls - 1e-9)) then
  redis.call('HSET', h, 'state', 'open', 'opened_at', now, 'calls', 0, 'failures', 0, 'slow', 0)
  redis.call('DEL', data)
  return {'open', now, 1, calls, fails, slow}
end
return {'closed', '', 0, calls, fails, slow}
"""
#: KEYS[1] the hash, then the trial leases. ARGV: now, reset_timeout.
_HALF_OPEN = """
local state, opened = unpack(redis.call('HMGET', KEYS[1], 'state', 'opened_at'))
if state ~= 'open' or not opened then return 0 end
if tonumber(ARGV[1]) < tonumber(opened) + tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'state', 'half-open', 't_done', 0, 't_fail', 0, 't_slow', 0)
for i = 2, #KEYS do redis.call('DEL', KEYS[i]) end
return 1
"""
#: One of the trials of this half-open spell (in all): ARGV the owner token, the lease (ms).
_TAKE = """
if redis.call('HGET', KEYS[1], 'state') ~= 'half-open' then return 0 end
local used = tonumber(redis.call('HGET', KEYS[1], 't_done') or 0)
local free = nil
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then used = used + 1
  elseif not free then free = KEYS[i] end
end
if used >= #KEYS - 1 or not free then return 0 end
redis.call('SET', free, ARGV[1], 'PX', ARGV[2])
return 1
"""
_RELEASE = """
for i = 2, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then return redis.call('DEL', KEYS[i]) end
end
return 0
"""
#: A trial's outcome. ARGV: token, failed, slow, trials, failure rate, slow rate, now.
_TRIAL = """
for i = 2, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then redis.call('DEL', KEYS[i]) break end
end
if redis.call('HGET', KEYS[1], 'state') ~= 'half-open' then return {'', 0, 0, 0} end
local done = redis.call('HINCRBY', KEYS[1], 't_done', 1)
local f = redis.call('HINCRBY', KEYS[1], 't_fail', ARGV[2])
local s = redis.call('HINCRBY', KEYS[1], 't_slow', ARGV[3])
local n, fr, sr = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local function over(ff, ss)
  return ff >= fr * n - 1e-9 or (sr >= 0 and ss >= sr * n - 1e-9)
end
if over(f, s) then
  redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', ARGV[7])
  for i = 2, #KEYS do redis.call('DEL', KEYS[i]) end
  return {'open', done, f, s}
end
if not over(f + n - done, s + n - done) then
  redis.call('HSET', KEYS[1], 'state', 'closed', 'calls', 0, 'failures', 0, 'slow', 0)
  redis.call('HDEL', KEYS[1], 'opened_at')
  return {'closed', done, f, s}
end
return {'', done, f, s}
"""
_FORCE = """
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'calls', 0, 'failures', 0, 'slow', 0,
  't_done', 0, 't_fail', 0, 't_slow', 0)
if ARGV[1] == 'closed' then redis.call('HDEL', KEYS[1], 'opened_at')
else redis.call('HSET', KEYS[1], 'opened_at', ARGV[2]) end
redis.call('DEL', KEYS[2])
return 1
"""


def _text(value: object) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else str(value)


def _state(value: object) -> State:
    text = _text(value)
    return OPEN if text == OPEN else HALF_OPEN if text == HALF_OPEN else CLOSED


class RedisWindowStore:
    """A failure-rate breaker's circuit in Redis, or in this process while Redis is away."""

    __slots__ = (
        "_changed",
        "_data",
        "_flush_lock",
        "_key",
        "_link",
        "_local",
        "_local_generation",
        "_lock",
        "_pending",
        "_policy",
        "_queued",
        "_reset",
        "_scripts",
        "_slots",
        "_synced",
        "_token",
        "_window",
        "opened_with",
        "shape",
        "state",
    )

    clean = False  # every outcome is added to the batch

    def __init__(self, storage: RedisStorage, policy: str, shape: Shape, reset: float) -> None:
        self.shape = shape
        self._link = storage.link()
        self._policy = policy
        tag = storage.tag(policy)
        self._key = f"{tag}:rate"
        self._data = f"{tag}:rate:calls"
        self._slots = [f"{tag}:rate:trial:{slot}" for slot in range(shape.trials)]
        self._reset = reset
        self._token = uuid.uuid4().hex
        self._local = MemoryWindowStore(shape)
        self._local_generation = self._link.generation
        register = self._link.register_script  # the client is made at the first call
        self._scripts = {
            name: register(source)
            for name, source in (
                ("record", _RECORD),
                ("half_open", _HALF_OPEN),
                ("take", _TAKE),
                ("release", _RELEASE),
                ("trial", _TRIAL),
                ("force", _FORCE),
            )
        }
        self.state: tuple[State, float | None] = (CLOSED, None)
        self.opened_with = (0, 0, 0)
        self._window = (0, 0, 0)
        self._pending: dict[int, list[int]] = {}  # bucket (0 for a count window) -> c, f, s
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._synced = -math.inf  # never: the first look at the state asks Redis
        self._queued = False
        self._changed: Callable[[State, State, float], None] | None = None

    def __repr__(self) -> str:
        return f"<window store {self._key!r} at {mask_url(self._link.spec.url)}>"

    # -- which side ---------------------------------------------------------------------------

    def _away(self) -> bool:
        """Whether Redis is to be left alone now (the local circuit stands in)."""
        link = self._link
        return link.up is False and not link.pending()

    def _fallback(self) -> MemoryWindowStore:
        generation = self._link.generation
        if self._local_generation != generation:
            self._local = MemoryWindowStore(self.shape)
            self._local_generation = generation
        return self._local

    def _run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        """Run a script if Redis may be used now; ``None`` when it can't."""
        script = self._scripts[name]
        _, result = self._link.run(
            lambda client: script(keys=keys, args=args), self._policy, "breaker"
        )
        return result

    @property
    def remote(self) -> bool:
        """Whether the next operation may block on the network: never while closed (after
        the first look), nor while open before ``reset_timeout``."""
        if self._away():
            return False
        if self._synced == -math.inf:
            return True
        state, opened_at = self.state
        if state == CLOSED:
            return False
        return not (state == OPEN and opened_at is not None and wall() < opened_at + self._reset)

    # -- closed: batches ----------------------------------------------------------------------

    @property
    def snapshot(self) -> tuple[State, float | None]:
        if self._away():
            return self._fallback().snapshot
        if self._synced == -math.inf:
            self.flush()
            if self._away():
                return self._fallback().snapshot
        elif _MONOTONIC() - self._synced >= FLUSH_EVERY:
            self._queue()
        return self.state

    def record(self, code: int, now: float) -> bool:
        if self._away():
            return self._fallback().record(code, now)
        if self.state[0] != CLOSED:
            return False
        shape = self.shape
        bucket = shape.bucket(now) if shape.timed else 0
        failed = code & FAILED
        with self._lock:
            counts = self._pending.get(bucket)
            if counts is None:
                counts = self._pending[bucket] = [0, 0, 0]
            counts[0] += 1
            counts[1] += failed
            counts[2] += (code & SLOW) >> 1
        if failed or _MONOTONIC() - self._synced >= FLUSH_EVERY:
            self._queue()
        return False

    def _queue(self) -> None:
        """Have the helper thread flush soon (once, however many ask)."""
        with self._lock:
            if self._queued:
                return
            self._queued = True
        background(self._flush_queued)

    def _flush_queued(self) -> None:
        with self._lock:
            self._queued = False
        self.flush()

    def flush(self) -> None:
        """Send the outcomes counted here to Redis, and learn the fleet's state."""
        with self._flush_lock:
            with self._lock:
                pending, self._pending = self._pending, {}
            now = wall()
            shape = self.shape
            args: list[Any] = [
                1 if shape.timed else 0,
                shape.size,
                shape.min_calls,
                repr(shape.failure_rate),
                repr(shape.slow_rate if shape.slow_rate is not None else -1.0),
                repr(now),
                shape.bucket(now) if shape.timed else 0,
                max(1, int(shape.size * shape.width * 2000)),
            ]
            for bucket, (calls, failures, slow) in pending.items():
                args += [bucket, calls, failures, slow] if shape.timed else [calls, failures, slow]
            found = self._run("record", [self._key, self._data], args)
            if found is None:
                return  # Redis is away: this batch is lost, the local circuit takes over
            self._synced = _MONOTONIC()
            state = _state(found[0])
            opened_at = float(_text(found[1])) if _text(found[1]) else None
            old = self.state[0]
            self.state = (state, opened_at)
            counts = (int(found[3]), int(found[4]), int(found[5]))
            if state == CLOSED:
                self._window = counts
            if int(found[2]):  # this batch opened the circuit
                self.opened_with = counts
                self._window = (0, 0, 0)
                if self._changed is not None and old == CLOSED:
                    self._changed(CLOSED, OPEN, now)

    def window(self, now: float) -> tuple[int, int, int]:
        if self._away():
            return self._fallback().window(now)
        self.flush()
        if self._away():
            return self._fallback().window(now)
        return self._window if self.state[0] == CLOSED else (0, 0, 0)

    # -- half-open: in Redis, on the caller's path --------------------------------------------

    def half_open(self, now: float, reset_timeout: float) -> bool:
        found = self._run("half_open", [self._key, *self._slots], [repr(now), repr(reset_timeout)])
        if found is None:
            return self._fallback().half_open(now, reset_timeout)
        if found:
            self.state = (HALF_OPEN, self.state[1])
        return bool(found)

    def take_trial(self, limit: int, lease: float) -> bool:
        args = [self._token, max(1, int(lease * 1000))]
        found = self._run("take", [self._key, *self._slots], args)
        if found is None:
            return self._fallback().take_trial(limit, lease)
        if not found:
            self.flush()  # the state moved on meanwhile: learn it
        return bool(found)

    def release_trial(self) -> None:
        if self._run("release", [self._key, *self._slots], [self._token]) is None:
            self._fallback().release_trial()

    def trial(self, code: int, now: float) -> State | None:
        shape = self.shape
        args = [
            self._token,
            code & FAILED,
            (code & SLOW) >> 1,
            shape.trials,
            repr(shape.failure_rate),
            repr(shape.slow_rate if shape.slow_rate is not None else -1.0),
            repr(now),
        ]
        found = self._run("trial", [self._key, *self._slots], args)
        if found is None:
            return self._fallback().trial(code, now)
        moved = _text(found[0])
        if moved == OPEN:
            self.opened_with = (int(found[1]), int(found[2]), int(found[3]))
            self.state = (OPEN, now)
            return OPEN
        if moved == CLOSED:
            self.state = (CLOSED, None)
            self._window = (0, 0, 0)
            return CLOSED
        return None

    def force(self, state: State, now: float) -> None:
        with self._lock:
            self._pending = {}
        if self._run("force", [self._key, self._data], [state, repr(now)]) is None:
            self._fallback().force(state, now)
            return
        self.state = (state, None if state == CLOSED else now)
        self._window = (0, 0, 0)
        self._synced = _MONOTONIC()

    def listen(self, changed: Callable[[State, State, float], None]) -> None:
        self._changed = changed
