"""State shared by a fleet in Redis: breakers and retry budgets.

``RedisStorage(url=..., namespace=...)`` makes, for each policy, a breaker store
(:mod:`.redis_breaker`) and a budget store in Redis. Every key of one policy shares the hash
tag ``{<namespace>:<policy>}`` (:meth:`RedisStorage.key`), so every multi-key command and
script works on Redis Cluster (``redis+cluster://`` or ``cluster=True``). Each change is one
Lua script, atomic for the whole fleet. Circuits are mirrored in each process and kept
current by pub/sub (:mod:`.redis_watch`): a healthy call sends nothing to Redis.

Redis trouble never fails a call. When Redis can't be reached (at start, or killed mid-run),
the store logs ``storage.unavailable`` (URL masked) and carries on in process, starting
closed; Redis is tried again at most every ``reconnect_interval`` seconds and
``storage.restored`` is logged when it is back. Every policy of a process using equal
``RedisStorage`` values shares one client, one subscription and one verdict on Redis' health
(a :class:`Link`), so an outage costs one timeout, and one probe per interval. Building a
policy never talks to Redis.

The internal API other Redis-backed stores build on: :meth:`RedisStorage.key` (hash-tagged
key names), :meth:`RedisStorage.link` (the process's :class:`Link` for a storage), and on the
link :meth:`Link.script` (a Lua script run by SHA, cluster-routed by its first key),
:meth:`Link.run` (one operation with failover: ``(ran, result)``), ``Link.generation`` (bumped
by each outage) and :meth:`Link.pending`.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

from resilience._spec import SpecValueError, check_fields, checked
from resilience.observe import events
from resilience.stores.base import BreakerStore, BudgetStore
from resilience.stores.memory import BUCKETS, MemoryBudgetStore
from resilience.stores.redis_watch import Watch

__all__ = ["Link", "RedisStorage", "Script", "close_links", "mask_url", "redis_errors"]

T = TypeVar("T")

# scheme://user:SECRET@host: the secret runs to the last "@" of the URL (passwords may hold "@")
_USERINFO = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^\s]*(?=@)", re.I)
_QUERY = re.compile(r"(?P<head>[?&]password=)[^&#\s]*", re.I)
_OWN_QUERY = re.compile(r"(?P<head>[?&]password=)[^&#]*", re.I)  # in a URL we know whole
_CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}

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


def _mask_known(url: str) -> str:
    """``url`` (a storage's own) with its password masked, whatever the password holds:
    its user information ends at the URL's last ``@``."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not sep:
        return mask_url(url)
    if at:
        user, colon, _ = userinfo.partition(":")
        rest = f"{user}{':***' if colon else ''}@{host}"
    return _OWN_QUERY.sub(r"\g<head>***", f"{scheme}://{rest}")


def redis_errors() -> tuple[type[BaseException], ...]:
    """What a failing Redis raises: redis-py's errors (a cluster's too) and the socket's."""
    import redis  # noqa: PLC0415 - optional dependency
    from redis.exceptions import RedisClusterException  # noqa: PLC0415

    return (redis.RedisError, RedisClusterException, OSError)


@dataclass(frozen=True, slots=True, kw_only=True)
class RedisStorage:
    """Breaker and budget state in Redis, shared by every process using the same namespace.

    Args:
        url: ``redis://[user:password@]host:port/db`` (``rediss://`` for TLS);
            ``redis+cluster://host:port`` (or ``rediss+cluster://``) for Redis Cluster, any
            node of it.
        namespace: Prefix of the keys; each policy's state lives under
            ``{<namespace>:<policy name>}``, and changes are announced on the channel
            ``<namespace>:changes``.
        reconnect_interval: After Redis failed, seconds (or a ``timedelta``) to wait before
            trying it again; meanwhile calls use in-process state.
        timeout: Seconds a Redis command (or connecting) may take before Redis counts as
            unreachable: the longest a call waits on Redis.
        cluster: Connect to Redis Cluster (as ``redis+cluster://`` does).
        refresh_interval: Seconds (or a ``timedelta``) between re-reads of every circuit this
            process uses, a safety net under pub/sub.

    Raises:
        TypeError, ValueError: an argument is malformed; the message (never showing the
            password) says what is allowed.
    """

    url: str = field(
        metadata=checked(
            "other",
            "redis://[user:password@]host:port/db (rediss:// for TLS, redis+cluster:// for "
            "Redis Cluster).",
        )
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
    cluster: bool = field(
        default=False,
        metadata=checked("flag", "Connect to Redis Cluster (as a redis+cluster:// URL does)."),
    )
    refresh_interval: float = field(
        default=5.0,
        metadata=checked(
            "seconds",
            "Seconds between re-reads of every circuit a process uses, a safety net under pub/sub.",
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
            cluster: bool = ...,
            refresh_interval: float | timedelta = ...,
        ) -> None: ...

    def __post_init__(self) -> None:
        if not isinstance(self.url, str) or "://" not in self.url:
            shown = mask_url(self.url) if isinstance(self.url, str) else repr(self.url)
            if isinstance(self.url, str) and "@" in shown and "***" not in shown:
                shown = "<a string with no scheme>"
            raise SpecValueError("RedisStorage", "url", f"must be a redis:// URL (got {shown!r})")
        check_fields(self)

    def __repr__(self) -> str:
        cluster = ", cluster=True" if self.cluster else ""
        return f"RedisStorage(url={self.shown!r}, namespace={self.namespace!r}{cluster})"

    @property
    def shown(self) -> str:
        """The URL with its password masked (``redis://user:***@host/0``), as logs show it."""
        return _mask_known(self.url)

    @property
    def clustered(self) -> bool:
        """Whether this is Redis Cluster (``cluster=True`` or a ``+cluster`` scheme)."""
        return self.cluster or self.url.split("://", 1)[0].lower() in _CLUSTER_SCHEMES

    @property
    def channel(self) -> str:
        """The pub/sub channel on which changes of this namespace's circuits are announced."""
        return f"{self.namespace}:changes"

    def scrub(self, text: str) -> str:
        """``text`` with this storage's URL masked and its password nowhere."""
        text = mask_url(text.replace(self.url, self.shown))
        try:
            parts = urlsplit(self.url)
            secrets = [parts.password or "", *parse_qs(parts.query).get("password", [])]
        except ValueError:
            secrets = []
        for secret in {*secrets, *map(unquote, secrets)}:
            if secret:
                text = text.replace(secret, "***")
        return text

    def tag(self, policy: str) -> str:
        """The hash tag every key of ``policy`` starts with."""
        return f"{{{self.namespace}:{policy}}}"

    def key(self, policy: str, suffix: str) -> str:
        """The key ``suffix`` of ``policy`` (``{ns:policy}:suffix``): every key of a policy
        is in one cluster slot, so one script may use them all."""
        return f"{self.tag(policy)}:{suffix}"

    def breaker_store(self, policy: str) -> BreakerStore:
        """The circuit of the policy called ``policy`` (in process while Redis is away)."""
        from resilience.stores.redis_breaker import RedisBreakerStore  # noqa: PLC0415 - cycle

        return RedisBreakerStore(self.link(), policy)

    def budget_store(self, policy: str, ratio: float, reserve: float, window: float) -> BudgetStore:
        """The retry budget of the policy called ``policy``, shared by the fleet."""
        return RedisBudgetStore(self.link(), policy, ratio, reserve, window)

    def link(self) -> Link:
        """This process's client of this Redis, with its failover bookkeeping (one for
        every equal ``RedisStorage``)."""
        with _links_lock:
            found = _links.get(self)
            if found is None:
                self.client(connect=False)  # the URL's form, before anything is kept
                found = _links[self] = Link(self)
            return found

    def client(self, *, connect: bool = True) -> Any:
        """A new redis-py client: short timeouts, no retries of its own (we fail over).

        A cluster client talks to the cluster as it is made (to learn its slots); with
        ``connect=False`` only the URL is checked.

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
        scheme, rest = self.url.split("://", 1)
        url = f"{_CLUSTER_SCHEMES.get(scheme.lower(), scheme)}://{rest}"
        options: dict[str, Any] = {
            "socket_timeout": self.timeout,
            "socket_connect_timeout": self.timeout,
            "retry": Retry(NoBackoff(), 0),
        }
        try:
            if not self.clustered:
                return redis.Redis.from_url(url, **options)
            if not connect:
                return redis.connection.parse_url(url)  # type: ignore[no-untyped-call]
            return redis.RedisCluster.from_url(url, **options)
        except (ValueError, TypeError) as exc:
            detail = f"{self.shown!r} is malformed: {self.scrub(str(exc))}"
            raise SpecValueError("RedisStorage", "url", detail) from None


class Script:
    """A Lua script run by its SHA1 (sent whole the first time a server lacks it). A cluster
    client routes it to the node of its first key."""

    __slots__ = ("_missing", "sha", "source")

    def __init__(self, source: str) -> None:
        from redis.exceptions import NoScriptError  # noqa: PLC0415 - optional dependency

        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()
        self._missing = NoScriptError

    def __call__(self, client: Any, keys: Sequence[str], args: Sequence[Any]) -> Any:
        try:
            return client.evalsha(self.sha, len(keys), *keys, *args)
        except self._missing:
            return client.eval(self.source, len(keys), *keys, *args)


class Link:
    """One Redis client and whether it may be used now: after a failure, Redis is left
    alone for ``reconnect_interval`` seconds, then tried again.

    Once a circuit is in use, its :class:`~resilience.stores.redis_watch.Watch` (a subscriber
    thread) owns the retrying: it notices a lost connection at once, resubscribes every
    ``reconnect_interval`` seconds of real time until Redis answers, and then re-reads every
    circuit before any is trusted again. Before that (budgets only), the first caller past
    ``reconnect_interval`` (``time.monotonic``) tries. ``generation`` counts outages, so each
    store starts fresh in-process state per outage.
    """

    __slots__ = (
        "_client",
        "_lock",
        "_retry_at",
        "_scripts",
        "errors",
        "generation",
        "shown",
        "spec",
        "up",
        "watch",
    )

    def __init__(self, spec: RedisStorage) -> None:
        self.spec = spec
        self.shown = spec.shown
        self.errors = redis_errors()
        self.up: bool | None = None  # None: not tried yet
        self.generation = 0
        self.watch = Watch(self)
        self._client: Any = None
        self._scripts: dict[str, Script] = {}
        self._retry_at = 0.0
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The redis-py client, made on first use (a cluster's talks to it as it is made:
        use it within :meth:`run`)."""
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    self._client = self.spec.client()
                client = self._client
        return client

    def script(self, source: str) -> Script:
        """The script of ``source`` (one object per source and link)."""
        found = self._scripts.get(source)
        if found is None:
            found = self._scripts.setdefault(source, Script(source))
        return found

    def register_script(self, source: str) -> Callable[..., Any]:
        """As redis-py's ``register_script`` (call it with ``keys=`` and ``args=``), on this
        link's client made at the first call, so that building a store never talks to Redis
        (a cluster client does as it is made)."""
        script = self.script(source)

        def run(keys: Sequence[str] = (), args: Sequence[Any] = ()) -> Any:
            return script(self.client, keys, args)

        return run

    def run(self, op: Callable[[Any], T], policy: str, component: str) -> tuple[bool, T | None]:
        """``op(client)`` if Redis may be used now: ``(True, its result)``, or ``(False,
        None)`` when Redis is left alone or failed (then noted by ``component`` of
        ``policy``: every store goes local)."""
        if not self.due():
            return False, None
        generation = self.generation
        try:
            result = op(self.client)
        except self.errors as exc:
            self.failed(exc, policy, component)
            return False, None
        if self.generation == generation:  # else it began before an outage it says nothing of
            self.restored(policy, component)
        return True, result

    def due(self) -> bool:
        """Whether Redis may be tried now; claims the attempt (one thread at a time)."""
        if self.up:
            return True
        if self.up is False and self.watch.running:
            return False  # the subscriber tries again, and tells when Redis is back
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
        if self.up is not False:
            return True
        return not self.watch.running and time.monotonic() >= self._retry_at

    def failed(self, error: BaseException, policy: str, component: str) -> None:
        """Redis failed (noticed by ``component`` of ``policy``): every store goes on in
        process for ``reconnect_interval`` seconds."""
        self.watch.lost()
        with self._lock:
            self._retry_at = time.monotonic() + self.spec.reconnect_interval
            if self.up is False:
                return
            self.up = False
            self.generation += 1
        events.storage_unavailable(
            policy,
            component,
            self.shown,
            type(error).__name__,
            self.spec.scrub(str(error)),
            self.spec.reconnect_interval,
        )

    def restored(self, policy: str, component: str) -> None:
        """Redis answered again."""
        if self.up:
            return
        with self._lock:
            was, self.up = self.up, True
        if was is False:
            events.storage_restored(policy, component, self.shown)

    def refresh(self) -> None:
        """Re-read every circuit this process mirrors, now.

        Raises:
            redis.RedisError, OSError: Redis could not be read.
        """
        self.watch.refresh()

    def forked(self) -> None:
        """In a child process just forked: its own client and subscriber, made on first use
        (the parent's are not this process's)."""
        self._lock = threading.Lock()
        self._client = None
        self.up = None
        self.watch.forked()

    def close(self) -> None:
        """Stop the subscriber and close the client (the link is unusable afterwards)."""
        self.watch.stop()
        client, self._client = self._client, None
        if client is not None:
            client.close()


_links: dict[RedisStorage, Link] = {}
_links_lock = threading.Lock()


def _after_fork() -> None:
    # A lock held by another thread at fork time stays held; the parent's helper thread is
    # not in the child, so the child makes its own at its first write.
    global _links_lock, _flusher, _flusher_lock  # noqa: PLW0603
    _links_lock = threading.Lock()
    _flusher, _flusher_lock = None, threading.Lock()
    for link in _links.values():
        link.forked()


if hasattr(os, "register_at_fork"):  # a pre-forking server's workers start from nothing
    os.register_at_fork(after_in_child=_after_fork)


def close_links() -> None:
    """Close every link of this process (their storages make new ones on next use): tests
    and a forking server's workers start from nothing."""
    with _links_lock:
        links = list(_links.values())
        _links.clear()
    for link in links:
        link.close()


# --- budgets ---------------------------------------------------------------------------------

#: Sends shared budgets' call counts and failure-rate windows' batches to Redis, off every
#: caller's path.
_flusher: Any = None
_flusher_lock = threading.Lock()


def background(task: Callable[[], None]) -> None:
    """Run ``task`` in this process's one helper thread for Redis writes (made on first use)."""
    global _flusher  # noqa: PLW0603 - one helper thread per process, made on first use
    with _flusher_lock:
        if _flusher is None:
            from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415 - on first use

            _flusher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="resilience-redis")
        _flusher.submit(task)


class RedisBudgetStore(MemoryBudgetStore):
    """A budget shared in Redis; this process's own counts decide while Redis is away.

    Calls are counted in process, and sent to Redis by a helper thread each time a bucket
    fills (so never on a caller's path) and along with each retry decision (one script, one
    round trip).
    """

    __slots__ = ("_add", "_decide", "_flushed", "_flushed_epochs", "_key", "_link", "_policy")

    def __init__(
        self, link: Link, policy: str, ratio: float, reserve: float, window: float
    ) -> None:
        super().__init__(ratio, reserve, window)
        self._link = link
        self._policy = policy
        self._key = link.spec.key(policy, "budget")
        # Calls of each slot already added in Redis, valid for the bucket it was counted in.
        self._flushed = [0] * BUCKETS
        self._flushed_epochs = [-1] * BUCKETS
        self._decide = link.script(_DECIDE)
        self._add = link.script(_ADD)

    @property
    def remote(self) -> bool:  # type: ignore[override]
        return self._link.pending()

    def _roll(self, slot: int, epoch: int) -> None:
        super()._roll(slot, epoch)
        background(self.flush)

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
            if not pending:
                return
            keys, args = [self._key], [self._ttl(), *pending]
            ran, _ = self._link.run(
                lambda client: self._add(client, keys, args), self._policy, "budget"
            )
            if ran:
                self._sent(sent)

    def try_retry(self) -> bool:
        with self._lock:
            epoch, slot = self._now()
            pending, sent = self._pending(epoch)
            keys = [self._key]
            args = [epoch, BUCKETS, self.ratio, self.reserve, self._ttl(), *pending]
            ran, allowed = self._link.run(
                lambda client: self._decide(client, keys, args), self._policy, "budget"
            )
            if ran:
                self._sent(sent)
                if allowed:
                    self._retries[slot] += 1
                return bool(allowed)
            if not self._allows(epoch):
                return False
            self._retries[slot] += 1
            return True
