"""python-engineio clients against a real Engine.IO server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from resilience import Backoff, Category, Policy, Retry, classify, explain

from .servers import EngineioServer, EventHooks

engineio = pytest.importorskip("engineio")
eio = pytest.importorskip("resilience.integrations.engineio")

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_wait")]


def policy() -> Policy:
    return Policy(
        "engineio-test",
        retry=Retry(attempts=4, backoff=Backoff(initial=0.1)),
        classifier=eio.classifier(),
    )


def start_on_first_retry(hooks: EventHooks, server: EngineioServer) -> list[object]:
    retries: list[object] = []

    def started(entry: dict[str, object]) -> None:
        retries.append(entry["attempt"])
        if not server.running:
            server.start()

    hooks.on("retry.scheduled", started)
    return retries


@pytest.fixture(name="wsgi_server")
def _wsgi_server() -> Iterator[EngineioServer]:
    server = EngineioServer("wsgi")
    yield server
    server.stop()


@pytest.fixture(name="async_server")
def _async_server() -> Iterator[EngineioServer]:
    pytest.importorskip("aiohttp")
    server = EngineioServer("aiohttp")
    yield server
    server.stop()


def test_sync_client_connects_once_the_server_is_up(
    wsgi_server: EngineioServer, hooks: EventHooks
) -> None:
    retries = start_on_first_retry(hooks, wsgi_server)
    client = engineio.Client()
    echoed = threading.Event()
    client.on("message", lambda data: echoed.set() if data == "echo:ping" else None)

    eio.connect(client, wsgi_server.url, policy=policy(), transports=["polling"])
    try:
        client.send("ping")
        assert echoed.wait(5)
    finally:
        client.disconnect()

    assert retries == [1]  # refused once while down, then connected
    (scheduled,) = hooks.named("retry.scheduled")
    assert (scheduled["error"], scheduled["category"]) == ("ConnectionError", "retryable")
    assert wsgi_server.handshakes == 1


def test_sync_refused_handshake_is_auth_and_tried_once(
    wsgi_server: EngineioServer, hooks: EventHooks
) -> None:
    wsgi_server.accept = False
    wsgi_server.start()

    with pytest.raises(engineio.exceptions.ConnectionError) as caught:
        eio.connect(engineio.Client(), wsgi_server.url, policy=policy(), transports=["polling"])

    rejected = caught.value
    assert isinstance(rejected, eio.HandshakeRejected)
    assert (rejected.status_code, rejected.body) == (401, "Unauthorized")
    assert eio.classifier().classify(rejected) is Category.AUTH
    assert eio.classifier().explain(rejected).rule.endswith("HandshakeRejected status=401")
    # What engineio raised itself: one class for "down" and "refused", the status only in its
    # message; the default classifier reads it there too, so any policy gets this right.
    original = rejected.__cause__
    assert type(original) is engineio.exceptions.ConnectionError
    assert eio.handshake_status(original) == 401
    assert explain(original).rule == "engineio.exceptions.ConnectionError status=401"
    assert explain(original).category is Category.AUTH
    assert wsgi_server.handshakes == 1
    assert hooks.named("retry.scheduled") == []


def test_sync_default_policy_gives_up_on_a_server_that_stays_down(hooks: EventHooks) -> None:
    server = EngineioServer("wsgi")  # never started

    with pytest.raises(engineio.exceptions.ConnectionError) as caught:
        eio.connect(engineio.Client(), server.url, transports=["polling"])

    assert not isinstance(caught.value, eio.HandshakeRejected)
    assert classify(caught.value) is Category.RETRYABLE
    assert len(hooks.named("retry.scheduled")) == eio.DEFAULT_POLICY.retry.attempts - 1
    assert "policy 'engineio-connect' gave up after 6 attempts" in caught.value.__notes__[-1]


# WebSocket only: a polling AsyncClient's disconnect from an aiohttp engineio server waits for
# its last long-poll to time out (30 s); the sync test covers polling.
@pytest.mark.parametrize("transport", ["websocket"])
async def test_async_client_connects_once_the_server_is_up(
    async_server: EngineioServer, hooks: EventHooks, transport: str
) -> None:
    retries = start_on_first_retry(hooks, async_server)
    client = engineio.AsyncClient()
    echoed = asyncio.Event()

    async def on_message(data: object) -> None:
        if data == "echo:ping":
            echoed.set()

    client.on("message", on_message)

    await eio.aconnect(client, async_server.url, policy=policy(), transports=[transport])
    try:
        assert client.transport() == transport
        await client.send("ping")
        await asyncio.wait_for(echoed.wait(), 5)
    finally:
        await client.disconnect()

    assert retries == [1]
    assert async_server.handshakes == 1


@pytest.mark.parametrize("transport", ["polling", "websocket"])
async def test_async_refused_handshake_is_auth_and_tried_once(
    async_server: EngineioServer, hooks: EventHooks, transport: str
) -> None:
    async_server.accept = False
    async_server.start()
    client = engineio.AsyncClient()

    try:
        with pytest.raises(eio.HandshakeRejected) as caught:
            await eio.aconnect(client, async_server.url, policy=policy(), transports=[transport])
    finally:
        if client.http is not None:  # engineio keeps its aiohttp session after a failure
            await client.http.close()

    assert caught.value.status_code == 401
    assert eio.classifier().classify(caught.value) is Category.AUTH
    assert async_server.handshakes == 1
    assert hooks.named("retry.scheduled") == []
