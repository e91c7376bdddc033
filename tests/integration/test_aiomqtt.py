"""aiomqtt against a real Mosquitto on 127.0.0.1, MQTT 3.1.1 and 5."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from resilience import Backoff, Category, Policy, Retry, classify, explain

from .servers import EventHooks, Listener, Mosquitto, free_port, password_file

aiomqtt = pytest.importorskip("aiomqtt")
mqtt = pytest.importorskip("resilience.integrations.aiomqtt")

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_wait")]

PROTOCOLS = [
    pytest.param(aiomqtt.ProtocolVersion.V311, id="mqtt311"),
    pytest.param(aiomqtt.ProtocolVersion.V5, id="mqtt5"),
]
USERS = {"alice": "wonderland"}


def policy(attempts: int = 5) -> Policy:
    return Policy("mqtt-test", retry=Retry(attempts=attempts, backoff=Backoff(initial=0.1)))


@pytest.fixture(name="broker")
def _broker(
    make_broker: Callable[..., Mosquitto], mosquitto_passwd: str, tmp_path: Path
) -> Mosquitto:
    """A Mosquitto with a password file, built but not started: each test starts it."""
    passwords = password_file(mosquitto_passwd, tmp_path / "passwords", USERS)
    return make_broker(
        Listener(free_port(), ("allow_anonymous false", f"password_file {passwords}"))
    )


def start_broker_on_first_retry(hooks: EventHooks, broker: Mosquitto) -> list[int]:
    """Start ``broker`` when the policy schedules its first retry; returns the retry log."""
    retries: list[int] = []

    def started(entry: dict[str, object]) -> None:
        retries.append(int(str(entry["attempt"])))
        if not broker.running:
            broker.start()

    hooks.on("retry.scheduled", started)
    return retries


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_connect_is_retried_until_the_broker_is_up(
    broker: Mosquitto, hooks: EventHooks, protocol: aiomqtt.ProtocolVersion
) -> None:
    retries = start_broker_on_first_retry(hooks, broker)

    async with mqtt.connect(
        "127.0.0.1", broker.port, policy=policy(), protocol=protocol, identifier="late", **creds()
    ) as client:
        await client.publish("t/late", "hello", qos=1)

    assert retries == [1]  # refused once, then connected: two attempts
    (scheduled,) = hooks.named("retry.scheduled")
    assert scheduled["category"] == "retryable"
    assert scheduled["error"] == "MqttError"
    assert "refused" in str(scheduled["error_message"]).lower()
    assert broker.wait_for_ports("late", [broker.port]) == [broker.port]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_wrong_password_is_auth_and_tried_once(
    broker: Mosquitto, hooks: EventHooks, protocol: aiomqtt.ProtocolVersion
) -> None:
    broker.start()

    with pytest.raises(aiomqtt.MqttCodeError) as caught:
        async with mqtt.connect(
            "127.0.0.1",
            broker.port,
            policy=policy(),
            protocol=protocol,
            identifier="intruder",
            username="alice",
            password="not-the-password",
        ):
            pytest.fail("connected with a wrong password")

    assert classify(caught.value) is Category.AUTH
    verdict = explain(caught.value)
    assert verdict.catalog == "aiomqtt"
    assert verdict.rule in (
        "aiomqtt.exceptions.MqttCodeError code=134",
        "aiomqtt.exceptions.MqttCodeError code=135",
    )
    assert hooks.named("retry.scheduled") == []
    assert "gave up after 1 attempt " in "\n".join(caught.value.__notes__)
    log = broker.wait_for_log("disconnected, not authorised")
    assert log.count("disconnected, not authorised") == 1, log  # the broker saw one attempt


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_broker_restart_mid_stream_reconnects_and_resumes(
    broker: Mosquitto, hooks: EventHooks, protocol: aiomqtt.ProtocolVersion
) -> None:
    broker.start()
    received: asyncio.Queue[str] = asyncio.Queue()

    async def subscribe(client: aiomqtt.Client) -> None:
        await client.subscribe("stream/#", qos=1)

    link = mqtt.ReconnectingClient(
        "127.0.0.1",
        broker.port,
        policy=policy(attempts=10),
        on_connect=subscribe,
        protocol=protocol,
        identifier="streamer",
        **creds(),
    )

    async def consume() -> None:
        async for message in link.messages():
            received.put_nowait(bytes(message.payload).decode())

    async with link:
        consumer = asyncio.create_task(consume())
        await link.publish("stream/1", "before", qos=1)
        assert await asyncio.wait_for(received.get(), 5) == "before"

        broker.stop()
        retries = start_broker_on_first_retry(hooks, broker)
        # Whichever notices first, the publisher or the stream, reconnects under the policy;
        # the other one finds the new connection already made.
        await link.publish("stream/1", "after-1", qos=1)
        await link.publish("stream/1", "after-2", qos=1)

        assert await asyncio.wait_for(received.get(), 5) == "after-1"
        assert await asyncio.wait_for(received.get(), 5) == "after-2"
        assert link.connects == 2
        assert retries  # at least one failed attempt while the broker was down
        assert all(entry["category"] == "retryable" for entry in hooks.named("retry.scheduled"))
        assert hooks.named("retry.gave_up") == []

    await asyncio.wait_for(consumer, 5)  # close() ends the stream
    assert broker.wait_for_ports("streamer", [broker.port, broker.port]) == [
        broker.port,
        broker.port,
    ]


async def test_reconnecting_client_gives_up_when_the_broker_stays_down(
    broker: Mosquitto, hooks: EventHooks
) -> None:
    with pytest.raises(aiomqtt.MqttError) as caught:
        await mqtt.ReconnectingClient(
            "127.0.0.1", broker.port, policy=policy(attempts=3), **creds()
        ).connect()

    assert classify(caught.value) is Category.RETRYABLE
    assert [entry["attempt"] for entry in hooks.named("retry.scheduled")] == [1, 2]
    assert "gave up after 3 attempts" in "\n".join(caught.value.__notes__)


async def test_reconnecting_client_refuses_use_after_close(broker: Mosquitto) -> None:
    broker.start()
    link = mqtt.ReconnectingClient("127.0.0.1", broker.port, policy=policy(), **creds())
    async with link:
        assert f"127.0.0.1:{broker.port} connected, policy 'mqtt-test', 1 connections" in repr(link)
        assert link.client is await link.connect()
    with pytest.raises(RuntimeError, match="not connected"):
        _ = link.client
    with pytest.raises(RuntimeError, match="closed"):
        await link.publish("t", "x")


# Run in a child process, so that whatever reaches stderr (the event loop's "Exception in
# callback", "Future exception was never retrieved", unraisable exceptions) is seen whole.
RESTART_CHILD = """
import asyncio, gc, sys

