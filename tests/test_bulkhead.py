"""Concurrency (a bulkhead): the limit holds under threads and tasks, measured with a count of
the calls in flight; refusals go to the fallback, never to the retry."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from resilience import (
    Breaker,
    Concurrency,
    ConcurrencyLimitError,
    Fallback,
    Policy,
    ResilienceError,
    Retry,
)

from .helpers import CLASSIFIER, Flaky


class InFlight:
    """Counts the calls running now, and the most seen at once (under a lock: measured)."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0
        self.calls = 0
        self._lock = threading.Lock()

    def enter(self) -> None:
        with self._lock:
            self.now += 1
            self.calls += 1
            self.most = max(self.most, self.now)

    def leave(self) -> None:
        with self._lock:
            self.now -= 1


def test_spec_checks_its_arguments() -> None:
    assert Concurrency(limit=3, max_wait=timedelta(milliseconds=5)).max_wait == 0.005
    with pytest.raises(ValueError, match=r"Concurrency.limit must be >= 1 \(got 0\)"):
        Concurrency(limit=0)
    with pytest.raises(TypeError, match=r"Concurrency.limit must be an integer"):
        Concurrency(limit=2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"Concurrency.max_wait must be >= 0"):
        Concurrency(limit=1, max_wait=-1)
    with pytest.raises(TypeError, match=r"Policy.concurrency must be a Concurrency or None"):
        Policy("p", concurrency=3)  # type: ignore[arg-type]


@pytest.mark.parametrize("max_wait", [0.0, 5.0])
def test_64_threads_never_exceed_the_limit(max_wait: float) -> None:
    limit = 5
    flight = InFlight()
    refused = 0
    lock = threading.Lock()
    policy = Policy("bulk", concurrency=Concurrency(limit=limit, max_wait=max_wait))

    @policy
    def work() -> None:
        flight.enter()
        time.sleep(0.0002)  # hold the slot long enough for the others to pile up
        flight.leave()

    def worker() -> None:
        nonlocal refused
        for _ in range(20):
            try:
                work()
            except ConcurrencyLimitError:
                with lock:
                    refused += 1

    with ThreadPoolExecutor(64) as pool:
        for future in [pool.submit(worker) for _ in range(64)]:
            future.result()

    assert flight.most == limit  # reached, and never passed
    assert flight.calls + refused == 64 * 20
    if max_wait:
        assert refused == 0  # every call found a slot within the wait
    else:
        assert refused > 0
    assert flight.now == 0


@pytest.mark.parametrize("max_wait", [0.0, 5.0])
async def test_1000_tasks_never_exceed_the_limit(max_wait: float) -> None:
    limit = 7
    flight = InFlight()
    policy = Policy("bulk", concurrency=Concurrency(limit=limit, max_wait=max_wait))

    @policy
    async def work() -> str:
        flight.enter()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        flight.leave()
        return "ok"

    results = await asyncio.gather(*(work() for _ in range(1000)), return_exceptions=True)

    assert flight.most == limit
    refused = [r for r in results if isinstance(r, ConcurrencyLimitError)]
    assert len(refused) + results.count("ok") == 1000
    if max_wait:
        assert not refused
    else:
        assert refused
    assert flight.now == 0


async def test_sync_and_async_calls_share_the_slots() -> None:
    policy = Policy("shared", concurrency=Concurrency(limit=1))
    entered, release = threading.Event(), threading.Event()

    def hold() -> None:
        entered.set()
        release.wait(5)

    async def quick() -> str:
        return "ok"

    thread = threading.Thread(target=policy.call, args=(hold,))
    thread.start()
    entered.wait(5)
    with pytest.raises(ConcurrencyLimitError):
        await policy.acall(quick)
    release.set()
    thread.join(5)
    assert await policy.acall(quick) == "ok"


def test_refusal_goes_to_the_fallback_and_is_never_retried() -> None:
    calls: list[str] = []
    seen: list[BaseException] = []

    def fallback(exception: BaseException) -> str:
        seen.append(exception)
        return "cached"

    policy = Policy(
        "full",
        retry=Retry(attempts=5),
        concurrency=Concurrency(limit=1),
        fallback=Fallback(fallback, on=["auth"]),  # refusals reach it whatever `on` says
        classifier=CLASSIFIER,
    )

    @policy
    def outer() -> str:
        calls.append("outer")
        return inner()

    @policy
    def inner() -> str:
        calls.append("inner")
        return "fresh"

    assert outer() == "cached"  # the nested call finds the only slot taken
    assert calls == ["outer"]
    assert isinstance(seen[0], ConcurrencyLimitError)
    assert isinstance(seen[0], ResilienceError)
    assert "'full'" in str(seen[0])
    assert "1 concurrent calls were all in flight" in str(seen[0])
    assert inner() == "fresh"  # the slot came back


def test_refusal_without_fallback_raises_it() -> None:
    policy = Policy("full", retry=Retry(attempts=3), concurrency=Concurrency(limit=1))
    attempts: list[int] = []

    @policy
    def inner() -> None:
        attempts.append(1)

    @policy
    def outer() -> None:
        inner()

    with pytest.raises(ConcurrencyLimitError) as caught:
        outer()
    assert caught.value.limit == 1
    assert caught.value.policy == "full"
    assert attempts == []


