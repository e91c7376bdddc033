"""The small internal API other Redis-backed stores build on: hash-tagged keys, scripts run
by SHA with failover, on one redis-server and on a Redis Cluster."""

from __future__ import annotations

import multiprocessing
import threading
from typing import Any

import pytest

from resilience import RedisStorage
from resilience.stores.redis import background
from tests.helpers import named

from .redis_server import free_port

#: Two keys of one policy in one script: a CROSSSLOT error on a cluster unless they share a tag.
_SWAP = """
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2])}
"""


@pytest.fixture(name="url", params=["redis", "cluster"])
def _url(request: pytest.FixtureRequest, make_redis: Any) -> str:
    if request.param == "cluster":
        return str(request.getfixturevalue("healthy").url)
    return str(make_redis().start().url)


def test_a_script_over_keys_of_one_policy(
    url: str, namespace: str, events: list[dict[str, Any]]
) -> None:
    storage = RedisStorage(url=url, namespace=namespace)
    keys = [storage.key("limits", "tokens"), storage.key("limits", "stamp")]
    assert keys == [f"{{{namespace}:limits}}:tokens", f"{{{namespace}:limits}}:stamp"]
    link = storage.link()
    script = link.script(_SWAP)
    assert link.script(_SWAP) is script  # one per source and link
    for _ in range(2):  # loaded (EVAL) the first time, by SHA afterwards
        ran, result = link.run(lambda client: script(client, keys, [1, 2]), "limits", "limiter")
        assert (ran, result) == (True, [b"1", b"2"])
    assert named(events, "storage.unavailable") == []


def test_run_fails_over_once(namespace: str, events: list[dict[str, Any]]) -> None:
    storage = RedisStorage(url=f"redis://127.0.0.1:{free_port()}/0", namespace=namespace)
    link = storage.link()
    generation = link.generation
    assert link.run(lambda client: client.ping(), "limits", "limiter") == (False, None)
    assert link.run(lambda client: client.ping(), "limits", "limiter") == (False, None)
    assert link.generation == generation + 1  # stores start fresh local state per outage
    assert not link.pending()  # nothing is tried before reconnect_interval
    (warning,) = named(events, "storage.unavailable")
    assert warning["component"] == "limiter"


def test_every_shared_element_builds_on_a_cluster_nobody_answers(
    namespace: str, events: list[dict[str, Any]]
) -> None:
    from resilience import Breaker, Budget, Policy, RateLimit, Retry

    storage = RedisStorage(url=f"redis+cluster://127.0.0.1:{free_port()}", namespace=namespace)
    policies = [
        Policy("consecutive", breaker=Breaker(storage=storage)),
        Policy("rate", breaker=Breaker(failure_rate=0.5, storage=storage)),
        Policy("limited", rate_limit=RateLimit(rate=100, storage=storage)),
        Policy("budgeted", retry=Retry(budget=Budget(storage=storage))),
    ]
    assert events == []  # built: nothing asked of Redis
    for policy in policies:
        assert policy.call(lambda: "ok") == "ok"  # Redis can't be reached: in process
    assert len(named(events, "storage.unavailable")) == 1


def test_a_forked_child_runs_its_background_writes() -> None:
    """Budgets' and windows' batches go through one helper thread; a forked child (a
    pre-forking server's worker) has none of its parent's threads, so it makes its own."""
    ran = threading.Event()
    background(ran.set)  # the parent's helper thread now exists
    assert ran.wait(5)
    context = multiprocessing.get_context("fork")
    results: Any = context.Queue()

    def child() -> None:
        done = threading.Event()
        background(done.set)
        results.put(done.wait(5))

    process = context.Process(target=child)
    process.start()
    try:
        assert results.get(timeout=20) is True
    finally:
        process.join(timeout=10)
        if process.is_alive():
            process.kill()
