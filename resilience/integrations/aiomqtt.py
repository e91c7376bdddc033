"""aiomqtt under a policy: connect until the broker answers, reconnect when it goes away.

Two helpers (extra ``mqtt``)::

    from resilience.integrations import aiomqtt as mqtt

    async with mqtt.connect("broker.local", 1883, username="u", password="p") as client:
        await client.publish("sensors/1", "21.5")      # a plain, connected aiomqtt.Client

    async with mqtt.ReconnectingClient("broker.local", on_connect=subscribe) as link:
        await link.publish("sensors/1", "21.5", qos=1)  # reconnects if the broker restarted
        async for message in link.messages():           # survives broker restarts
            ...

What the built-in catalog makes of aiomqtt's failures decides everything: a refused or lost
connection (``MqttError``, ``MqttCodeError`` with ``MQTT_ERR_NO_CONN``, CONNACK 3, MQTT 5 136,
137, 139...) is retried; a bad user name or password or "not authorised" (CONNACK 4 and 5 in
MQTT 3.1.1, which paho 2 reports as 134 and 135, and 134, 135, 138, 140 in MQTT 5) is never
retried. MQTT 3.1.1 and MQTT 5 (``protocol=aiomqtt.ProtocolVersion.V5``) behave alike.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Any

import aiomqtt
import paho.mqtt.client as paho
from aiomqtt.types import PahoSocket

from resilience.categories import Category
from resilience.classify import Classifier, default_classifier
from resilience.elements.backoff import Backoff
from resilience.elements.retry import Retry
from resilience.engine.policy import Policy

__all__ = ["DEFAULT_POLICY", "OnConnect", "ReconnectingClient", "connect"]

#: The policy of :func:`connect` and :class:`ReconnectingClient` when none is given: six
#: attempts within a minute, waits of up to 0.5, 1, 2, 4 and 8 s (full jitter).
DEFAULT_POLICY = Policy(
    "mqtt-connect",
    retry=Retry(attempts=6, deadline=60.0, backoff=Backoff(initial=0.5, maximum=10.0)),
)

#: Called with the new client after every (re)connection, e.g. to subscribe again.
OnConnect = Callable[[aiomqtt.Client], Awaitable[object]]


class _Client(aiomqtt.Client):
    """An ``aiomqtt.Client`` that never registers a socket paho has closed meanwhile.

    paho asks for the socket to be watched for writing whenever it queues a packet, and
    aiomqtt 2 does that one event-loop turn later (``call_soon_threadsafe``, since paho may
    ask from the connect thread), with the descriptor number taken at once. A publish or a
    PUBACK queued on a connection the broker has just closed lands in the same turn as the
    read that sees the close: paho closes the socket, and the late ``add_writer`` then
    registers a closed descriptor, which the event loop reports as an ``OSError: [Errno 9]
    Bad file descriptor`` traceback on stderr (or, had the number been reused meanwhile,
    watches another connection's socket). Here the registration checks, when it runs, that
    the socket is still paho's.
    """

    def _on_socket_register_write(
        self,
        client: paho.Client,
        userdata: Any,
        sock: PahoSocket,
    ) -> None:
        def write() -> None:
            # As aiomqtt's: a failed write means the connection broke.
            try:
                client.loop_write()
            except Exception as exc:  # noqa: BLE001 - handed to whoever awaits the link
                if not self._disconnected.done():
                    self._disconnected.set_exception(exc)

        def register() -> None:
            current = client.socket()
            if current is None or current is not sock:  # closed (or replaced) since paho asked
                return
            self._loop.add_writer(current.fileno(), write)

        self._loop.call_soon_threadsafe(register)


async def _open(
    hostname: str, port: int, client_kwargs: dict[str, Any], on_connect: OnConnect | None
) -> aiomqtt.Client:
    """One connection attempt: a new client, entered, and ``on_connect`` run on it."""
    client = _Client(hostname, port, **client_kwargs)
    await client.__aenter__()
    if on_connect is not None:
        try:
            await on_connect(client)
        except BaseException:
            await _close(client)
            raise
    return client


async def _close(client: aiomqtt.Client) -> None:
    """Disconnect, ignoring a connection that is already gone."""
    with contextlib.suppress(aiomqtt.MqttError):
        await client.__aexit__(None, None, None)


async def _publish(
    client: aiomqtt.Client,
    topic: str,
    payload: str | bytes | bytearray | float | None,
    qos: int,
    retain: bool,
    kwargs: dict[str, Any],
) -> None:
    """``client.publish``, failing as soon as the connection drops.

    aiomqtt 2 leaves a QoS 1/2 publish waiting for its acknowledgement until its whole
    ``timeout`` (10 s by default) when the connection drops under it, so the publish is raced
    against the client's disconnection future (private, hence read defensively).
    """
    lost = getattr(client, "_disconnected", None)
    if qos == 0 or not isinstance(lost, asyncio.Future):
        await client.publish(topic, payload, qos, retain, **kwargs)
        return
    publish = asyncio.ensure_future(client.publish(topic, payload, qos, retain, **kwargs))
    try:
        await asyncio.wait((publish, lost), return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not publish.done():
            publish.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await publish
    if not publish.cancelled():
        publish.result()
        return
    cause = lost.exception() if not lost.cancelled() else None
    msg = "Disconnected while waiting for the broker to acknowledge the publish"
    raise aiomqtt.MqttError(msg) from cause


@contextlib.asynccontextmanager
async def connect(
    hostname: str, port: int = 1883, *, policy: Policy | None = None, **client_kwargs: Any
) -> AsyncIterator[aiomqtt.Client]:
    """Connect an ``aiomqtt.Client`` under a policy; disconnect when the block ends.

    Each attempt builds a new ``aiomqtt.Client(hostname, port, **client_kwargs)`` and enters
    it. A broker that is down or restarting is retried with backoff; a refused password is
    not. The block gets the connected client; a failure inside the block is not retried (use
    :class:`ReconnectingClient` for that).

    Args:
        hostname: The broker's host.
        port: The broker's port.
        policy: The policy of the connect; :data:`DEFAULT_POLICY` when omitted.
        **client_kwargs: Passed to ``aiomqtt.Client`` (``username``, ``password``,
            ``protocol``, ``tls_context``, ``identifier``, ...).

    Raises:
        aiomqtt.MqttError: the last failure, when the policy gives up (with a note that says
            after how many attempts).
    """
    client = await (policy or DEFAULT_POLICY).acall(_open, hostname, port, client_kwargs, None)
    try:
        yield client
    finally:
        await _close(client)


class ReconnectingClient:
    """One MQTT connection kept alive under a policy, for publishers and subscribers.

    ``publish`` runs under the policy: an attempt that fails with a retryable error (the
    connection is gone, the broker is restarting) drops the connection, and the next attempt
    connects again first. ``messages()`` yields incoming messages and, when the connection
    drops, reconnects under the policy and goes on. ``on_connect`` runs after every
    connection, before anyone uses it: subscribe there, so subscriptions survive restarts.

    Use it as ``async with ReconnectingClient(...) as link:`` or call :meth:`connect` and
    :meth:`close` yourself.

    Args:
        hostname: The broker's host.
        port: The broker's port.
        policy: The policy of every connect and publish; :data:`DEFAULT_POLICY` when omitted.
        on_connect: ``async def on_connect(client: aiomqtt.Client)``, run after each connection.
        **client_kwargs: Passed to every ``aiomqtt.Client`` built.
    """

    def __init__(
        self,
        hostname: str,
        port: int = 1883,
        *,
        policy: Policy | None = None,
        on_connect: OnConnect | None = None,
        **client_kwargs: Any,
    ) -> None:
        self._hostname = hostname
        self._port = port
        self._policy = policy or DEFAULT_POLICY
        self._on_connect = on_connect
        self._client_kwargs = client_kwargs
        self._client: aiomqtt.Client | None = None
        self._dropped: list[aiomqtt.Client] = []
        self._lock = asyncio.Lock()
        self._connects = 0
        self._closed = False

    def __repr__(self) -> str:
        state = "connected" if self._client is not None else "not connected"
        return (
            f"<ReconnectingClient {self._hostname}:{self._port} {state}, "
            f"policy {self._policy.name!r}, {self._connects} connections>"
        )

    @property
    def policy(self) -> Policy:
        """The policy of every connect and publish."""
        return self._policy

    @property
    def connects(self) -> int:
        """How many connections were made so far: 1 plus the reconnections."""
        return self._connects

    @property
    def client(self) -> aiomqtt.Client:
        """The current connection.

        Raises:
            RuntimeError: there is none right now (not connected yet, or dropped).
        """
        if self._client is None:
            msg = "ReconnectingClient is not connected: call `await link.connect()` first"
            raise RuntimeError(msg)
        return self._client

    @property
    def _classifier(self) -> Classifier:
        return self._policy.classifier or default_classifier()

    async def connect(self) -> aiomqtt.Client:
        """The current connection, or a new one made under the policy.

        Raises:
            RuntimeError: the client was closed.
            aiomqtt.MqttError: the policy gave up.
        """
        if self._client is not None:
            return self._client
        return await self._policy.acall(self._connect_once)

    async def _connect_once(self) -> aiomqtt.Client:
        async with self._lock:
            if self._closed:
                msg = "ReconnectingClient is closed"
                raise RuntimeError(msg)
            while self._dropped:
                await _close(self._dropped.pop())
            if self._client is None:
                self._client = await _open(
                    self._hostname, self._port, self._client_kwargs, self._on_connect
                )
                self._connects += 1
            return self._client

    def _drop(self, client: aiomqtt.Client) -> None:
        """Forget ``client`` (if still current): the next attempt connects again."""
        if self._client is client:
            self._client = None
            self._dropped.append(client)

    async def publish(
        self,
        topic: str,
        payload: str | bytes | bytearray | float | None = None,
        qos: int = 0,
        retain: bool = False,
        **kwargs: Any,
    ) -> None:
        """Publish under the policy, reconnecting first when the connection is gone.

        Args:
            topic: The topic.
            payload: The payload.
            qos: 0, 1 or 2.
            retain: Whether the broker keeps the message for later subscribers.
            **kwargs: Passed to ``aiomqtt.Client.publish`` (``properties``, ``timeout``).

        Raises:
            aiomqtt.MqttError: the policy gave up; the last failure, with a note.
        """
        await self._policy.acall(self._publish_once, topic, payload, qos, retain, kwargs)

    async def _publish_once(
        self,
        topic: str,
        payload: str | bytes | bytearray | float | None,
        qos: int,
        retain: bool,
        kwargs: dict[str, Any],
    ) -> None:
        client = await self._connect_once()
        try:
            await _publish(client, topic, payload, qos, retain, kwargs)
        except asyncio.CancelledError:
            # An attempt timeout cancelled us: the link may be silently dead, start afresh.
            self._drop(client)
            raise
        except Exception as exc:
            if self._classifier.classify(exc) is Category.RETRYABLE:
                self._drop(client)
            raise

    async def messages(self) -> AsyncIterator[aiomqtt.Message]:
        """Incoming messages, across reconnections, until :meth:`close`.

        A dropped connection is reconnected under the policy (and ``on_connect`` subscribes
        again); messages the broker sent while the link was down are lost unless the session
        and QoS keep them (``clean_session=False``, QoS 1 or 2).

        Raises:
            aiomqtt.MqttError: a non-retryable failure, or the policy gave up reconnecting.
        """
        while not self._closed:
            client = await self.connect()
            try:
                async for message in client.messages:
                    yield message
            except aiomqtt.MqttError as exc:
                if self._closed:
                    return
                if self._classifier.classify(exc) is not Category.RETRYABLE:
                    raise
                self._drop(client)

    async def close(self) -> None:
        """Disconnect; later calls fail with ``RuntimeError``."""
        async with self._lock:
            self._closed = True
            client, self._client = self._client, None
            while self._dropped:
                await _close(self._dropped.pop())
            if client is not None:
                await _close(client)

    async def __aenter__(self) -> ReconnectingClient:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
