"""A fleet of worker processes sharing one circuit in a real redis-server."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator
from typing import Any

import pytest

from .redis_server import RedisServer, state_in_redis, wait_until
from .workers import work

WORKERS = 3


class Fleet:
    """Worker processes (spawned) and the queues to drive them."""

    def __init__(self, url: str, namespace: str, half_open_calls: int) -> None:
        # forkserver: separate processes as with spawn (no state inherited from pytest), but
        # started from one preloaded server, so each worker costs milliseconds, not an import.
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["resilience", "redis", "tests.fleet.workers"])
        self.results: Any = context.Queue()
        self.go: Any = context.Event()
        self.commands: list[Any] = [context.Queue() for _ in range(WORKERS)]
        self.processes = [
            context.Process(
                target=work,
                args=(i, url, namespace, half_open_calls, q, self.results, self.go),
                daemon=True,
            )
            for i, q in enumerate(self.commands)
        ]
        for process in self.processes:
            process.start()
        assert sorted(self.collect(WORKERS)) == [(i, "ready", False) for i in range(WORKERS)]

    def send(self, index: int, command: str) -> None:
        self.commands[index].put(command)

    def collect(self, count: int) -> list[tuple[int, str, bool]]:
        return [self.results.get(timeout=30) for _ in range(count)]

    def ask(self, index: int, command: str) -> tuple[str, bool]:
        self.send(index, command)
        (got, outcome, reached) = self.collect(1)[0]
        assert got == index
        return outcome, reached

    def close(self) -> None:
        self.go.set()
        for queue in self.commands:
            queue.put("stop")
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()


@pytest.fixture(name="make_fleet")
def _make_fleet(redis_server: RedisServer, namespace: str) -> Iterator[Any]:
    fleets: list[Fleet] = []

    def make(half_open_calls: int = 1) -> Fleet:
        fleets.append(Fleet(redis_server.url, namespace, half_open_calls))
        return fleets[-1]

    yield make
    for fleet in fleets:
        fleet.close()


def test_when_one_worker_trips_the_circuit_the_others_refuse_their_next_call(
    make_fleet: Any,
) -> None:
    fleet = make_fleet()
    for index in range(WORKERS):  # each mirrors the circuit and listens
        assert fleet.ask(index, "ok") == ("ok", True)
        wait_until(lambda index=index: fleet.ask(index, "state")[1], "the subscription")
    assert [fleet.ask(0, "fail") for _ in range(3)] == [("failed", True)] * 3
    for index in (1, 2):  # told by pub/sub (Redis is not read: the mirror is current)
        wait_until(lambda index=index: fleet.ask(index, "state")[0] == "open", "the message")
    assert fleet.ask(1, "ok") == ("refused", False)
    assert fleet.ask(2, "ok") == ("refused", False)
    assert fleet.ask(0, "ok") == ("refused", False)


@pytest.mark.parametrize("half_open_calls", [1, 2])
def test_half_open_trials_are_limited_fleet_wide(
    make_fleet: Any, redis_server: RedisServer, namespace: str, half_open_calls: int
) -> None:
    fleet = make_fleet(half_open_calls)
    for index in (0, 1, 2):  # failures from every worker add up to fail_max=3
        assert fleet.ask(index, "fail") == ("failed", True)
    assert fleet.ask(1, "ok") == ("refused", False)

    # Move the fleet's clock: the circuit opened a minute ago .
    redis_server.client().hset(f"{{{namespace}:fleet}}:breaker", "opened_at", time.time() - 60)
    for index in range(WORKERS):  # an edit by hand is not announced: the safety net's re-read
        assert fleet.ask(index, "refresh") == ("refreshed", False)
    for index in range(WORKERS):
        fleet.send(index, "wait")  # trial calls wait for `go` inside the service
    refused = fleet.collect(WORKERS - half_open_calls)
    assert all(outcome == "refused" and not reached for _, outcome, reached in refused)
    admitted = {0, 1, 2} - {index for index, _, _ in refused}
    assert len(admitted) == half_open_calls
    assert state_in_redis(redis_server, namespace, "fleet") == "half-open"

    fleet.go.set()
    assert sorted(fleet.collect(half_open_calls)) == [(i, "ok", True) for i in sorted(admitted)]
    assert state_in_redis(redis_server, namespace, "fleet") == "closed"
    assert [fleet.ask(i, "ok") for i in range(WORKERS)] == [("ok", True)] * WORKERS
