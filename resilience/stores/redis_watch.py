"""What a process knows of the circuits in Redis, kept current by pub/sub.

Each :class:`~resilience.stores.redis.Link` has one :class:`Watch`: a mirror of every circuit
this process uses, and one subscriber thread on the namespace's channel. Every script that
changes a circuit publishes its new state there (one ``PUBLISH`` inside the script, so no
extra round trip), and every process applies it to its mirror. A healthy call reads the
mirror and sends nothing to Redis.

Why a channel of ours rather than keyspace notifications: notifications are off by default
and many managed Redis services don't let ``CONFIG SET`` turn them on; they carry only the
key's name, so every process would re-read the key on every change; and on a cluster each
node sends only its own keys' notifications, so a process would need one subscription per
node. A message on a channel carries the new state, and a cluster forwards a ``PUBLISH`` to
every node, so one subscription on any node hears the whole fleet.

Order: every change bumps the hash's version ``v``; a mirror keeps the highest version it has
seen, so a message and a script's reply may arrive in either order. A mirror is *current*
while its ``epoch`` equals the watch's: set when it was read, written or told while the
subscription was live. Losing the subscription (Redis killed, a command timing out) bumps
the watch's epoch, so every mirror stops being current at once and callers go back to
reading Redis (or, while Redis is down, to in-process state). On every (re)subscription, and
every ``refresh_interval`` seconds as a safety net, the thread re-reads every mirrored
circuit; a read is kept if nothing newer came meanwhile (which also heals a Redis that was
emptied while we listened).
"""

from __future__ import annotations

import json
import random
import threading
import time
from typing import TYPE_CHECKING, Any

from resilience.stores.base import CLOSED, OPEN, State

if TYPE_CHECKING:
    from resilience.stores.redis import Link

__all__ = ["FIELDS", "Mirror", "Watch", "decode"]

#: The fields of a circuit's hash that a mirror holds, in the order scripts return them.
FIELDS = ("state", "opened_at", "failures", "v")

#: The real ``time.monotonic``: the subscriber keeps real time even under freezegun.
_REAL = (time.monotonic,)

#: Longest the subscriber blocks on its socket before looking at its flags again (seconds).
_POLL = 0.05

Values = tuple[tuple[State, float | None], int, int]


def _text(value: object) -> str:
    if value is None or value is False:
        return ""
    return value.decode() if isinstance(value, bytes) else str(value)


def decode(found: Any) -> Values:
    """``(snapshot, failures, version)`` from the four fields as Redis or a message gives
    them (missing ones as ``None``, ``False`` or ``""``)."""
    state, opened, failures, version = (_text(v) for v in found)
    if not state or state == CLOSED:
        snapshot: tuple[State, float | None] = (CLOSED, None)
    else:
        shown: State = OPEN if state == OPEN else "half-open"
        snapshot = (shown, float(opened) if opened else None)
    return snapshot, int(failures or 0), int(version or 0)


class Mirror:
    """This process's copy of one circuit's hash."""

    __slots__ = ("epoch", "failures", "key", "policy", "snapshot", "stamp", "version")

    def __init__(self, key: str, policy: str) -> None:
        self.key = key
        self.policy = policy
        self.snapshot: tuple[State, float | None] = (CLOSED, None)
        self.failures = 0
        self.version = -1  # none seen: any value is newer
        self.epoch = -1  # current while equal to the watch's epoch
        self.stamp = 0  # local changes, so that a read overtaken by one is dropped


