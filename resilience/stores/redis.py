"""State shared by a fleet in Redis: breakers and retry budgets.

``RedisStorage(url=..., namespace=...)`` makes, for each policy, a breaker store and a budget
store in Redis. Every key of one policy shares the hash tag ``{<namespace>:<policy>}``:
the circuit is the hash ``{ns:policy}:breaker`` (``state``, ``failures``, ``opened_at``,
``successes``), its half-open trial slots are leases ``{ns:policy}:trial:<slot>``
(``SET NX PX``), the budget is the hash ``{ns:policy}:budget``. Each change is one Lua script,
so it is atomic for the whole fleet and, the keys sharing a slot, works on Redis Cluster.

Redis trouble never fails a call. When Redis can't be reached (at start, or killed mid-run),
the store logs ``storage.unavailable`` (URL masked) and carries on in process, starting
closed; it tries Redis again at most every ``reconnect_interval`` seconds and logs
``storage.restored`` when it is back. Every policy of a process using equal ``RedisStorage``
values shares one client and one verdict on Redis' health (a :class:`Link`), so an outage
costs one timeout, and one probe per interval. Building a policy never talks to Redis.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote, urlsplit

from resilience._spec import SpecValueError, check_fields, checked
from resilience.observe import events
from resilience.stores.base import CLOSED, BreakerStore, BudgetStore, State
from resilience.stores.memory import BUCKETS, MemoryBreakerStore, MemoryBudgetStore

__all__ = ["Link", "RedisStorage", "mask_url", "redis_errors"]

T = TypeVar("T")

# scheme://user:SECRET@host: the secret runs to the last "@" of the URL (passwords may hold "@")
_USERINFO = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^\s]*(?=@)", re.I)
_QUERY = re.compile(r"(?P<head>[?&]password=)[^&#\s]*", re.I)

#: Seconds a failure count read along with the state may stand in for reading it again.
_SEEN_FOR = 1.0

# --- the circuit's scripts: KEYS[1] is the breaker hash ---------------------------------------

_FAIL = """
local state = redis.call('HGET', KEYS[1], 'state')
if state and state ~= 'closed' then return 0 end
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
if failures < tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', ARGV[2])
return 1
"""
_CLEAR = """
local state = redis.call('HGET', KEYS[1], 'state')
if state and state ~= 'closed' then return 0 end
redis.call('HSET', KEYS[1], 'failures', 0)
return 1
"""
_HALF_OPEN = """
local state, opened = unpack(redis.call('HMGET', KEYS[1], 'state', 'opened_at'))
if state ~= 'open' or not opened then return 0 end
if tonumber(ARGV[1]) < tonumber(opened) + tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'state', 'half-open', 'successes', 0)
return 1
"""
_TRIAL_SUCCEEDED = """
if redis.call('HGET', KEYS[1], 'state') ~= 'half-open' then return 0 end
local successes = redis.call('HINCRBY', KEYS[1], 'successes', 1)
if successes < tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'state', 'closed', 'failures', 0, 'successes', 0)
redis.call('HDEL', KEYS[1], 'opened_at')
return 1
"""
_TRIAL_FAILED = """
if redis.call('HGET', KEYS[1], 'state') ~= 'half-open' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', ARGV[1])
return 1
"""
_FORCE = """
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'failures', 0, 'successes', 0)
if ARGV[1] == 'closed' then redis.call('HDEL', KEYS[1], 'opened_at')
else redis.call('HSET', KEYS[1], 'opened_at', ARGV[2]) end
return 1
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

# --- the budget's scripts: KEYS[1] is the budget hash (fields c:<bucket>, r:<bucket>) ---------

#: Add the calls counted since the last decision, then spend one retry if the window allows.
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
#: Add calls counted in process. ARGV: ttl (ms), bucket/calls pairs.
_ADD = """
for i = 2, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[1], 'c:' .. ARGV[i], ARGV[i + 1])
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"""


