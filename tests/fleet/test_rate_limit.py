"""A rate limit shared in a real redis-server: the fleet together gets the rate, and Redis
trouble never fails a call."""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest

from resilience import Policy, RateLimit, RateLimitedError, RedisStorage
from tests.helpers import named

from .rate_workers import hammer
from .redis_server import RedisServer, free_port

RATE = 50  # calls a second, for the whole fleet
BURST = 5
SECONDS = 2.0
WORKERS = 3


def test_three_processes_share_one_limit_of_r_per_second(
    redis_server: RedisServer, namespace: str
) -> None:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["resilience", "redis", "tests.fleet.rate_workers"])
    manager = context.Manager()
    go, until = manager.Event(), manager.Value("d", 0.0)
    with ProcessPoolExecutor(WORKERS, mp_context=context) as pool:
        futures = [
            pool.submit(hammer, redis_server.url, namespace, RATE, BURST, go, until)
            for _ in range(WORKERS)
        ]
        time.sleep(0.5)  # let the workers import and build their policies
        until.value = time.time() + SECONDS
        go.set()
        passed = [future.result(timeout=60) for future in futures]
    manager.shutdown()

    through = sum(passed) - BURST  # the bucket starts full
    assert through == pytest.approx(RATE * SECONDS, rel=0.10), passed
    assert all(count > 0 for count in passed)  # every worker got a share


def test_the_bucket_is_shared_between_two_policies_in_one_process(
    redis_server: RedisServer, namespace: str
) -> None:
    storage = RedisStorage(url=redis_server.url, namespace=namespace)
    limit = RateLimit(rate=1, per=3600, burst=3, storage=storage)
    first, second = Policy("api", rate_limit=limit), Policy("api", rate_limit=limit)
    assert [first.call(lambda: 1), second.call(lambda: 2), first.call(lambda: 3)] == [1, 2, 3]
    with pytest.raises(RateLimitedError) as caught:
        second.call(lambda: 4)
    assert caught.value.retry_after == pytest.approx(3600, rel=0.01)
    # One key under the policy's hash tag, kept until the bucket would be full again.
    ttl = redis_server.client().pttl(f"{{{namespace}:api}}:rate")
    assert 3 * 3600 * 1000 - 5000 < ttl <= 3 * 3600 * 1000 + 1


def test_a_call_may_wait_for_a_shared_token(
    redis_server: RedisServer, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    slept: list[float] = []
    monkeypatch.setattr("time.sleep", slept.append)
    storage = RedisStorage(url=redis_server.url, namespace=namespace)
    policy = Policy("api", rate_limit=RateLimit(rate=10, burst=1, max_wait=1.0, storage=storage))
    assert [policy.call(int, n) for n in range(3)] == [0, 1, 2]
    assert len(slept) == 2
    assert 0.05 < slept[0] <= 0.1
    assert 0.15 < slept[1] <= 0.2


async def test_async_calls_take_shared_tokens_off_the_event_loop(
    redis_server: RedisServer, namespace: str
) -> None:
    storage = RedisStorage(url=redis_server.url, namespace=namespace)
    policy = Policy("api", rate_limit=RateLimit(rate=1, per=3600, burst=2, storage=storage))

    async def call() -> str:
        return "ok"

    assert [await policy.acall(call), await policy.acall(call)] == ["ok", "ok"]
    with pytest.raises(RateLimitedError):
        await policy.acall(call)


def test_without_redis_each_process_limits_itself_and_no_call_fails(
    events: list[dict[str, Any]],
) -> None:
    storage = RedisStorage(url=f"redis://127.0.0.1:{free_port()}/0", namespace="gone")
    policy = Policy("api", rate_limit=RateLimit(rate=1, per=3600, burst=2, storage=storage))
    assert [policy.call(int, n) for n in range(2)] == [0, 1]
    with pytest.raises(RateLimitedError):
        policy.call(lambda: 2)
    (unavailable,) = named(events, "storage.unavailable")
    assert unavailable["component"] == "rate_limit"
    assert unavailable["policy"] == "api"
