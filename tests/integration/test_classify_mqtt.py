"""aiomqtt's wrappers classified by what they wrap, against real brokers on 127.0.0.1.

aiomqtt raises ``MqttError("Disconnected during message iteration") from`` the DISCONNECT's
``MqttCodeError``, and turns a failed connect into ``MqttError(str(exc)) from None``. A small
MQTT 5 broker of our own (plain sockets, enough protocol to CONNACK, SUBACK and DISCONNECT
with a chosen reason code) sends the DISCONNECTs; Mosquitto serves a TLS listener with a
certificate the client does not trust.
"""

from __future__ import annotations

import contextlib
import gc
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from resilience import Category, Policy, Retry, classify, explain

from .servers import LOCALHOST, Listener, Mosquitto, Pki, free_port

aiomqtt = pytest.importorskip("aiomqtt")

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_wait")]

R, A, P = Category.RETRYABLE, Category.AUTH, Category.PERMANENT
CODE = "aiomqtt.exceptions.MqttCodeError"
ERROR = "aiomqtt.exceptions.MqttError"


def _read_packet(conn: socket.socket) -> tuple[int, bytes]:
    head = conn.recv(1)
    if not head:
        raise EOFError
    length, shift = 0, 0
    while True:
        byte = conn.recv(1)[0]
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    body = b""
    while len(body) < length:
        chunk = conn.recv(length - len(body))
        if not chunk:
            raise EOFError
        body += chunk
    return head[0], body


class DisconnectingBroker:
    """Accepts one MQTT 5 client: CONNACK, SUBACK for its SUBSCRIBE, then a DISCONNECT with
    ``reason``."""

    def __init__(self, reason: int) -> None:
        self.reason = reason
        self.sock = socket.create_server((LOCALHOST, 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(10)
            try:
                kind, _ = _read_packet(conn)
                assert kind >> 4 == 1  # CONNECT
                conn.sendall(bytes([0x20, 3, 0, 0, 0]))  # CONNACK: success, no properties
                kind, body = _read_packet(conn)
                assert kind >> 4 == 8  # SUBSCRIBE
                conn.sendall(bytes([0x90, 4, body[0], body[1], 0, 0]))  # SUBACK: QoS 0
                conn.sendall(bytes([0xE0, 2, self.reason, 0]))  # DISCONNECT, no properties
                while conn.recv(64):
                    pass
            except (OSError, EOFError, AssertionError):
                return

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() (closing alone does not)
        self.sock.close()
        self.thread.join(5)


@pytest.fixture(name="disconnecting")
def _disconnecting() -> Iterator[Callable[[int], DisconnectingBroker]]:
    brokers: list[DisconnectingBroker] = []

    def make(reason: int) -> DisconnectingBroker:
        broker = DisconnectingBroker(reason)
        brokers.append(broker)
        return broker

    yield make
    for broker in brokers:
        broker.close()


@pytest.mark.parametrize(
    ("reason", "category"),
    [
        pytest.param(0x87, A, id="0x87-not-authorized"),
        pytest.param(0x8E, P, id="0x8E-session-taken-over"),
        pytest.param(0x98, P, id="0x98-administrative-action"),
        pytest.param(0x9D, P, id="0x9D-server-moved"),
        pytest.param(0x89, R, id="0x89-server-busy"),
        pytest.param(0x8B, R, id="0x8B-server-shutting-down"),
    ],
)
async def test_disconnect_during_message_iteration_is_its_reason_code(
    disconnecting: Callable[[int], DisconnectingBroker], reason: int, category: Category
) -> None:
    broker = disconnecting(reason)
    with pytest.raises(aiomqtt.MqttError) as caught:
        async with aiomqtt.Client(
            LOCALHOST, broker.port, protocol=aiomqtt.ProtocolVersion.V5, identifier="sensor"
        ) as client:
            await client.subscribe("commands/#")
            async for _ in client.messages:
                pytest.fail("the broker sends no message")

    exc = caught.value
    assert type(exc) is aiomqtt.MqttError
    assert str(exc) == "Disconnected during message iteration"
    verdict = explain(exc)
    assert verdict.category is category
    assert classify(exc) is category
    assert verdict.rule == f"{CODE} code={reason}"
    assert verdict.via == (ERROR, CODE)
    assert verdict.chain == f"{ERROR} -> {CODE}"


async def test_a_policy_does_not_retry_a_not_authorized_disconnect(
    disconnecting: Callable[[int], DisconnectingBroker],
) -> None:
    calls = 0

    @Policy("mqtt", retry=Retry(attempts=3))
    async def listen() -> None:
        nonlocal calls
        calls += 1
        broker = disconnecting(0x87)
        async with aiomqtt.Client(
            LOCALHOST, broker.port, protocol=aiomqtt.ProtocolVersion.V5, identifier="s"
        ) as client:
            await client.subscribe("t")
            async for _ in client.messages:
                pass

    with pytest.raises(aiomqtt.MqttError):
        await listen()
    assert calls == 1


@pytest.fixture(name="tls_broker")
def _tls_broker(make_broker: Callable[..., Mosquitto], pki: Pki) -> Mosquitto:
    broker = make_broker(
        Listener(
            free_port(),
            (f"certfile {pki.server_cert}", f"keyfile {pki.server_key}", "allow_anonymous true"),
        )
    )
    broker.start()
    return broker


# paho leaves the socket of the failed TLS handshake open, and Python warns when it is freed.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_an_untrusted_broker_certificate_is_not_retried(
    tls_broker: Mosquitto, pki: Pki, tmp_path: Path
) -> None:
    untrusting = ssl.create_default_context()  # the system's CAs: not our test CA
    with pytest.raises(aiomqtt.MqttError) as caught:
        async with aiomqtt.Client(LOCALHOST, tls_broker.port, tls_context=untrusting):
            pytest.fail("connected to an untrusted broker")
    exc = caught.value
    assert exc.__suppress_context__  # aiomqtt's `from None`: the reader looks anyway
    verdict = explain(exc)
    assert verdict.category is P
    assert verdict.rule == "ssl.SSLCertVerificationError"
    assert verdict.via == (ERROR, "ssl.SSLCertVerificationError")

    trusting = ssl.create_default_context(cafile=str(pki.cloud_ca))
    async with aiomqtt.Client(LOCALHOST, tls_broker.port, tls_context=trusting) as client:
        await client.publish("t", "trusted")
    del exc, caught
    gc.collect()  # here, where the warning of the leaked socket is ignored, not in a later test


async def test_a_name_that_does_not_resolve_is_not_retried() -> None:
    with pytest.raises(aiomqtt.MqttError) as caught:
        async with aiomqtt.Client("nonexistent.invalid", 1883):
            pytest.fail("resolved a reserved name")
    verdict = explain(caught.value)
    assert verdict.via == (ERROR, "socket.gaierror")
    number = caught.value.__context__.errno  # type: ignore[union-attr]
    if number == socket.EAI_NONAME:
        assert (verdict.category, verdict.rule) == (P, "socket.gaierror code=EAI_NONAME")
    else:  # no resolver reachable at all: a temporary failure
        assert verdict.category is R


async def test_a_refused_connection_is_still_retryable() -> None:
    with pytest.raises(aiomqtt.MqttError) as caught:
        async with aiomqtt.Client(LOCALHOST, free_port()):
            pytest.fail("connected to a closed port")
    verdict = explain(caught.value)
    assert (verdict.category, verdict.rule) == (R, "builtins.ConnectionRefusedError")
    assert verdict.via == (ERROR, "builtins.ConnectionRefusedError")
