"""Retry budgets: retries stay under a share of recent calls, in process or shared in Redis."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from freezegun import freeze_time

from resilience import Backoff, Budget, Fallback, Policy, Queue, RedisStorage, Retry
from tests.helpers import CLASSIFIER, Flaky, QueueFull, Script, named

from .redis_server import RedisServer, free_port, wait_until

pytestmark = pytest.mark.usefixtures("no_wait")

FAST = Backoff(initial=0.01, maximum=0.01, jitter="none")


def budgeted(budget: Budget, attempts: int = 3, **parts: Any) -> Policy:
    retry = Retry(attempts=attempts, backoff=FAST, budget=budget)
    return Policy("svc", retry=retry, classifier=CLASSIFIER, **parts)


def down() -> Script:
    return Script(*(Flaky(f"down {i}") for i in range(100)))


def test_budget_defaults_and_validation() -> None:
    assert Budget() == Budget(ratio=0.1, min_per_second=1.0, window=10.0, storage=None)
    assert Budget(window=timedelta(seconds=30)).window == 30.0  # type: ignore[arg-type]
    assert Budget(ratio=0).ratio == 0.0
    with pytest.raises(ValueError, match=r"Budget\.ratio must be from 0 to 1"):
        Budget(ratio=1.5)
    with pytest.raises(ValueError, match=r"Budget\.ratio"):
        Budget(ratio=-0.1)
    with pytest.raises(TypeError, match=r"Budget\.ratio must be a number \(got '10%'\)"):
        Budget(ratio="10%")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"Budget\.ratio must be a finite number"):
        Budget(ratio=float("nan"))
    with pytest.raises(ValueError, match=r"Budget\.min_per_second must be >= 0"):
        Budget(min_per_second=-1)
    with pytest.raises(TypeError, match=r"Budget\.min_per_second"):
        Budget(min_per_second=True)
    with pytest.raises(ValueError, match=r"Budget\.window must be > 0"):
        Budget(window=0)
    with pytest.raises(TypeError, match=r"Budget\.storage must be None .* or a RedisStorage"):
        Budget(storage="redis://localhost")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"Retry\.budget must be a Budget or None \(got float\)"):
        Retry(budget=0.1)  # type: ignore[arg-type]
    assert Budget().replace(ratio=0.2).ratio == 0.2
    with pytest.raises(ValueError, match=r"Budget\.ratio"):
        Budget().replace(ratio=2)


def test_retries_stay_under_the_share_of_calls(events: list[dict[str, Any]]) -> None:
    with freeze_time("2030-01-01"):
        policy = budgeted(Budget(ratio=0.1, min_per_second=0, window=10))
        for _ in range(19):
            assert policy.call(Script()) == "ok"
        first = down()
        with pytest.raises(Flaky):
            policy.call(first)  # call 20: 2 retries <= 10 % of 20
        assert len(first.calls) == 3
        second = down()
        with pytest.raises(Flaky) as refused:
            policy.call(second)  # call 21: a third retry would exceed 2.1
        assert len(second.calls) == 1
    assert refused.value.__notes__ == ["policy 'svc' gave up after 1 attempt in 0.0 s (budget)"]
    (exhausted,) = named(events, "budget.exhausted")
    assert exhausted == {
        "event": "budget.exhausted",
        "policy": "svc",
        "attempt": 1,
        "category": "retryable",
        "ratio": 0.1,
        "error": "Flaky",
        "error_message": "down 0",
        "log_level": "warning",
    }
    assert named(events, "retry.gave_up")[-1]["reason"] == "budget"


def test_an_exhausted_budget_hands_over_to_the_fallback(events: list[dict[str, Any]]) -> None:
    policy = budgeted(Budget(ratio=0, min_per_second=0), fallback=Fallback(lambda: "cached"))
    script = down()
    assert policy.call(script) == "cached"
    assert len(script.calls) == 1
    assert named(events, "fallback.used")[0]["category"] == "retryable"


def test_the_window_slides() -> None:
    with freeze_time("2030-01-01") as frozen:
        policy = budgeted(Budget(ratio=0.5, min_per_second=0, window=10))
        for _ in range(10):
            policy.call(Script())
        frozen.tick(timedelta(seconds=5))
        script = down()
        with pytest.raises(Flaky):
            policy.call(script)
        assert len(script.calls) == 3  # 10 earlier calls in the window
        frozen.tick(timedelta(seconds=10))
        script = down()
        with pytest.raises(Flaky):
            policy.call(script)
        assert len(script.calls) == 1  # those calls left the window: 0.5 x 1 call < 1 retry


def test_the_reserve_lets_a_quiet_policy_retry() -> None:
    with freeze_time("2030-01-01") as frozen:
        policy = budgeted(Budget(ratio=0, min_per_second=0.2, window=10), attempts=10)
        script = down()
        with pytest.raises(Flaky):
            policy.call(script)
        assert len(script.calls) == 3  # 0.2/s x 10 s: two retries per window
        frozen.tick(timedelta(seconds=11))
        script = down()
        with pytest.raises(Flaky):
            policy.call(script)
        assert len(script.calls) == 3


def test_queue_retries_do_not_spend_the_budget() -> None:
    queue = Queue(action="retry", attempts=4, backoff=FAST)
    policy = budgeted(Budget(ratio=0, min_per_second=0), queue=queue)
    script = Script(QueueFull("1"), QueueFull("2"), QueueFull("3"))
    assert policy.call(script) == "ok"


async def test_async_calls_are_held_to_the_budget_too() -> None:
    policy = budgeted(Budget(ratio=0.1, min_per_second=0))
    for _ in range(9):
        assert await policy.acall(Script().acall) == "ok"
    first, second = down(), down()
    with pytest.raises(Flaky):
        await policy.acall(first.acall)
    with pytest.raises(Flaky):
        await policy.acall(second.acall)
    assert (len(first.calls), len(second.calls)) == (2, 1)


def test_retrying_blocks_count_as_calls() -> None:
    policy = budgeted(Budget(ratio=0.5, min_per_second=0))
    for attempt in policy.attempts():
        with attempt:
            pass
    failures = 0
    with pytest.raises(Flaky):
        for attempt in policy.attempts():
            with attempt:
                failures += 1
                raise Flaky("down")
    assert failures == 2  # two calls: one retry


def test_without_a_budget_nothing_is_counted() -> None:
    policy = Policy("svc", retry=Retry(attempts=3, backoff=FAST), classifier=CLASSIFIER)
    script = down()
    with pytest.raises(Flaky):
        policy.call(script)
    assert len(script.calls) == 3


# --- shared in Redis -------------------------------------------------------------------------


def shared(server: RedisServer, namespace: str, **budget: Any) -> Policy:
    # A generous timeout: a decision that timed out on a busy machine would go local
    storage = RedisStorage(url=server.url, namespace=namespace, timeout=2.0)
    spec = {"ratio": 0.1, "min_per_second": 0, "window": 10, **budget}
    return budgeted(Budget(storage=storage, **spec))


def test_a_shared_budget_counts_the_whole_fleet(redis_server: RedisServer, namespace: str) -> None:
    with freeze_time("2030-01-01 00:00:00.5") as frozen:
        busy, failing = shared(redis_server, namespace), shared(redis_server, namespace)
        for _ in range(30):
            assert busy.call(Script()) == "ok"
        frozen.tick(timedelta(seconds=1))
        busy.call(Script())  # a new bucket: the last one's calls go to Redis, off this path

        key = f"{{{namespace}:svc}}:budget"
        client = redis_server.client()
        # (the 31st call may go along, depending on when the helper thread runs)
        wait_until(lambda: sum(int(v) for v in client.hvals(key)) >= 30, "the flush")

        retries = 0
        for _ in range(10):
            script = down()
            with pytest.raises(Flaky):
                failing.call(script)
            retries += len(script.calls) - 1
        # 30 or 31 calls of the busy worker and 10 of the failing one: 10 % of 40 or 41
        assert retries == 4
        assert 0 < client.pttl(key) <= 20_000


def test_a_shared_budget_decides_locally_while_redis_is_down(
    namespace: str, events: list[dict[str, Any]]
) -> None:
    storage = RedisStorage(url=f"redis://:pw@127.0.0.1:{free_port()}/0", namespace=namespace)
    policy = budgeted(Budget(ratio=0.1, min_per_second=0, storage=storage))
    for _ in range(9):
        assert policy.call(Script()) == "ok"
    script = down()
    with pytest.raises(Flaky):
        policy.call(script)
    assert len(script.calls) == 2
    (warning,) = named(events, "storage.unavailable")
    assert warning["component"] == "budget"
    assert "pw" not in warning["storage"]


async def test_a_shared_budget_never_blocks_the_event_loop(
    redis_server: RedisServer, namespace: str
) -> None:
    policy = shared(redis_server, namespace, ratio=1.0)
    script = Script(Flaky("once"))
    assert await policy.acall(script.acall) == "ok"
    assert redis_server.client().hgetall(f"{{{namespace}:svc}}:budget")