class Watch:
    """The mirrors of one link and the thread that keeps them current."""

    __slots__ = (
        "_lock",
        "_mirrors",
        "_stop",
        "_thread",
        "_wake",
        "epoch",
        "link",
        "listening",
        "synced",
    )

    def __init__(self, link: Link) -> None:
        self.link = link
        self.epoch = 0
        self.listening = False  # subscribed: what is read or told now may be trusted
        self.synced = False  # and every mirror re-read since (nothing left to send)
        self._mirrors: dict[str, Mirror] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._stop = False

    # -- for the stores ---------------------------------------------------------------------

    def mirror(self, key: str, policy: str) -> Mirror:
        """The mirror of the circuit at ``key`` (one per key in this process)."""
        with self._lock:
            found = self._mirrors.get(key)
            if found is None:
                found = self._mirrors[key] = Mirror(key, policy)
            return found

    @property
    def running(self) -> bool:
        """Whether the subscriber thread was started (it then owns reconnecting)."""
        return self._thread is not None

    def start(self) -> None:
        """Start the subscriber thread, once (on the first use of a circuit, never when a
        policy is built)."""
        if self._thread is not None or self._stop:
            return
        with self._lock:
            if self._thread is not None:
                return
            thread = threading.Thread(target=self._run, name="resilience-watch", daemon=True)
            self._thread = thread
        thread.start()

    def current(self) -> int:
        """The epoch a read or write about to start makes its mirror current in (-1: none,
        the subscription is not live)."""
        return self.epoch if self.listening else -1

    def apply(self, mirror: Mirror, values: Values, epoch: int, stamp: int | None = None) -> None:
        """Put what Redis said in ``mirror``: kept if newer than what it holds, or if it is a
        read begun at ``stamp`` and nothing changed the mirror since. Current if the
        subscription that was live when it was asked for (``epoch``) still is."""
        snapshot, failures, version = values
        with self._lock:
            if version >= mirror.version or (stamp is not None and stamp == mirror.stamp):
                mirror.snapshot = snapshot
                mirror.failures = failures
                mirror.version = version
                mirror.stamp += 1
            if epoch == self.epoch and self.listening:
                mirror.epoch = epoch

    def lost(self) -> None:
        """The subscription can't be trusted any more: no mirror is current."""
        with self._lock:
            self.epoch += 1
            self.listening = self.synced = False
            for mirror in self._mirrors.values():
                mirror.version = -1
        self._wake.set()

    def stop(self) -> None:
        """End the thread (within ``_POLL`` seconds) and let it go."""
        self._stop = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2)

    def forked(self) -> None:
        """In a child process just forked: no thread runs here, nothing mirrored is current."""
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = None
        self.epoch += 1
        self.listening = self.synced = False
        for mirror in self._mirrors.values():
            mirror.version = -1

    def refresh(self) -> None:
        """Re-read every mirrored circuit now (the safety net, also after an operator
        changed a hash by hand)."""
        epoch = self.epoch if self.listening else -1
        self._reread(self.link.client, epoch)

    # -- the thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException:
            # Not Redis' trouble (that is handled below): nothing mirrored is trusted any
            # more, calls read Redis, and the next read starts a thread again.
            self.lost()
            self._thread = None
            raise

    def _loop(self) -> None:
        link = self.link
        while not self._stop:
            try:
                self._listen()
            except link.errors as exc:
                self.lost()
                link.failed(exc, self._policy(), "breaker")
            if self._stop:
                return
            self._wake.clear()
            self._wake.wait(link.spec.reconnect_interval)

    def _policy(self) -> str:
        """The policy named in the events the subscriber logs: the first one mirrored."""
        with self._lock:
            return next(iter(self._mirrors.values())).policy if self._mirrors else ""

    def _listen(self) -> None:
        link = self.link
        spec = link.spec
        client = link.client
        node = client
        if spec.clustered:  # any node hears every PUBLISH of the cluster
            primary = random.choice(client.get_primaries())
            node = client.get_redis_connection(primary)
        pubsub = node.pubsub()
        try:
            pubsub.subscribe(spec.channel)
            confirmed = pubsub.get_message(timeout=spec.timeout)
            if not confirmed or confirmed.get("type") != "subscribe":
                msg = f"no confirmation of SUBSCRIBE {spec.channel} within {spec.timeout} s"
                raise TimeoutError(msg)
            with self._lock:
                self.epoch += 1
                epoch = self.epoch
                self.listening = True
            self._reread(client, epoch)
            if self.epoch != epoch:
                return  # a caller saw Redis fail meanwhile: not restored after all
            self.synced = True
            link.restored(self._policy(), "breaker")
            self._follow(pubsub, client, epoch)
        finally:
            pubsub.close()

    def _follow(self, pubsub: Any, client: Any, epoch: int) -> None:
        spec = self.link.spec
        clock = _REAL[0]
        refresh_at = clock() + spec.refresh_interval
        while not self._stop and self.epoch == epoch:
            message = pubsub.get_message(timeout=_POLL)
            if message is not None and message.get("type") == "message":
                self._told(message["data"], epoch)
            if clock() >= refresh_at:
                self._reread(client, epoch)
                refresh_at = clock() + spec.refresh_interval

    def _told(self, data: Any, epoch: int) -> None:
        try:
            key, *fields = json.loads(data)
            mirror = self._mirrors.get(key)
            values = decode(fields)
        except (ValueError, TypeError):
            return  # not one of ours: something else publishes on the channel
        if mirror is not None:  # else a circuit this process does not use
            self.apply(mirror, values, epoch)

    def _reread(self, client: Any, epoch: int) -> None:
        with self._lock:
            mirrors = list(self._mirrors.values())
            stamps = [mirror.stamp for mirror in mirrors]
        if not mirrors:
            return
        pipe = client.pipeline(transaction=False)
        for mirror in mirrors:
            pipe.hmget(mirror.key, *FIELDS)
        for mirror, stamp, found in zip(mirrors, stamps, pipe.execute(), strict=True):
            self.apply(mirror, decode(found), epoch, stamp)
