"""Where breaker state lives beyond one process: Redis, through pybreaker's storage.

``RedisStorage(url=..., namespace=...)`` makes, for each policy, a storage that keeps the
circuit in Redis through pybreaker's ``CircuitRedisStorage`` (keys
``<namespace>:<policy>:pybreaker:*``) and admits half-open trial calls fleet-wide through
leases (``<namespace>:<policy>:trial:<slot>``, ``SET NX PX``), so every worker sees one
circuit.

Redis trouble never fails a call. When Redis can't be reached (at start, or killed mid-run),
the storage logs ``breaker.storage_unavailable`` (URL masked) and carries on with an
in-process breaker, starting closed; it tries Redis again at most every
``reconnect_interval`` seconds, and logs ``breaker.storage_restored`` when it is back.
Every policy of a process using equal ``RedisStorage`` values shares one client and one
verdict on Redis' health, so an outage costs one timeout, and one probe per interval.
Building a policy never talks to Redis; its first call does.

pybreaker's storage would swallow and log Redis errors itself, so the client it is given
turns them into :class:`_Down`, which it lets through to us.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

import pybreaker

from resilience import events
from resilience._validate import check_seconds

__all__ = ["RedisStorage", "mask_url"]

T = TypeVar("T")

# scheme://user:SECRET@host — the secret runs to the last "@" of the URL (passwords may hold "@")
_USERINFO = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^\s]*(?=@)", re.I)
_QUERY = re.compile(r"(?P<head>[?&]password=)[^&#\s]*", re.I)

#: Take the first free trial slot: KEYS are the slots, ARGV the owner token and the lease (ms).
_ACQUIRE = """
for _, key in ipairs(KEYS) do
  if redis.call('SET', key, ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
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


def mask_url(url: str) -> str:
    """``redis://user:secret@host/0`` -> ``redis://user:***@host/0``: never log a password.

    Also masks a ``password=`` query parameter, and URLs inside a longer text (an error
    message, say).
    """
    masked = _USERINFO.sub(r"\g<head>***", url)
    return _QUERY.sub(r"\g<head>***", masked)


@dataclass(frozen=True, slots=True, kw_only=True)
class RedisStorage:
    """Breaker state in Redis, shared by every process using the same namespace.

    Args:
        url: ``redis://[user:password@]host:port/db`` (``rediss://`` for TLS).
        namespace: Prefix of the keys; each policy's circuit lives under
            ``<namespace>:<policy name>``.
        reconnect_interval: After Redis failed, seconds (or a ``timedelta``) to wait before
            trying it again; meanwhile calls use an in-process breaker.
        timeout: Seconds a Redis command (or connecting) may take before Redis counts as
            unreachable.

    Raises:
        TypeError, ValueError: an argument is malformed; the message (never showing the
            password) says what is allowed.
    """

    url: str
    namespace: str = "resilience"
    reconnect_interval: float = 5.0
    timeout: float = 0.5

    def __post_init__(self) -> None:
        if not isinstance(self.url, str) or "://" not in self.url:
            shown = mask_url(self.url) if isinstance(self.url, str) else repr(self.url)
            if isinstance(self.url, str) and "@" in shown and "***" not in shown:
                shown = "<a string with no scheme>"
            msg = f"RedisStorage.url must be a redis:// URL (got {shown!r})"
            raise ValueError(msg)
        if not isinstance(self.namespace, str) or not self.namespace:
            msg = f"RedisStorage.namespace must be a non-empty string (got {self.namespace!r})"
            raise ValueError(msg)
        interval = check_seconds(self.reconnect_interval, "RedisStorage.reconnect_interval")
        timeout = check_seconds(self.timeout, "RedisStorage.timeout", allow_zero=False)
        object.__setattr__(self, "reconnect_interval", interval)
        object.__setattr__(self, "timeout", timeout)

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

    def create(self, name: str) -> pybreaker.CircuitBreakerStorage:
        """The storage of the circuit of the policy called ``name`` (Redis, or in-process
        while Redis is unreachable)."""
        return _FleetStorage(self.link(), name, f"{self.namespace}:{name}")

    def link(self) -> _Link:
        """This process's client of this Redis, with its failover bookkeeping (one for
        every equal ``RedisStorage``)."""
        with _links_lock:
            found = _links.get(self)
            if found is None:
                found = _links[self] = _Link(self)
            return found

    def client(self) -> Any:
        """A new redis-py client: short timeouts, no retries of its own (we fail over)."""
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
            msg = f"RedisStorage.url {mask_url(self.url)!r} is malformed: {self.scrub(str(exc))}"
            raise ValueError(msg) from None


class _Down(Exception):
    """Redis failed. Not a ``RedisError``, so pybreaker's storage lets it through."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(type(error).__name__)
        self.error = error


def redis_errors() -> tuple[type[BaseException], ...]:
    """What a failing Redis raises: redis-py's errors and the socket's own."""
    import redis  # noqa: PLC0415 - optional dependency

    return (redis.RedisError, OSError)


class _Client:
    """The redis client handed to pybreaker: its errors become :class:`_Down`."""

    __slots__ = ("_errors", "_redis")

    def __init__(self, client: Any) -> None:
        self._redis = client
        self._errors = redis_errors()

    def _call(self, method: str, *args: Any) -> Any:
        try:
            return getattr(self._redis, method)(*args)
        except self._errors as exc:
            raise _Down(exc) from None

    def get(self, key: str) -> Any:
        return self._call("get", key)

    def mget(self, *keys: str) -> Any:
        return self._call("mget", *keys)

    def set(self, key: str, value: Any) -> Any:
        return self._call("set", key, value)

    def setnx(self, key: str, value: Any) -> Any:
        return self._call("setnx", key, value)

    def incr(self, key: str) -> Any:
        return self._call("incr", key)

    def transaction(self, func: Callable[..., Any], *keys: str) -> Any:
        return self._call("transaction", func, *keys)


class _Link:
    """One Redis client and whether it may be used now: after a failure, Redis is left
    alone for ``reconnect_interval`` seconds (``time.monotonic``), then tried again.
    ``generation`` counts outages, so each user starts a fresh in-process state per outage."""

    __slots__ = ("_lock", "_retry_at", "client", "generation", "spec", "up")

    def __init__(self, spec: RedisStorage) -> None:
        self.spec = spec
        self.client = spec.client()
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
        """Whether using the storage now would talk to Redis (peeks, claims nothing)."""
        return bool(self.up) or time.monotonic() >= self._retry_at

    def failed(self, error: BaseException, policy: str, component: str) -> None:
        """Redis failed (noticed by ``component`` of ``policy``): every user goes on in
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


_links: dict[RedisStorage, _Link] = {}
_links_lock = threading.Lock()

#: Seconds a failure counter read along with the state may stand in for reading it again.
_SEEN_FOR = 1.0


class _FleetStorage(pybreaker.CircuitBreakerStorage):
    """A circuit's state in Redis (pybreaker's ``CircuitRedisStorage``), or in this process
    while Redis is unreachable; plus fleet-wide leases for half-open trial calls."""

    def __init__(self, link: _Link, policy: str, namespace: str) -> None:
        super().__init__("redis")
        self._link = link
        self._policy = policy
        self._namespace = namespace
        self._remote: pybreaker.CircuitRedisStorage | None = None
        self._local = pybreaker.CircuitMemoryStorage(pybreaker.STATE_CLOSED)
        self._generation = link.generation
        self._token = uuid.uuid4().hex
        self._errors = redis_errors()
        self._client = _Client(link.client)
        self._acquire = link.client.register_script(_ACQUIRE)
        self._release = link.client.register_script(_RELEASE)
        self._local_trials = 0
        self._remote_trials = 0
        # pybreaker's CircuitBreaker reads the state once when built; we never use that
        # reading, so it comes from memory: building a policy never waits on Redis.
        self._quiet_reads = 1
        base = pybreaker.CircuitRedisStorage.BASE_NAMESPACE
        self._state_keys = (f"{namespace}:{base}:state", f"{namespace}:{base}:fail_counter")
        self._seen = threading.local()  # the failure counter read along with the state

    def __repr__(self) -> str:
        return f"<breaker storage {self._namespace!r} at {mask_url(self._link.spec.url)}>"

    # -- which side ---------------------------------------------------------------------------

    def _pick(self) -> pybreaker.CircuitRedisStorage | None:
        """Redis' storage when it may be used now, else ``None`` (use the local one)."""
        link = self._link
        if link.up and self._remote is not None:
            return self._remote
        if not link.due():
            return None
        try:
            if self._remote is None:
                # Its constructor initializes the keys: that doubles as the probe.
                client: Any = self._client
                self._remote = pybreaker.CircuitRedisStorage(
                    pybreaker.STATE_CLOSED, client, namespace=self._namespace
                )
            else:
                link.client.ping()
        except _Down as exc:
            self._lost(exc.error)
            return None
        except self._errors as exc:
            self._lost(exc)
            return None
        link.restored(self._policy, "breaker")
        return self._remote

    def _lost(self, error: BaseException) -> None:
        self._link.failed(error, self._policy, "breaker")

    def _fallback(self) -> pybreaker.CircuitMemoryStorage:
        """The in-process state: a fresh one (closed, counting from zero) per outage."""
        generation = self._link.generation
        if self._generation != generation:
            self._local = pybreaker.CircuitMemoryStorage(pybreaker.STATE_CLOSED)
            self._local_trials = 0
            self._generation = generation
        return self._local

    def _do(self, op: Callable[[pybreaker.CircuitBreakerStorage], T]) -> T:
        remote = self._pick()
        if remote is not None:
            try:
                return op(remote)
            except _Down as exc:
                self._lost(exc.error)
        return op(self._fallback())

    def needs_io(self) -> bool:
        """Whether the next operation would talk to Redis."""
        return self._link.pending()

    # -- pybreaker's storage interface ------------------------------------------------------

    @property
    def state(self) -> str:
        if self._quiet_reads:
            self._quiet_reads = 0
            return str(self._local.state)
        remote = self._pick()
        if remote is not None:
            try:
                # One round trip for both: a successful call then needs no second read of
                # the counter (see ``counter``).
                state, counter = self._client.mget(*self._state_keys)
                if state is None:  # Redis lost it (restarted): pybreaker initializes it again
                    return str(remote.state)
                self._seen.counter = (int(counter or 0), time.monotonic())
                return str(state.decode())
            except _Down as exc:
                self._lost(exc.error)
        return str(self._fallback().state)

    @state.setter
    def state(self, state: str) -> None:
        def store(storage: pybreaker.CircuitBreakerStorage) -> None:
            storage.state = state

        self._do(store)
        local = self._fallback()
        if state == pybreaker.STATE_OPEN and self._link.up is False and local.opened_at is None:
            # Opened half in Redis, half here: start the open time now.
            local.opened_at = datetime.now(UTC)

    def increment_counter(self) -> None:
        self._seen.counter = None
        self._do(lambda storage: storage.increment_counter())

    def reset_counter(self) -> None:
        self._seen.counter = None
        self._do(lambda storage: storage.reset_counter())

    def increment_success_counter(self) -> None:
        self._do(lambda storage: storage.increment_success_counter())

    def reset_success_counter(self) -> None:
        self._do(lambda storage: storage.reset_success_counter())

    @property
    def counter(self) -> int:
        # The value read with the state by this thread's last ``enter``, if no write came
        # since and it is under a second old: what a successful call checks before resetting
        # the run of failures. Failures counted meanwhile were concurrent with that call;
        # whichever order is as true as the other.
        seen = getattr(self._seen, "counter", None)
        if seen is not None:
            self._seen.counter = None
            if time.monotonic() - seen[1] < _SEEN_FOR and self._link.up:
                return int(seen[0])
        remote = self._pick()
        if remote is not None:
            try:
                return int(remote.counter)
            except _Down as exc:
                self._lost(exc.error)
        return int(self._fallback().counter)

    @property
    def success_counter(self) -> int:
        return int(self._do(lambda storage: storage.success_counter))

    @property
    def opened_at(self) -> datetime | None:
        value: datetime | None = self._do(lambda storage: storage.opened_at)
        return value

    @opened_at.setter
    def opened_at(self, now: datetime) -> None:
        def store(storage: pybreaker.CircuitBreakerStorage) -> None:
            storage.opened_at = now

        self._do(store)

    # -- half-open trials, fleet-wide ---------------------------------------------------------

    def _slots(self, limit: int) -> list[str]:
        return [f"{self._namespace}:trial:{slot}" for slot in range(limit)]

    def take_trial(self, limit: int, lease: float) -> bool:
        """Take one of ``limit`` trial slots; a slot taken in Redis is leased for ``lease``
        seconds, so a worker that dies in a trial can't block the circuit for ever."""
        if self._pick() is not None:
            try:
                taken = self._acquire(
                    keys=self._slots(limit), args=[self._token, max(1, int(lease * 1000))]
                )
            except self._errors as exc:
                self._lost(exc)
            else:
                if taken:
                    self._remote_trials += 1
                return bool(taken)
        self._fallback()
        if self._local_trials >= limit:
            return False
        self._local_trials += 1
        return True

    def release_trial(self, limit: int) -> None:
        """Give back a trial slot taken by :meth:`take_trial`."""
        if self._remote_trials > 0:
            self._remote_trials -= 1
            if self._pick() is not None:
                try:
                    self._release(keys=self._slots(limit), args=[self._token])
                except self._errors as exc:
                    self._lost(exc)  # the lease runs out by itself
            return
        self._local_trials = max(0, self._local_trials - 1)