def mask_url(url: str) -> str:
    """``redis://user:secret@host/0`` -> ``redis://user:***@host/0``: never log a password.

    Also masks a ``password=`` query parameter, and URLs inside a longer text (an error
    message, say).
    """
    masked = _USERINFO.sub(r"\g<head>***", url)
    return _QUERY.sub(r"\g<head>***", masked)


def redis_errors() -> tuple[type[BaseException], ...]:
    """What a failing Redis raises: redis-py's errors and the socket's own."""
    import redis  # noqa: PLC0415 - optional dependency

    return (redis.RedisError, OSError)


@dataclass(frozen=True, slots=True, kw_only=True)
class RedisStorage:
    """Breaker and budget state in Redis, shared by every process using the same namespace.

    Args:
        url: ``redis://[user:password@]host:port/db`` (``rediss://`` for TLS).
        namespace: Prefix of the keys; each policy's state lives under
            ``{<namespace>:<policy name>}``.
        reconnect_interval: After Redis failed, seconds (or a ``timedelta``) to wait before
            trying it again; meanwhile calls use in-process state.
        timeout: Seconds a Redis command (or connecting) may take before Redis counts as
            unreachable.

    Raises:
        TypeError, ValueError: an argument is malformed; the message (never showing the
            password) says what is allowed.
    """

    url: str = field(
        metadata=checked("other", "redis://[user:password@]host:port/db (rediss:// for TLS).")
    )
    namespace: str = field(
        default="resilience",
        metadata=checked("text", "Key prefix; each policy's state lives under {namespace:policy}."),
    )
    reconnect_interval: float = field(
        default=5.0,
        metadata=checked(
            "seconds",
            "After Redis failed, seconds before trying it again; meanwhile each process uses "
            "in-process state.",
            minimum=0,
        ),
    )
    timeout: float = field(
        default=0.5,
        metadata=checked(
            "seconds",
            "Seconds a Redis command (or connecting) may take before Redis counts as unreachable.",
            minimum=0,
            exclusive=True,
        ),
    )

    if TYPE_CHECKING:  # what the constructor accepts: durations as seconds or timedelta

        def __init__(
            self,
            *,
            url: str,
            namespace: str = ...,
            reconnect_interval: float | timedelta = ...,
            timeout: float | timedelta = ...,
        ) -> None: ...

    def __post_init__(self) -> None:
        if not isinstance(self.url, str) or "://" not in self.url:
            shown = mask_url(self.url) if isinstance(self.url, str) else repr(self.url)
            if isinstance(self.url, str) and "@" in shown and "***" not in shown:
                shown = "<a string with no scheme>"
            raise SpecValueError("RedisStorage", "url", f"must be a redis:// URL (got {shown!r})")
        check_fields(self)

    def __repr__(self) -> str:
        return f"RedisStorage(url={mask_url(self.url)!r}, namespace={self.namespace!r})"

    def scrub(self, text: str) -> str:
        """``text`` with this storage's URL masked and its password nowhere."""
        text = mask_url(text)
        try:
            password = urlsplit(self.url).password
        except ValueError:
            password = None
        for secret in {password, unquote(password or "")}:
            if secret:
                text = text.replace(secret, "***")
        return text

    def tag(self, policy: str) -> str:
        """The hash tag every key of ``policy`` starts with."""
        return f"{{{self.namespace}:{policy}}}"

    def breaker_store(self, policy: str) -> BreakerStore:
        """The circuit of the policy called ``policy`` (in process while Redis is away)."""
        return RedisBreakerStore(self.link(), policy, self.tag(policy))

    def budget_store(self, policy: str, ratio: float, reserve: float, window: float) -> BudgetStore:
        """The retry budget of the policy called ``policy``, shared by the fleet."""
        return RedisBudgetStore(self.link(), policy, self.tag(policy), ratio, reserve, window)

    def link(self) -> Link:
        """This process's client of this Redis, with its failover bookkeeping (one for
        every equal ``RedisStorage``)."""
        with _links_lock:
            found = _links.get(self)
            if found is None:
                found = _links[self] = Link(self)
            return found

    def client(self) -> Any:
        """A new redis-py client: short timeouts, no retries of its own (we fail over).

        Raises:
            ImportError: redis-py is not installed.
            ValueError: the URL is malformed (the message never shows the password).
        """
        try:
            import redis  # noqa: PLC0415 - optional dependency, only needed with Redis storage
            from redis.backoff import NoBackoff  # noqa: PLC0415
            from redis.retry import Retry  # noqa: PLC0415
        except ImportError as exc:  # pragma: no cover - the test extra installs redis
            msg = "RedisStorage needs the redis package: pip install 'resilience[redis]'"
            raise ImportError(msg) from exc
        try:
            return redis.Redis.from_url(
                self.url,
                socket_timeout=self.timeout,
                socket_connect_timeout=self.timeout,
                retry=Retry(NoBackoff(), 0),
            )
        except (ValueError, TypeError) as exc:
            detail = f"{mask_url(self.url)!r} is malformed: {self.scrub(str(exc))}"
            raise SpecValueError("RedisStorage", "url", detail) from None


