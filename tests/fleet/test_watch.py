"""Healthy calls send nothing to Redis: each process mirrors the circuit, pub/sub keeps it
current. Counted by Redis itself (``INFO commandstats``)."""

from __future__ import annotations

import asyncio
import multiprocessing
from typing import Any

import pytest

from resilience import Breaker, CircuitOpenError, Policy, RedisStorage
from resilience.stores.redis import Link
from tests.helpers import CLASSIFIER, Flaky, Script

from .redis_server import RedisServer, wait_until


def worker(server: RedisServer, namespace: str, **storage: Any) -> tuple[Policy, Link]:
    """A policy on its own link (a storage value of its own), as another process has."""
    spec = RedisStorage(url=server.url, namespace=namespace, **storage)
    breaker = Breaker(fail_max=3, reset_timeout=30.0, storage=spec)
    policy = Policy("svc", breaker=breaker, classifier=CLASSIFIER)
    assert policy.call(Script()) == "ok"  # first use: one read, then the subscription
    link = spec.link()
    wait_until(lambda: link.watch.synced, "the subscription")
    return policy, link


class Counts:
    """Redis's own count of the commands it ran (``INFO commandstats``), from one
    connection of the test's, whose ``INFO`` and ``CONFIG RESETSTAT`` are left out."""

    def __init__(self, server: RedisServer) -> None:
        self.admin = server.client()
        self.admin.ping()

    def reset(self) -> None:
        self.admin.config_resetstat()

    def __call__(self) -> dict[str, int]:
        stats = self.admin.info("commandstats")
        found = {name.removeprefix("cmdstat_"): int(e["calls"]) for name, e in stats.items()}
        return {name: n for name, n in found.items() if name not in ("info", "config|resetstat")}


def test_ten_thousand_healthy_calls_send_no_command(
    redis_server: RedisServer, namespace: str
) -> None:
    policy, _ = worker(redis_server, namespace, refresh_interval=600)
    commands = Counts(redis_server)
    commands.reset()
    for _ in range(10_000):
        assert policy.call(Script()) == "ok"
    assert commands() == {}


def test_each_failure_is_one_round_trip(redis_server: RedisServer, namespace: str) -> None:
    policy, _ = worker(redis_server, namespace, refresh_interval=600)
    with pytest.raises(Flaky):  # the script's first use loads it (EVAL after NOSCRIPT)
        policy.call(Script(Flaky("down")))
    assert policy.call(Script()) == "ok"
    commands = Counts(redis_server)
    commands.reset()
    for _ in range(2):
        with pytest.raises(Flaky):
            policy.call(Script(Flaky("down")))
    stats = commands()
    assert stats.pop("evalsha") == 2  # one script per failure ...
    # ... and what the scripts ran inside (one HMGET each reads the state to return)
    assert stats == {"hget": 2, "hincrby": 4, "hmget": 2, "publish": 2}
    with pytest.raises(Flaky):
        policy.call(Script(Flaky("down")))  # the third opens the circuit
    commands.reset()
    for _ in range(100):
        with pytest.raises(CircuitOpenError):
            policy.call(Script())
    assert commands() == {}  # refusals are decided in process too


def test_a_circuit_opened_elsewhere_reaches_this_process_by_pub_sub(
    redis_server: RedisServer, namespace: str
) -> None:
    one, _ = worker(redis_server, namespace, timeout=0.4)
    other, link = worker(redis_server, namespace, timeout=0.3)
    for _ in range(3):
        with pytest.raises(Flaky):
            one.call(Script(Flaky("down")))
    mirror = link.watch.mirror(f"{{{namespace}:svc}}:breaker", "svc")
    wait_until(lambda: mirror.snapshot[0] == "open", "the message")
    commands = Counts(redis_server)
    commands.reset()
    script = Script()
    with pytest.raises(CircuitOpenError):
        other.call(script)
    assert script.calls == []
    assert commands() == {}
    assert one.circuit is not None
    one.circuit.close()
    wait_until(lambda: mirror.snapshot[0] == "closed", "the close")
    assert other.call(Script()) == "ok"


