"""Redis hanging, paused or slow: no call waits longer than the storage's bound, none fails
because of Redis, and the outage is logged once each way."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from resilience import Breaker, CircuitOpenError, Policy, RedisStorage
from tests.helpers import CLASSIFIER, Flaky, Script, named

from .redis_server import RedisServer, wait_until

TIMEOUT = 0.1
#: The longest a call may wait on Redis: connecting, then one command (see docs/fleet.md).
BOUND = 2 * TIMEOUT + 0.05


def storage_of(server: RedisServer, namespace: str) -> RedisStorage:
    return RedisStorage(
        url=server.url, namespace=namespace, timeout=TIMEOUT, reconnect_interval=0.05
    )


def timed(fn: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    try:
        outcome = fn()
    except (Flaky, CircuitOpenError) as exc:
        outcome = type(exc).__name__
    return outcome, time.perf_counter() - start


@pytest.fixture(name="hang")
def _hang(redis_server: RedisServer) -> Iterator[Any]:
    """``hang(how, seconds)``: make the server stop answering, from another connection."""
    threads: list[threading.Thread] = []

    def hang(how: str, seconds: float) -> None:
        admin = redis_server.client()
        admin.ping()
        if how == "client pause":
            admin.client_pause(int(seconds * 1000))  # every other client's commands wait
            return
        thread = threading.Thread(target=admin.execute_command, args=("DEBUG", "SLEEP", seconds))
        thread.start()  # the whole server blocks, even the subscriber's connection
        threads.append(thread)
        time.sleep(0.01)  # the server has taken the command

    yield hang
    for thread in threads:
        thread.join(timeout=10)


@pytest.mark.parametrize("how", ["debug sleep", "client pause"])
def test_a_hanging_redis_costs_one_bounded_wait_and_no_call(
    redis_server: RedisServer, namespace: str, events: list[dict[str, Any]], hang: Any, how: str
) -> None:
    storage = storage_of(redis_server, namespace)
    policy = Policy("svc", breaker=Breaker(fail_max=2, storage=storage), classifier=CLASSIFIER)
    assert policy.call(Script()) == "ok"
    link = storage.link()
    wait_until(lambda: link.watch.synced, "the subscription")

    hang(how, 0.5)
    outcome, took = timed(lambda: policy.call(Script()))
    assert outcome == "ok"
    assert took < TIMEOUT / 2  # healthy: the mirror, no round trip
    outcome, took = timed(lambda: policy.call(Script(Flaky("down"))))
    assert outcome == "Flaky"  # the service's own error, never Redis'
    assert TIMEOUT * 0.8 <= took <= BOUND  # the failure is written: one timeout
    for _ in range(3):  # in process now: no waiting at all
        outcome, took = timed(lambda: policy.call(Script(Flaky("down"))))
        assert took < TIMEOUT / 2
    assert outcome == "CircuitOpenError"  # the local breaker opened meanwhile
    assert [e["event"] for e in events if e["event"].startswith("storage.")] == [
        "storage.unavailable"
    ]
    assert named(events, "storage.unavailable")[0]["error"] == "TimeoutError"

    wait_until(lambda: link.up is True, "Redis to answer again")
    assert policy.call(Script()) == "ok"  # Redis' state: closed, the local outage forgotten
    assert len(named(events, "storage.unavailable")) == 1
    assert len(named(events, "storage.restored")) == 1


def test_a_slow_redis_under_the_timeout_is_waited_for(
    redis_server: RedisServer, namespace: str, events: list[dict[str, Any]], hang: Any
) -> None:
    storage = storage_of(redis_server, namespace)
    policy = Policy("svc", breaker=Breaker(fail_max=2, storage=storage), classifier=CLASSIFIER)
    assert policy.call(Script()) == "ok"
    wait_until(lambda: storage.link().watch.synced, "the subscription")
    hang("client pause", TIMEOUT / 2)
    outcome, took = timed(lambda: policy.call(Script(Flaky("down"))))
    assert outcome == "Flaky"
    assert took <= BOUND
    assert redis_server.client().hget(f"{{{namespace}:svc}}:breaker", "failures") == b"1"
    assert named(events, "storage.unavailable") == []
