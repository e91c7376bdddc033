"""One policy under concurrent use: exact counts, no serialization, same for asyncio."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from itertools import count

import pytest

from resilience import Backoff, Breaker, Policy, Retry

from .helpers import CLASSIFIER, Flaky

THREADS = 8
CALLS = 1000


def test_threads_through_one_policy_keep_exact_counts(no_wait: None) -> None:
    policy = Policy(
        "shared",
        retry=Retry(attempts=2, backoff=Backoff(initial=0.001, maximum=0.001)),
        breaker=Breaker(fail_max=10**9),
        classifier=CLASSIFIER,
    )
    invocations = count()
    lock = threading.Lock()
    failed_once: set[int] = set()

    @policy
    def work(i: int) -> int:
        next(invocations)
        if i % 2:  # every odd call fails once, then succeeds on its retry
            with lock:
                first = i not in failed_once
                failed_once.add(i)
            if first:
                raise Flaky(i)
        return i

    def run(thread: int) -> list[int]:
        return [work(thread * CALLS + i) for i in range(CALLS)]

    with ThreadPoolExecutor(THREADS) as pool:
        results = [r for batch in pool.map(run, range(THREADS)) for r in batch]
    assert sorted(results) == list(range(THREADS * CALLS))
    assert next(invocations) == THREADS * CALLS + THREADS * CALLS // 2
    assert policy.breaker_state == "closed"


def test_a_breaker_trips_exactly_once_under_threads() -> None:
    policy = Policy("trip", breaker=Breaker(fail_max=50), classifier=CLASSIFIER)
    refused = count()
    failed = count()

    def fail() -> None:
        raise Flaky

    def run(_: int) -> None:
        for _ in range(100):
            try:
                policy.call(fail)
            except Flaky:
                next(failed)
            except Exception:
                next(refused)

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(run, range(THREADS)))
    assert next(failed) == 50  # exactly fail_max calls reached the function
    assert next(refused) == THREADS * 100 - 50
    assert policy.breaker_state == "open"


def test_a_slow_call_in_one_thread_does_not_hold_up_the_others() -> None:
    policy = Policy("slow", retry=Retry(attempts=3), breaker=Breaker(), classifier=CLASSIFIER)
    others_done = threading.Event()
    slow_entered = threading.Event()
    blocked_by_others: list[bool] = []

    @policy
    def call(slow: bool) -> str:
        if slow:
            slow_entered.set()
            # blocks at most 50 ms; it is released as soon as the other calls are done
            blocked_by_others.append(others_done.wait(timeout=0.05))
        return "ok"

    with ThreadPoolExecutor(2) as pool:
        slow = pool.submit(call, True)
        assert slow_entered.wait(timeout=5)
        assert [call(False) for _ in range(200)] == ["ok"] * 200
        others_done.set()
        assert slow.result() == "ok"
    assert blocked_by_others == [True]  # the others finished while the slow call was inside


async def test_a_thousand_tasks_through_one_policy_keep_exact_counts(no_wait: None) -> None:
    policy = Policy(
        "tasks",
        retry=Retry(attempts=2, backoff=Backoff(initial=0.001, maximum=0.001)),
        breaker=Breaker(fail_max=10**9),
        classifier=CLASSIFIER,
    )
    seen: dict[int, int] = {}

    @policy
    async def work(i: int) -> int:
        seen[i] = seen.get(i, 0) + 1
        await asyncio.sleep(0)
        if i % 3 == 0 and seen[i] == 1:
            raise Flaky(i)
        return i

    results = await asyncio.gather(*(work(i) for i in range(1000)))
    assert results == list(range(1000))
    assert sum(seen.values()) == 1000 + len(range(0, 1000, 3))
    assert policy.breaker_state == "closed"


async def test_a_slow_task_does_not_hold_up_the_others() -> None:
    policy = Policy("slow", breaker=Breaker(), classifier=CLASSIFIER)
    release = asyncio.Event()

    @policy
    async def call(slow: bool) -> str:
        if slow:
            await release.wait()
        return "ok"

    slow = asyncio.ensure_future(call(True))
    await asyncio.sleep(0)
    assert await asyncio.gather(*(call(False) for _ in range(1000))) == ["ok"] * 1000
    assert not slow.done()
    release.set()
    assert await slow == "ok"


@pytest.mark.parametrize("half_open_calls", [1, 3])
def test_half_open_trials_are_limited_across_threads(half_open_calls: int) -> None:
    from datetime import timedelta

    from freezegun import freeze_time

    from resilience import CircuitOpenError

    with freeze_time("2026-01-01 12:00:00") as clock:
        policy = Policy(
            "trials",
            breaker=Breaker(fail_max=1, reset_timeout=1, half_open_calls=half_open_calls),
            classifier=CLASSIFIER,
        )
        with pytest.raises(Flaky):
            policy.call(lambda: (_ for _ in ()).throw(Flaky()))
        clock.tick(timedelta(seconds=2))
        inside = threading.Barrier(half_open_calls + 1, timeout=5)
        release = threading.Event()

        @policy
        def trial() -> str:
            inside.wait()
            assert release.wait(timeout=5)
            return "ok"

        with ThreadPoolExecutor(half_open_calls) as pool:
            futures = [pool.submit(trial) for _ in range(half_open_calls)]
            inside.wait()  # every admitted trial is in flight
            with pytest.raises(CircuitOpenError):
                policy.call(lambda: "one too many")
            release.set()
            assert [f.result() for f in futures] == ["ok"] * half_open_calls
        assert policy.breaker_state == "closed"
