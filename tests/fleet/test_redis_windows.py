"""Failure-rate windows shared by a fleet in a real redis-server."""

from __future__ import annotations

import contextlib
import multiprocessing
from typing import Any

import pytest
from freezegun import freeze_time

from resilience import Breaker, CircuitOpenError, Policy, RedisStorage

from .redis_server import RedisServer
from .window_workers import work

WORKERS = 3


def fail() -> None:
    raise ConnectionRefusedError("the service is down")


def ok() -> str:
    return "ok"


def calls(policy: Policy, outcomes: str) -> None:
    """``F`` a retryable failure, ``.`` a success."""
    for outcome in outcomes:
        with contextlib.suppress(ConnectionError):
            policy.call(fail if outcome == "F" else ok)


def flush(policy: Policy) -> None:
    policy._breaker.store.flush()  # type: ignore[union-attr]


def test_three_processes_add_up_to_one_window(redis_server: RedisServer, namespace: str) -> None:
    """Each worker alone holds fewer than min_calls; together they open the circuit."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["resilience", "redis", "tests.fleet.window_workers"])
    results: Any = context.Queue()
    commands: list[Any] = [context.Queue() for _ in range(WORKERS)]
    processes = [
        context.Process(target=work, args=(i, redis_server.url, namespace, q, results), daemon=True)
        for i, q in enumerate(commands)
    ]
    for process in processes:
        process.start()
    try:
        assert sorted(results.get(timeout=30) for _ in range(WORKERS)) == [
            (i, "ready", "closed") for i in range(WORKERS)
        ]
        for index, queue in enumerate(commands):  # 10 calls each, 5 failing: 50 % < min_calls
            for command in ["fail", "ok"] * 5:
                queue.put(command)
            outcomes = [results.get(timeout=30) for _ in range(10)]
            assert [o[1] for o in outcomes] == ["failed", "ok"] * 5
            # The 30th call of the fleet may be flushed (and open the circuit) before the
            # last worker reads its state: up to the 29th, it is closed everywhere.
            assert {o[2] for o in outcomes[: 10 if index < WORKERS - 1 else 9]} == {"closed"}
            queue.put("flush")
            assert results.get(timeout=30)[:2] == (index, "flushed")
        client = redis_server.client()
        key = f"{{{namespace}:fleet-rate}}:rate"
        assert client.hget(key, "state") in (b"open",)  # the third batch reached 30 calls
        for queue in commands:
            queue.put("flush")
        assert {results.get(timeout=30)[2] for _ in range(WORKERS)} == {"open"}
        for queue in commands:
            queue.put("ok")
        assert {results.get(timeout=30)[1] for _ in range(WORKERS)} == {"refused"}
    finally:
        for queue in commands:
            queue.put("stop")
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()


@pytest.fixture(name="storage")
def _storage(redis_server: RedisServer, namespace: str) -> RedisStorage:
    return RedisStorage(url=redis_server.url, namespace=namespace)


def test_a_shared_count_window_slides_batch_by_batch(storage: RedisStorage) -> None:
    breaker = Breaker(failure_rate=0.5, window=10, min_calls=10, storage=storage)
    one, two = Policy("slide", breaker=breaker), Policy("slide", breaker=breaker)
    circuit = one.circuit
    assert circuit is not None
    # Each policy flushes before the other calls, so the batches lie in Redis in call order
    # (a helper thread may have sent part of one earlier: a batch split that way trims alike).
    calls(one, "FF...")
    flush(one)
    calls(two, "FF...")
    flush(two)
    assert (circuit.calls, circuit.failures, circuit.state) == (10, 4, "closed")
    calls(two, "....")  # pushes out 4 of the first batch's 5 calls, and 2 of its 2 failures
    flush(two)  # (pro rata, rounded: 2 * 4 / 5 = 1.6)
    assert (circuit.calls, circuit.failures) == (10, 2)
    calls(one, "FFFFF")
    flush(one)
    assert one.breaker_state == "open"
    assert two.breaker_state in ("open", "closed")  # learnt at its next flush
    flush(two)
    assert two.breaker_state == "open"
    with pytest.raises(CircuitOpenError):
        two.call(ok)


def test_a_healthy_call_costs_no_round_trip(
    storage: RedisStorage, redis_server: RedisServer
) -> None:
    policy = Policy("quiet", breaker=Breaker(failure_rate=0.5, storage=storage))
    policy.call(ok)  # the first call learns the state
    client = redis_server.client()
    before = int(client.info("stats")["total_commands_processed"])
    for _ in range(200):
        policy.call(ok)
    after = int(client.info("stats")["total_commands_processed"])
    assert after - before <= 4  # the info command itself, and a flush or two at most


def test_a_shared_time_window_and_its_half_open_trials(storage: RedisStorage) -> None:
    breaker = Breaker(
        failure_rate=0.5, window_seconds=10, min_calls=4, reset_timeout=30, half_open_calls=2,
        storage=storage,
    )  # fmt: skip
    one, two = Policy("timed", breaker=breaker), Policy("timed", breaker=breaker)
    with freeze_time("2025-01-01 12:00:00") as clock:
        calls(one, "F..")
        flush(one)
        clock.tick(11)  # those left the window
        calls(two, "F.")
        calls(one, "F.")
        for policy in (one, two, one):  # the last flush learns what the others did
            flush(policy)
        assert (one.breaker_state, two.breaker_state) == ("open", "open")  # 2 of 4 in 10 s
        with pytest.raises(CircuitOpenError):
            two.call(ok)
        clock.tick(30)
        calls(one, ".")  # trial 1 of 2, fleet-wide
        assert one.breaker_state == "half-open"
        flush(two)
        assert two.breaker_state == "half-open"
        calls(two, ".")  # trial 2: none failed
        assert two.breaker_state == "closed"
        flush(one)
        assert one.breaker_state == "closed"


def test_redis_going_away_leaves_the_circuit_in_process(
    storage: RedisStorage, redis_server: RedisServer
) -> None:
    policy = Policy(
        "away", breaker=Breaker(failure_rate=0.5, window=4, min_calls=4, storage=storage)
    )
    policy.call(ok)
    redis_server.stop()
    calls(policy, "FF..")
    flush(policy)
    calls(policy, "FFFF")
    assert policy.breaker_state == "open"


def test_asyncio_tasks_add_up_in_the_shared_window(storage: RedisStorage) -> None:
    import asyncio

    breaker = Breaker(failure_rate=0.5, window=10_000, min_calls=10_000, storage=storage)
    policy = Policy("tasks", breaker=breaker)

    @policy
    async def service(fail: bool) -> str:
        await asyncio.sleep(0)
        if fail:
            raise ConnectionRefusedError("the service is down")
        return "ok"

    async def task() -> None:
        for number in range(4):
            with contextlib.suppress(ConnectionError):
                await service(number == 0)

    async def main() -> None:
        await asyncio.gather(*(task() for _ in range(1000)))

    asyncio.run(main())
    circuit = policy.circuit
    assert circuit is not None
    assert (circuit.calls, circuit.failures, circuit.state) == (4_000, 1_000, "closed")


def test_a_window_evicted_from_redis_starts_again_without_an_outage(
    storage: RedisStorage, redis_server: RedisServer, events: list[dict[str, object]]
) -> None:
    policy = Policy(
        "evicted", breaker=Breaker(failure_rate=0.5, window=5, min_calls=5, storage=storage)
    )
    circuit = policy.circuit
    assert circuit is not None
    calls(policy, "....")
    flush(policy)
    redis_server.client().delete(f"{storage.tag('evicted')}:rate:calls")  # maxmemory, say
    calls(policy, "..")
    assert (circuit.calls, circuit.failures, circuit.state) == (2, 0, "closed")
    assert not [e for e in events if e["event"] == "storage.unavailable"]