def test_a_retry_gives_its_slot_back_during_the_backoff(no_wait: None) -> None:
    policy = Policy(
        "retrying",
        retry=Retry(attempts=3),
        breaker=Breaker(fail_max=10),
        concurrency=Concurrency(limit=1),
        classifier=CLASSIFIER,
    )
    failures = [Flaky("1"), Flaky("2")]

    @policy
    def flaky() -> str:
        if failures:
            raise failures.pop(0)
        return "ok"

    assert flaky() == "ok"
    assert policy._pipeline.gates[1].in_flight == 0  # type: ignore[attr-defined]


def test_a_user_exception_keeps_its_identity_and_frees_the_slot() -> None:
    policy = Policy("p", concurrency=Concurrency(limit=1))
    boom = KeyError("mine")

    @policy
    def fails() -> None:
        raise boom

    for _ in range(3):
        with pytest.raises(KeyError) as caught:
            fails()
        assert caught.value is boom


def test_a_waiting_thread_is_refused_after_max_wait() -> None:
    policy = Policy("p", concurrency=Concurrency(limit=1, max_wait=0.005))
    entered, release = threading.Event(), threading.Event()

    def hold() -> None:
        entered.set()
        release.wait(5)

    thread = threading.Thread(target=policy.call, args=(hold,))
    thread.start()
    entered.wait(5)
    try:
        with pytest.raises(ConcurrencyLimitError, match=r"for 0\.005 s"):
            policy.call(lambda: None)
    finally:
        release.set()
        thread.join(5)


async def test_a_waiting_task_is_refused_after_max_wait_and_the_loop_runs_meanwhile() -> None:
    policy = Policy("p", concurrency=Concurrency(limit=1, max_wait=0.005))
    release = asyncio.Event()
    ticks = 0

    @policy
    async def hold() -> None:
        await release.wait()

    async def ticker() -> None:
        nonlocal ticks
        while not release.is_set():
            ticks += 1
            await asyncio.sleep(0)

    holder = asyncio.create_task(hold())
    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    with pytest.raises(ConcurrencyLimitError):
        await hold()
    assert ticks > 1  # the loop went on while the call waited
    release.set()
    await holder
    await ticking


async def test_a_cancelled_waiting_task_propagates_cancelled_error_and_frees_nothing() -> None:
    policy = Policy("p", concurrency=Concurrency(limit=1, max_wait=5.0))
    release = asyncio.Event()
    bulkhead = policy._pipeline.gates[0]

    @policy
    async def hold() -> str:
        await release.wait()
        return "done"

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert bulkhead.in_flight == 1  # type: ignore[attr-defined]
    third = asyncio.create_task(hold())
    await asyncio.sleep(0)
    release.set()
    assert await holder == "done"
    assert await third == "done"  # the wake-up reached the waiter left
    assert bulkhead.in_flight == 0  # type: ignore[attr-defined]


async def test_a_cancelled_running_task_gives_its_slot_back() -> None:
    policy = Policy("p", concurrency=Concurrency(limit=1))

    @policy
    async def forever() -> None:
        await asyncio.Event().wait()

    task = asyncio.create_task(forever())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert policy._pipeline.gates[0].in_flight == 0  # type: ignore[attr-defined]


def test_guard_holds_a_slot_for_its_block() -> None:
    policy = Policy("p", concurrency=Concurrency(limit=1))
    with policy.guard(), pytest.raises(ConcurrencyLimitError), policy.guard():
        pass  # pragma: no cover
    with policy.guard():
        pass


def test_a_breaker_and_both_limits_refuse_and_give_the_earlier_tokens_back() -> None:
    from resilience import RateLimit, RateLimitedError

    policy = Policy(
        "three",
        breaker=Breaker(),
        concurrency=Concurrency(limit=1),
        rate_limit=RateLimit(rate=1, per=3600, burst=1),
    )
    call = policy(lambda: "ok")
    assert call() == "ok"
    with pytest.raises(RateLimitedError):
        call()
    assert policy._pipeline.gates[1].in_flight == 0  # type: ignore[attr-defined]
    with_fallback = policy.replace(fallback=lambda: "cached")
    answer = with_fallback(lambda: "ok")
    assert answer() == "ok"
    assert answer() == "cached"


async def test_async_breaker_and_bulkhead_refuse_record_and_give_back() -> None:
    policy = Policy(
        "two",
        breaker=Breaker(fail_max=2),
        concurrency=Concurrency(limit=1),
        classifier=CLASSIFIER,
    )
    bulkhead = policy._pipeline.gates[1]
    release = asyncio.Event()

    @policy
    async def hold() -> str:
        await release.wait()
        return "held"

    @policy
    async def flaky() -> str:
        raise Flaky("down")

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0)
    with pytest.raises(ConcurrencyLimitError):
        await hold()
    release.set()
    assert await holder == "held"

    for _ in range(2):
        with pytest.raises(Flaky):
            await flaky()
    assert policy.breaker_state == "open"
    assert bulkhead.in_flight == 0  # type: ignore[attr-defined]

    policy = policy.replace(breaker=Breaker(), fallback=lambda: "cached")
    forever = asyncio.Event()

    @policy
    async def stuck() -> str:
        await forever.wait()
        return "never"  # pragma: no cover

    task = asyncio.create_task(stuck())
    await asyncio.sleep(0)
    assert await stuck() == "cached"  # refused, to the fallback
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert policy._pipeline.gates[1].in_flight == 0  # type: ignore[attr-defined]