class Link:
    """One Redis client and whether it may be used now: after a failure, Redis is left
    alone for ``reconnect_interval`` seconds (``time.monotonic``), then tried again.
    ``generation`` counts outages, so each store starts fresh in-process state per outage."""

    __slots__ = ("_lock", "_retry_at", "client", "errors", "generation", "spec", "up")

    def __init__(self, spec: RedisStorage) -> None:
        self.spec = spec
        self.client = spec.client()
        self.errors = redis_errors()
        self.up: bool | None = None  # None: not tried yet
        self.generation = 0
        self._retry_at = 0.0
        self._lock = threading.Lock()

    def due(self) -> bool:
        """Whether Redis may be tried now; claims the attempt (one thread at a time)."""
        if self.up:
            return True
        now = time.monotonic()
        if now < self._retry_at:
            return False
        with self._lock:
            if now < self._retry_at:
                return False
            self._retry_at = now + self.spec.reconnect_interval
        return True

    def pending(self) -> bool:
        """Whether using a store now would talk to Redis (peeks, claims nothing)."""
        return bool(self.up) or time.monotonic() >= self._retry_at

    def failed(self, error: BaseException, policy: str, component: str) -> None:
        """Redis failed (noticed by ``component`` of ``policy``): every store goes on in
        process for ``reconnect_interval`` seconds."""
        with self._lock:
            self._retry_at = time.monotonic() + self.spec.reconnect_interval
            if self.up is False:
                return
            self.up = False
            self.generation += 1
        events.storage_unavailable(
            policy,
            component,
            mask_url(self.spec.url),
            type(error).__name__,
            self.spec.scrub(str(error)),
            self.spec.reconnect_interval,
        )

    def restored(self, policy: str, component: str) -> None:
        """Redis answered again."""
        if self.up is False:
            events.storage_restored(policy, component, mask_url(self.spec.url))
        self.up = True