def test_failures_are_known_everywhere_and_a_success_anywhere_ends_the_run(
    redis_server: RedisServer, namespace: str
) -> None:
    one, _ = worker(redis_server, namespace)
    other, link = worker(redis_server, namespace, timeout=0.3)
    for _ in range(2):
        with pytest.raises(Flaky):
            one.call(Script(Flaky("down")))
    mirror = link.watch.mirror(f"{{{namespace}:svc}}:breaker", "svc")
    wait_until(lambda: mirror.failures == 2, "the failures")
    assert other.call(Script()) == "ok"  # ends the fleet's run of failures
    with pytest.raises(Flaky):
        one.call(Script(Flaky("down")))
    assert one.breaker_state == "closed"


def test_the_safety_net_rereads_what_no_message_announced(
    redis_server: RedisServer, namespace: str
) -> None:
    policy, _ = worker(redis_server, namespace, refresh_interval=0.05)
    key = f"{{{namespace}:svc}}:breaker"
    redis_server.client().hset(key, mapping={"state": "open", "opened_at": 4102444800.0})
    wait_until(lambda: policy.breaker_state == "open", "the re-read")
    redis_server.client().flushall()  # emptied: lower versions than the mirror's are kept too
    wait_until(lambda: policy.breaker_state == "closed", "the re-read of an empty Redis")


def test_a_forked_worker_listens_for_itself(redis_server: RedisServer, namespace: str) -> None:
    policy, _ = worker(redis_server, namespace)  # used, and listening, before the fork
    context = multiprocessing.get_context("fork")
    results: Any = context.Queue()
    go: Any = context.Event()

    def child() -> None:
        link = RedisStorage(url=redis_server.url, namespace=namespace).link()
        assert policy.call(Script()) == "ok"  # its own read, then its own subscription
        wait_until(lambda: link.watch.synced, "the child's subscription")
        results.put("listening")
        go.wait(10)
        wait_until(lambda: policy.breaker_state == "open", "the message in the child")
        results.put(policy.breaker_state)

    process = context.Process(target=child)
    process.start()
    try:
        assert results.get(timeout=20) == "listening"
        for _ in range(3):
            with pytest.raises(Flaky):
                policy.call(Script(Flaky("down")))
        go.set()
        assert results.get(timeout=20) == "open"
    finally:
        process.join(timeout=10)
        if process.is_alive():
            process.kill()


async def test_healthy_async_calls_stay_on_the_loop_and_failures_leave_it(
    redis_server: RedisServer, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy, _ = worker(redis_server, namespace)
    offloaded: list[str] = []
    real = asyncio.to_thread

    async def to_thread(fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        offloaded.append(getattr(fn, "__name__", repr(fn)))
        return await real(fn, *args, **kwargs)

    monkeypatch.setattr(asyncio, "to_thread", to_thread)
    script = Script()

    @policy
    async def healthy() -> str:
        return await script.acall()

    for _ in range(100):
        assert await healthy() == "ok"
    assert offloaded == []  # the mirror answers: nothing to wait for
    with pytest.raises(Flaky):
        await policy.acall(Script(Flaky("down")).acall)
    assert offloaded != []  # the failure is written, off the loop
    offloaded.clear()
    assert await healthy() == "ok"  # a success after a failure ends the run: written too
    assert offloaded != []


def test_foreign_messages_on_the_channel_are_ignored(
    redis_server: RedisServer, namespace: str
) -> None:
    one, _ = worker(redis_server, namespace, timeout=0.4)
    other, link = worker(redis_server, namespace, timeout=0.3)
    client = redis_server.client()
    for junk in (b"not json", b"[1, 2]", b'{"a": 1}', b'[["unhashable"], "open", "", "0", 1]'):
        client.publish(f"{namespace}:changes", junk)
    for _ in range(3):
        with pytest.raises(Flaky):
            one.call(Script(Flaky("down")))
    wait_until(lambda: other.breaker_state == "open", "the message after the junk")
    assert link.watch.synced