import aiomqtt

from resilience import Backoff, Policy, Retry
from resilience.integrations.aiomqtt import ReconnectingClient

port, protocol, username, password = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]


async def main() -> None:
    received = asyncio.Queue()

    async def subscribe(client):
        await client.subscribe("restart/#", qos=1)

    policy = Policy(
        "restart",
        retry=Retry(attempts=500, deadline=10, backoff=Backoff(initial=0.01, maximum=0.05)),
    )
    link = ReconnectingClient(
        "127.0.0.1", port, policy=policy, on_connect=subscribe, identifier="restarter",
        protocol=aiomqtt.ProtocolVersion(protocol), username=username, password=password,
    )

    async def consume():
        async for message in link.messages():
            received.put_nowait(bytes(message.payload).decode())

    async with link:
        consumer = asyncio.create_task(consume())
        await link.publish("restart/1", "before", qos=1)
        assert await asyncio.wait_for(received.get(), 5) == "before"
        print("published", flush=True)
        # The event loop is held while the broker stops, as a busy one would be: the publish
        # below is queued in the same turn as the read that sees the connection closed.
        assert sys.stdin.readline() == "stopped\\n"
        await link.publish("restart/1", "after", qos=1)
        assert await asyncio.wait_for(received.get(), 5) == "after"
        print(f"resumed, {link.connects} connections", flush=True)
    await asyncio.wait_for(consumer, 5)


asyncio.run(main())
gc.collect()  # a future whose exception nobody retrieved says so now, on stderr
"""


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_broker_restart_prints_nothing_on_stderr(
    broker: Mosquitto, tmp_path: Path, protocol: aiomqtt.ProtocolVersion
) -> None:
    broker.start()
    script = tmp_path / "restart_child.py"
    script.write_text(RESTART_CHILD)
    with subprocess.Popen(
        [sys.executable, str(script), str(broker.port), str(protocol.value), *creds().values()],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as child:
        try:
            assert child.stdout is not None
            assert child.stdin is not None
            assert child.stdout.readline() == "published\n", child.communicate(timeout=5)
            broker.stop()
            child.stdin.write("stopped\n")
            child.stdin.flush()
            broker.start()
            stdout, stderr = child.communicate(timeout=20)
        finally:
            if child.poll() is None:
                child.kill()

    assert (child.returncode, stdout, stderr) == (0, "resumed, 2 connections\n", "")


def creds() -> dict[str, str]:
    return {"username": "alice", "password": USERS["alice"]}
