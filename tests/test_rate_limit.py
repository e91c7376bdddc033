"""RateLimit in this process: a token bucket, exact under freezegun; waits go through the
policy's sleep (skipped under no_wait); refusals carry the seconds to wait and reach the
fallback, never the retry."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from freezegun import freeze_time

from resilience import (
    Breaker,
    Fallback,
    Policy,
    RateLimit,
    RateLimitedError,
    ResilienceError,
    Retry,
)
from resilience.testing import no_wait

from .helpers import CLASSIFIER, Flaky


def test_spec_checks_its_arguments() -> None:
    limit = RateLimit(rate=5, per=timedelta(minutes=1), max_wait=timedelta(milliseconds=20))
    assert (limit.per, limit.max_wait, limit.size) == (60.0, 0.02, 5)
    assert RateLimit(rate=0.5).size == 1
    assert RateLimit(rate=10, burst=3).size == 3
    with pytest.raises(ValueError, match=r"RateLimit.rate must be > 0 \(got 0\)"):
        RateLimit(rate=0)
    with pytest.raises(ValueError, match=r"RateLimit.burst must be >= 1"):
        RateLimit(rate=1, burst=0)
    with pytest.raises(ValueError, match=r"RateLimit.per must be > 0"):
        RateLimit(rate=1, per=0)
    with pytest.raises(TypeError, match=r"RateLimit.storage must be None \(this process\)"):
        RateLimit(rate=1, storage="redis://x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"Policy.rate_limit must be a RateLimit or None"):
        Policy("p", rate_limit=RateLimit)  # type: ignore[arg-type]


def test_a_burst_then_the_rate_exactly() -> None:
    policy = Policy("rl", rate_limit=RateLimit(rate=10, burst=3))
    call = policy(lambda: "ok")
    with freeze_time("2026-01-01") as clock:
        assert [call() for _ in range(3)] == ["ok"] * 3
        with pytest.raises(RateLimitedError) as caught:
            call()
        assert caught.value.retry_after == pytest.approx(0.1, abs=1e-6)
        assert "'rl' is rate limited" in str(caught.value)
        clock.tick(0.05)
        with pytest.raises(RateLimitedError) as caught:
            call()
        assert caught.value.retry_after == pytest.approx(0.05, abs=1e-6)
        clock.tick(0.05)
        assert call() == "ok"
        clock.tick(10)  # a quiet spell refills the bucket up to its size, no more
        assert [call() for _ in range(3)] == ["ok"] * 3
        with pytest.raises(RateLimitedError):
            call()


def test_over_a_minute_of_steady_calls_it_lets_rate_through() -> None:
    policy = Policy("rl", rate_limit=RateLimit(rate=50, per=1.0, burst=5))
    call = policy(lambda: None)
    passed = 0
    with freeze_time("2026-01-01") as clock:
        for _ in range(60 * 200):  # one try every 5 ms for a minute
            try:
                call()
                passed += 1
            except RateLimitedError:
                pass
            clock.tick(0.005)
    assert passed == pytest.approx(5 + 60 * 50, abs=2)


def test_threads_never_get_more_than_the_bucket() -> None:
    policy = Policy("rl", rate_limit=RateLimit(rate=1, per=3600, burst=100))
    passed = 0
    lock = threading.Lock()

    @policy
    def work() -> None:
        nonlocal passed
        with lock:
            passed += 1

    def worker() -> None:
        for _ in range(50):
            with contextlib.suppress(RateLimitedError):
                work()

    with ThreadPoolExecutor(16) as pool:
        for future in [pool.submit(worker) for _ in range(16)]:
            future.result()
    assert passed == 100  # an hour's one token is not due yet


def test_a_call_waits_for_its_token_through_the_policys_sleep(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slept: list[float] = []
    monkeypatch.setattr("time.sleep", slept.append)
    policy = Policy("rl", rate_limit=RateLimit(rate=10, burst=1, max_wait=0.25))
    call = policy(lambda: "ok")
    with freeze_time("2026-01-01"):
        assert [call(), call(), call()] == ["ok"] * 3  # reserved in turn: waits of 0.1, 0.2
        with pytest.raises(RateLimitedError) as caught:
            call()  # the next token would come in 0.3 s
    assert slept == pytest.approx([0.1, 0.2], abs=1e-6)
    assert caught.value.retry_after == pytest.approx(0.3, abs=1e-6)


def test_no_wait_skips_the_wait_and_keeps_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr("time.sleep", slept.append)
    policy = Policy("rl", rate_limit=RateLimit(rate=10, burst=1, max_wait=0.25))
    call = policy(lambda: "ok")
    with freeze_time("2026-01-01"), no_wait():
        assert [call(), call(), call()] == ["ok"] * 3
        with pytest.raises(RateLimitedError):
            call()
    assert slept == []


async def test_an_async_call_awaits_its_token_and_the_loop_runs_on() -> None:
    policy = Policy("rl", rate_limit=RateLimit(rate=1000, burst=1, max_wait=1.0))
    ticks = 0
    done = False

    @policy
    async def call() -> str:
        return "ok"

    async def ticker() -> None:
        nonlocal ticks
        while not done:
            ticks += 1
            await asyncio.sleep(0)

    ticking = asyncio.create_task(ticker())
    assert [await call() for _ in range(4)] == ["ok"] * 4  # 3 ms of waits in all
    done = True
    await ticking
    assert ticks > 1


async def test_an_async_refusal_reaches_the_fallback() -> None:
    async def cached(exception: BaseException) -> str:
        assert isinstance(exception, RateLimitedError)
        return "cached"

    policy = Policy(
        "rl", retry=Retry(attempts=4), rate_limit=RateLimit(rate=1, per=60), fallback=cached
    )
    attempts = 0

    @policy
    async def call() -> str:
        nonlocal attempts
        attempts += 1
        return "fresh"

    assert await call() == "fresh"
    assert await call() == "cached"
    assert attempts == 1


def test_refusal_goes_to_the_fallback_whatever_on_says_and_is_never_retried() -> None:
    seen: list[BaseException] = []

    def cached(exception: BaseException) -> str:
        seen.append(exception)
        return "cached"

    policy = Policy(
        "rl",
        retry=Retry(attempts=5),
        breaker=Breaker(fail_max=2),
        rate_limit=RateLimit(rate=1, per=60),
        fallback=Fallback(cached, on=["auth"]),
        classifier=CLASSIFIER,
    )
    attempts = 0

    @policy
    def call() -> str:
        nonlocal attempts
        attempts += 1
        return "fresh"

    assert call() == "fresh"
    for _ in range(5):
        assert call() == "cached"
    assert attempts == 1
    assert all(isinstance(e, RateLimitedError) and isinstance(e, ResilienceError) for e in seen)
    assert policy.breaker_state == "closed"  # refusals are not failures of the remote side


def test_every_attempt_takes_a_token_retries_included(no_wait: None) -> None:
    policy = Policy(
        "rl",
        retry=Retry(attempts=3),
        rate_limit=RateLimit(rate=1, per=60, burst=2),
        classifier=CLASSIFIER,
    )
    failures = [Flaky("1"), Flaky("2")]

    @policy
    def call() -> str:
        if failures:
            raise failures.pop(0)
        return "ok"

    with freeze_time("2026-01-01"), pytest.raises(RateLimitedError) as caught:
        call()  # two attempts spend the bucket; the third is refused
    assert isinstance(caught.value.__context__, Flaky)
    assert failures == []


def test_a_refused_rate_limit_gives_the_bulkhead_slot_back() -> None:
    from resilience import Concurrency

    policy = Policy("both", concurrency=Concurrency(limit=1), rate_limit=RateLimit(rate=1, per=60))
    call = policy(lambda: "ok")
    assert call() == "ok"
    for _ in range(3):
        with pytest.raises(RateLimitedError):
            call()
    assert policy._pipeline.gates[0].in_flight == 0  # type: ignore[attr-defined]


def test_a_nested_policys_refusals_are_retryable_for_the_outer_one_with_the_wait_as_hint() -> None:
    from resilience import ConcurrencyLimitError, classify, explain

    verdict = explain(RateLimitedError("inner", 2.5))
    assert verdict.category == "retryable"
    assert verdict.hint == pytest.approx(2.5)
    assert classify(ConcurrencyLimitError("inner", 4, 0.0)) == "retryable"


def test_an_outer_policy_retries_an_inner_rate_limit_after_its_retry_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slept: list[float] = []
    monkeypatch.setattr("time.sleep", slept.append)
    inner = Policy("inner", rate_limit=RateLimit(rate=1, burst=1))
    outer = Policy("outer", retry=Retry(attempts=2))
    calls = 0

    @outer
    @inner
    def call() -> str:
        nonlocal calls
        calls += 1
        return "ok"

    with freeze_time("2026-01-01"):
        assert call() == "ok"
        with pytest.raises(RateLimitedError):
            call()  # refused twice: the outer policy waited the hint in between
    assert calls == 1
    assert slept
    assert slept[0] >= 0.99


async def test_a_task_cancelled_while_it_waits_for_its_token_propagates_cancelled_error() -> None:
    policy = Policy("rl", rate_limit=RateLimit(rate=1, per=60, burst=1, max_wait=120))
    reached = 0

    @policy
    async def call() -> None:
        nonlocal reached
        reached += 1

    await call()
    waiting = asyncio.create_task(call())  # its token comes in a minute
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert reached == 1
