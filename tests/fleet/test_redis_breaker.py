"""Breaker state in Redis: two Policy objects with the same name and storage are two workers
(on one redis-server, and on a Redis Cluster)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from freezegun import freeze_time

from resilience import Breaker, Circuit, CircuitOpenError, Policy, RedisStorage
from tests.helpers import CLASSIFIER, Flaky, Script, named

from .redis_server import RedisServer, state_in_redis


@pytest.fixture(name="redis_server", params=["redis", "cluster"])
def _redis_or_cluster(request: pytest.FixtureRequest, make_redis: Any) -> Any:
    """Every test here runs on one redis-server, then on a three-master Redis Cluster."""
    if request.param == "cluster":
        return request.getfixturevalue("healthy")
    return make_redis().start()


def fleet(server: RedisServer, namespace: str, name: str = "svc", **breaker: Any) -> Policy:
    """One worker's policy: its circuit lives in Redis under ``namespace``."""
    storage = RedisStorage(url=server.url, namespace=namespace)
    spec = {"fail_max": 2, "reset_timeout": 30.0, **breaker}
    return Policy(name, breaker=Breaker(storage=storage, **spec), classifier=CLASSIFIER)


def circuit(policy: Policy) -> Circuit:
    assert policy.circuit is not None
    return policy.circuit


def trip(policy: Policy, times: int = 2) -> None:
    for _ in range(times):
        with pytest.raises(Flaky):
            policy.call(Script(Flaky("down")))


def test_state_lives_in_redis_under_the_namespace_and_policy(
    redis_server: RedisServer, namespace: str
) -> None:
    policy = fleet(redis_server, namespace)
    trip(policy)
    keys = {k.decode() for k in redis_server.keys(f"{{{namespace}:*")}
    assert f"{{{namespace}:svc}}:breaker" in keys  # one hash tag: one slot of a cluster
    assert state_in_redis(redis_server, namespace, "svc") == "open"
    assert policy.breaker_state == "open"


def test_a_circuit_tripped_by_one_worker_refuses_calls_in_the_other(
    redis_server: RedisServer, namespace: str, events: list[dict[str, Any]]
) -> None:
    worker_a, worker_b = fleet(redis_server, namespace), fleet(redis_server, namespace)
    trip(worker_a)
    script = Script()
    with pytest.raises(CircuitOpenError) as refused:
        worker_b.call(script)
    assert script.calls == []
    assert 29 < refused.value.remaining <= 30
    assert worker_b.breaker_state == "open"
    assert len(named(events, "breaker.opened")) == 1
    assert circuit(worker_b).rejected == 1
    assert named(events, "breaker.rejected") == []  # logged when worker B sees it close


def test_policies_and_namespaces_are_separate_circuits(
    redis_server: RedisServer, namespace: str
) -> None:
    trip(fleet(redis_server, namespace, "one"))
    assert fleet(redis_server, namespace, "two").call(Script()) == "ok"
    assert fleet(redis_server, namespace + "-other", "one").call(Script()) == "ok"
    assert fleet(redis_server, namespace, "one").breaker_state == "open"


def test_failures_in_different_workers_add_up(redis_server: RedisServer, namespace: str) -> None:
    worker_a, worker_b = fleet(redis_server, namespace), fleet(redis_server, namespace)
    trip(worker_a, times=1)
    assert circuit(worker_b).failures == 1
    trip(worker_b, times=1)
    assert worker_a.breaker_state == "open"


def test_a_success_anywhere_resets_the_run_of_failures(
    redis_server: RedisServer, namespace: str
) -> None:
    worker_a, worker_b = fleet(redis_server, namespace), fleet(redis_server, namespace)
    trip(worker_a, times=1)
    assert worker_b.call(Script()) == "ok"
    trip(worker_a, times=1)
    assert worker_a.breaker_state == "closed"