_links: dict[RedisStorage, Link] = {}
_links_lock = threading.Lock()


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisBreakerStore:
    """A circuit in Redis, or in this process while Redis is unreachable."""

    __slots__ = (
        "_acquire",
        "_key",
        "_link",
        "_local",
        "_local_generation",
        "_policy",
        "_release",
        "_remote_trials",
        "_scripts",
        "_seen",
        "_slots",
        "_tag",
        "_token",
    )

    def __init__(self, link: Link, policy: str, tag: str) -> None:
        self._link = link
        self._policy = policy
        self._tag = tag
        self._key = f"{tag}:breaker"
        self._local = MemoryBreakerStore()
        self._local_generation = link.generation
        self._token = uuid.uuid4().hex
        self._remote_trials = 0
        self._slots: list[str] = []
        register = link.client.register_script
        self._scripts = {
            name: register(source)
            for name, source in (
                ("fail", _FAIL),
                ("clear", _CLEAR),
                ("half_open", _HALF_OPEN),
                ("trial_succeeded", _TRIAL_SUCCEEDED),
                ("trial_failed", _TRIAL_FAILED),
                ("force", _FORCE),
            )
        }
        self._acquire = register(_ACQUIRE)
        self._release = register(_RELEASE)
        self._seen = threading.local()  # the failure count read along with the state

    def __repr__(self) -> str:
        return f"<breaker store {self._key!r} at {mask_url(self._link.spec.url)}>"

    @property
    def remote(self) -> bool:
        return self._link.pending()

    # -- which side ---------------------------------------------------------------------------

    def _fallback(self) -> MemoryBreakerStore:
        """The in-process state: a fresh one (closed, counting from zero) per outage."""
        generation = self._link.generation
        if self._local_generation != generation:
            self._local = MemoryBreakerStore()
            self._local_generation = generation
        return self._local

    def _redis(self, op: Callable[[], T]) -> tuple[bool, T | None]:
        """Run ``op`` against Redis if it may be used now: (whether it ran, its result)."""
        link = self._link
        if not link.due():
            return False, None
        try:
            result = op()
        except link.errors as exc:
            link.failed(exc, self._policy, "breaker")
            return False, None
        link.restored(self._policy, "breaker")
        return True, result

    def _script(self, name: str, *args: object) -> bool | None:
        ran, result = self._redis(lambda: self._scripts[name](keys=[self._key], args=list(args)))
        return bool(result) if ran else None

    # -- the protocol -------------------------------------------------------------------------

    @property
    def snapshot(self) -> tuple[State, float | None]:
        ran, found = self._redis(
            lambda: self._link.client.hmget(self._key, "state", "opened_at", "failures")
        )
        if not ran or found is None:
            return self._fallback().snapshot
        state, opened_at, failures = (_text(value) for value in found)
        self._seen.failures = (int(failures or 0), time.monotonic())
        if state is None or state == CLOSED:
            return CLOSED, None
        shown: State = "open" if state == "open" else "half-open"
        return shown, float(opened_at) if opened_at is not None else None

    @property
    def failures(self) -> int:
        # The count read with the state by this thread's last snapshot, if under a second
        # old: what a successful call checks before ending the run of failures. Failures
        # counted meanwhile were concurrent with that call; either order is as true.
        seen = getattr(self._seen, "failures", None)
        if seen is not None:
            self._seen.failures = None
            if time.monotonic() - seen[1] < _SEEN_FOR and self._link.up:
                return int(seen[0])
        ran, found = self._redis(lambda: self._link.client.hget(self._key, "failures"))
        if ran:
            return int(_text(found) or 0)
        return self._fallback().failures

    def fail(self, fail_max: int, now: float) -> bool:
        self._seen.failures = None
        result = self._script("fail", fail_max, repr(now))
        return self._fallback().fail(fail_max, now) if result is None else result

    def clear(self) -> None:
        self._seen.failures = None
        if self._script("clear") is None:
            self._fallback().clear()

    def half_open(self, now: float, reset_timeout: float) -> bool:
        result = self._script("half_open", repr(now), repr(reset_timeout))
        return self._fallback().half_open(now, reset_timeout) if result is None else result

    def _trial_keys(self, limit: int) -> list[str]:
        if len(self._slots) != limit:
            self._slots = [f"{self._tag}:trial:{slot}" for slot in range(limit)]
        return self._slots

    def take_trial(self, limit: int, lease: float) -> bool:
        """Take one of ``limit`` trial slots; a slot taken in Redis is leased for ``lease``
        seconds, so a worker that dies in a trial can't block the circuit for ever."""
        keys = [self._key, *self._trial_keys(limit)]
        ran, taken = self._redis(
            lambda: self._acquire(keys=keys, args=[self._token, max(1, int(lease * 1000))])
        )
        if ran:
            if taken:
                self._remote_trials += 1
            return bool(taken)
        return self._fallback().take_trial(limit, lease)

    def release_trial(self) -> None:
        if self._remote_trials > 0:
            self._remote_trials -= 1
            keys = self._slots
            self._redis(lambda: self._release(keys=keys, args=[self._token]))
            return  # if Redis is away, the lease runs out by itself
        self._fallback().release_trial()

    def trial_succeeded(self, needed: int) -> bool:
        result = self._script("trial_succeeded", needed)
        return self._fallback().trial_succeeded(needed) if result is None else result

    def trial_failed(self, now: float) -> bool:
        result = self._script("trial_failed", repr(now))
        return self._fallback().trial_failed(now) if result is None else result

    def force(self, state: State, now: float) -> None:
        if self._script("force", state, repr(now)) is None:
            self._fallback().force(state, now)