def test_half_open_admits_one_trial_fleet_wide_and_closes_everywhere(
    redis_server: RedisServer, namespace: str, events: list[dict[str, Any]]
) -> None:
    with freeze_time("2030-01-01 00:00:00") as frozen:
        worker_a, worker_b = fleet(redis_server, namespace), fleet(redis_server, namespace)
        trip(worker_a)
        frozen.tick(timedelta(seconds=31))
        with worker_a.guard():  # the trial, in flight in worker A
            assert worker_a.breaker_state == "half-open"
            with pytest.raises(CircuitOpenError) as refused:
                worker_b.call(Script())
            assert refused.value.remaining == 0
        assert worker_b.breaker_state == "closed"
        assert worker_b.call(Script()) == "ok"
    assert [e["event"] for e in events if e["event"].startswith("breaker.")] == [
        "breaker.opened",
        "breaker.half_opened",
        "breaker.closed",
        "breaker.rejected",  # worker B's refusal, logged when worker B sees the circuit closed
    ]
    assert named(events, "breaker.rejected")[0]["rejected"] == 1


def test_half_open_calls_limits_trials_across_workers(
    redis_server: RedisServer, namespace: str
) -> None:
    with freeze_time("2030-01-01 00:00:00") as frozen:
        workers = [fleet(redis_server, namespace, half_open_calls=2) for _ in range(3)]
        trip(workers[0])
        frozen.tick(timedelta(seconds=31))
        with workers[0].guard(), workers[1].guard():
            with pytest.raises(CircuitOpenError):
                workers[2].call(Script())
            assert workers[2].breaker_state == "half-open"
        assert workers[2].breaker_state == "closed"


def test_a_failed_trial_reopens_the_circuit_for_everyone(
    redis_server: RedisServer, namespace: str
) -> None:
    with freeze_time("2030-01-01 00:00:00") as frozen:
        worker_a, worker_b = fleet(redis_server, namespace), fleet(redis_server, namespace)
        trip(worker_a)
        frozen.tick(timedelta(seconds=31))
        with pytest.raises(Flaky):
            worker_a.call(Script(Flaky("still down")))
        with pytest.raises(CircuitOpenError) as refused:
            worker_b.call(Script())
        assert refused.value.remaining > 29


def test_a_trial_lease_expires_when_its_worker_dies(
    redis_server: RedisServer, namespace: str
) -> None:
    with freeze_time("2030-01-01 00:00:00") as frozen:
        worker_a, worker_b = fleet(redis_server, namespace), fleet(redis_server, namespace)
        trip(worker_a)
        frozen.tick(timedelta(seconds=31))
        worker_a.guard().__enter__()  # a trial that will never report back
        with pytest.raises(CircuitOpenError):
            worker_b.call(Script())
        # The lease lasts reset_timeout in Redis' own time; expire it as that time would.
        client = redis_server.client()
        leases = redis_server.keys(f"{{{namespace}:svc}}:trial:*")
        assert len(leases) == 1
        assert 0 < client.pttl(leases[0]) <= 30_000
        client.delete(*leases)
        assert worker_b.call(Script()) == "ok"
        assert worker_b.breaker_state == "closed"


def test_trials_taken_and_released_leave_no_lease(
    redis_server: RedisServer, namespace: str
) -> None:
    with freeze_time("2030-01-01 00:00:00") as frozen:
        worker = fleet(redis_server, namespace)
        trip(worker)
        frozen.tick(timedelta(seconds=31))
        assert worker.call(Script()) == "ok"
    assert redis_server.keys(f"{{{namespace}:svc}}:trial:*") == []


async def test_async_calls_share_the_circuit(redis_server: RedisServer, namespace: str) -> None:
    worker_a, worker_b = fleet(redis_server, namespace), fleet(redis_server, namespace)
    for _ in range(2):
        with pytest.raises(Flaky):
            await worker_a.acall(Script(Flaky("down")).acall)
    script = Script()
    with pytest.raises(CircuitOpenError):
        await worker_b.acall(script.acall)
    assert script.calls == []
    with pytest.raises(CircuitOpenError):
        async with worker_a.guard():
            pass  # not reached: the guard refuses on entry