# --- budgets ---------------------------------------------------------------------------------

#: Sends shared budgets' call counts to Redis, off every caller's path.
_flusher: Any = None
_flusher_lock = threading.Lock()


def _background(task: Callable[[], None]) -> None:
    global _flusher  # noqa: PLW0603 - one helper thread per process, made on first use
    with _flusher_lock:
        if _flusher is None:
            from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415 - on first use

            _flusher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="resilience-budget")
        _flusher.submit(task)


class RedisBudgetStore(MemoryBudgetStore):
    """A budget shared in Redis; this process's own counts decide while Redis is away.

    Calls are counted in process, and sent to Redis by a helper thread each time a bucket
    fills (so never on a caller's path) and along with each retry decision (one script, one
    round trip).
    """

    __slots__ = ("_add", "_decide", "_flushed", "_flushed_epochs", "_key", "_link", "_policy")

    def __init__(
        self, link: Link, policy: str, tag: str, ratio: float, reserve: float, window: float
    ) -> None:
        super().__init__(ratio, reserve, window)
        self._link = link
        self._policy = policy
        self._key = f"{tag}:budget"
        # Calls of each slot already added in Redis, valid for the bucket it was counted in.
        self._flushed = [0] * BUCKETS
        self._flushed_epochs = [-1] * BUCKETS
        self._decide = link.client.register_script(_DECIDE)
        self._add = link.client.register_script(_ADD)

    @property
    def remote(self) -> bool:  # type: ignore[override]
        return self._link.pending()

    def _roll(self, slot: int, epoch: int) -> None:
        super()._roll(slot, epoch)
        _background(self.flush)

    def _pending(self, epoch: int) -> tuple[list[int], list[tuple[int, int, int]]]:
        """Calls not yet in Redis: (bucket, count) pairs flat, and what to mark flushed."""
        pending: list[int] = []
        sent: list[tuple[int, int, int]] = []
        oldest = epoch - BUCKETS
        for i in range(BUCKETS):
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
        return int(self.window * 2000)

    def flush(self) -> None:
        """Send the calls counted here since the last time to Redis (when it is up)."""
        with self._lock:
            epoch = int(time.time() * self._per_second)
            pending, sent = self._pending(epoch)
            if not pending or not self._link.due():
                return
            try:
                self._add(keys=[self._key], args=[self._ttl(), *pending])
            except self._link.errors as exc:
                self._link.failed(exc, self._policy, "budget")
            else:
                self._link.restored(self._policy, "budget")
                self._sent(sent)

    def try_retry(self) -> bool:
        with self._lock:
            epoch, slot = self._now()
            if self._link.due():
                pending, sent = self._pending(epoch)
                args = [epoch, BUCKETS, self.ratio, self.reserve, self._ttl(), *pending]
                try:
                    allowed = self._decide(keys=[self._key], args=args)
                except self._link.errors as exc:
                    self._link.failed(exc, self._policy, "budget")
                else:
                    self._link.restored(self._policy, "budget")
                    self._sent(sent)
                    if allowed:
                        self._retries[slot] += 1
                    return bool(allowed)
            if not self._allows(epoch):
                return False
            self._retries[slot] += 1
            return True
