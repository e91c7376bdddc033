"""Policies around coroutine functions; mirrors tests/test_sync.py."""

from __future__ import annotations

import asyncio
import inspect
from datetime import timedelta
from typing import Any

import pytest
import tenacity
from freezegun import freeze_time

from resilience import (
    AttemptTimeout,
    Backoff,
    Breaker,
    CircuitOpenError,
    Fallback,
    Policy,
    Queue,
    Retry,
)
from resilience.testing import no_wait

from .helpers import CLASSIFIER, Broken, Denied, Flaky, QueueFull, Script, named

FAST = Backoff(initial=0.001, maximum=0.004)


def make(**kwargs: Any) -> Policy:
    kwargs.setdefault("classifier", CLASSIFIER)
    return Policy("test", **kwargs)


# --- happy path ------------------------------------------------------------------------------


async def test_a_call_that_succeeds_returns_its_value_and_logs_nothing(events: list[Any]) -> None:
    script = Script(value=42)
    policy = make(retry=Retry(attempts=3), breaker=Breaker())
    assert await policy(script.acall)(1, key="v") == 42
    assert script.calls == [((1,), {"key": "v"})]
    assert events == []


async def test_no_call_builds_tenacity_machinery(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[object] = []
    original = tenacity.RetryCallState.__init__

    def spy(self: tenacity.RetryCallState, *args: Any, **kwargs: Any) -> None:
        built.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(tenacity.RetryCallState, "__init__", spy)
    policy = make(retry=Retry(attempts=3, backoff=FAST), breaker=Breaker())
    for _ in range(100):
        assert await policy.acall(Script().acall) == "ok"
    assert built == []
    async with no_wait():
        assert await policy.acall(Script(Flaky()).acall) == "ok"
    assert built == []


async def test_the_decorator_keeps_name_and_stays_a_coroutine_function() -> None:
    @make()
    async def publish(topic: str, *, qos: int = 1) -> bool:
        """Publish a message."""
        return True

    assert publish.__name__ == "publish"
    assert publish.__doc__ == "Publish a message."
    assert inspect.iscoroutinefunction(publish)
    assert list(inspect.signature(publish).parameters) == ["topic", "qos"]
    assert await publish("t") is True


# --- retry -----------------------------------------------------------------------------------


async def test_retryable_failures_are_retried_until_success(
    no_wait: None, events: list[Any]
) -> None:
    script = Script(Flaky("one"), Flaky("two"), value="done")
    assert await make(retry=Retry(attempts=3, backoff=FAST)).acall(script.acall) == "done"
    assert len(script.calls) == 3
    scheduled = named(events, "retry.scheduled")
    assert [e["attempt"] for e in scheduled] == [1, 2]
    assert all(e["category"] == "retryable" and e["error"] == "Flaky" for e in scheduled)


async def test_when_attempts_run_out_the_original_exception_propagates_with_a_note(
    no_wait: None, events: list[Any]
) -> None:
    last = Flaky("third")
    script = Script(Flaky(), Flaky(), last)
    with pytest.raises(Flaky) as caught:
        await make(retry=Retry(attempts=3, backoff=FAST)).acall(script.acall)
    assert caught.value is last
    assert caught.value.__notes__[0].startswith("policy 'test' gave up after 3 attempts in ")
    assert named(events, "retry.gave_up")[0]["attempts"] == 3


@pytest.mark.parametrize("failure", [Denied("no"), Broken("bad")])
async def test_auth_and_permanent_failures_are_never_retried(
    no_wait: None, failure: Exception
) -> None:
    script = Script(failure)
    with pytest.raises(type(failure)):
        await make(retry=Retry(attempts=5, backoff=FAST)).acall(script.acall)
    assert len(script.calls) == 1


async def test_the_deadline_is_never_overshot_by_a_sleep(no_wait: None) -> None:
    script = Script(*[Flaky() for _ in range(9)])
    retry = Retry(
        attempts=10, deadline=1.0, backoff=Backoff(initial=0.4, maximum=0.4, jitter="none")
    )
    # The clock stands still but for the skipped sleeps: a loaded machine can't shift it.
    with freeze_time("2026-01-01 12:00:00", real_asyncio=True), pytest.raises(Flaky) as caught:
        await make(retry=retry).acall(script.acall)
    assert len(script.calls) == 3
    assert caught.value.__notes__[0].endswith("(deadline)")


async def test_attempt_timeout_cancels_a_slow_attempt_and_retries_it(
    no_wait: None, events: list[Any]
) -> None:
    started: list[int] = []
    cancelled: list[int] = []

    async def slow_then_fast() -> str:
        started.append(len(started) + 1)
        if len(started) == 1:
            try:
                await asyncio.Event().wait()  # never set: only the timeout ends it
            except asyncio.CancelledError:
                cancelled.append(1)
                raise
        return "fast"

    policy = make(retry=Retry(attempts=3, attempt_timeout=0.005, backoff=FAST))
    assert await policy.acall(slow_then_fast) == "fast"
    assert (started, cancelled) == ([1, 2], [1])
    (scheduled,) = named(events, "retry.scheduled")
    assert scheduled["error"] == "AttemptTimeout"
    assert scheduled["category"] == "retryable"


async def test_an_attempt_timeout_is_a_timeout_error(no_wait: None) -> None:
    async def hang() -> None:
        await asyncio.Event().wait()

    policy = make(retry=Retry(attempts=2, attempt_timeout=0.002, backoff=FAST))
    with pytest.raises(TimeoutError) as caught:
        await policy.acall(hang)
    assert isinstance(caught.value, AttemptTimeout)


# --- queue-related failures and fallback -----------------------------------------------------


async def test_queue_failures_go_to_the_fallback_by_default() -> None:
    policy = make(fallback=lambda: "queued elsewhere")
    assert await policy.acall(Script(QueueFull()).acall) == "queued elsewhere"


async def test_queue_retry_uses_its_own_attempts(no_wait: None) -> None:
    script = Script(*[QueueFull() for _ in range(10)])
    with pytest.raises(QueueFull):
        await make(queue=Queue(action="retry", attempts=4)).acall(script.acall)
    assert len(script.calls) == 4


async def test_an_async_fallback_is_awaited_with_the_exception(no_wait: None) -> None:
    async def connect_direct(thing: str, exception: BaseException) -> str:
        await asyncio.sleep(0)
        return f"direct:{thing}:{type(exception).__name__}"

    policy = make(retry=Retry(attempts=2, backoff=FAST), fallback=connect_direct)
    assert await policy.acall(Script(Flaky(), Flaky()).acall, "s") == "direct:s:Flaky"


async def test_the_fallback_only_applies_to_its_categories(no_wait: None) -> None:
    policy = make(retry=Retry(attempts=2, backoff=FAST), fallback=Fallback(str, on=["auth"]))
    with pytest.raises(Flaky):
        await policy.acall(Script(Flaky(), Flaky()).acall)
    assert await policy.acall(Script(Denied()).acall, 7) == "7"


async def test_a_failing_fallback_raises_its_own_exception_with_the_original_as_context() -> None:
    original = Broken("original")

    async def fallback() -> None:
        raise RuntimeError("fallback failed")

    with pytest.raises(RuntimeError, match="fallback failed") as caught:
        await make(fallback=fallback).acall(Script(original).acall)
    assert caught.value.__context__ is original


# --- breaker ---------------------------------------------------------------------------------


async def test_the_breaker_opens_refuses_half_opens_and_closes(events: list[Any]) -> None:
    with freeze_time("2026-01-01 12:00:00", real_asyncio=True) as clock:
        policy = make(breaker=Breaker(fail_max=2, reset_timeout=30))
        for _ in range(2):
            with pytest.raises(Flaky):
                await policy.acall(Script(Flaky()).acall)
        script = Script()
        with pytest.raises(CircuitOpenError) as refused:
            await policy.acall(script.acall)
        assert script.calls == []
        assert refused.value.remaining == pytest.approx(30)
        clock.tick(timedelta(seconds=31))
        assert await policy.acall(Script(value="trial").acall) == "trial"
        assert policy.breaker_state == "closed"
    names = [e["event"] for e in events if e["event"].startswith("breaker.")]
    assert names == ["breaker.opened", "breaker.rejected", "breaker.half_opened", "breaker.closed"]


async def test_half_open_admits_one_trial_while_it_is_in_flight() -> None:
    with freeze_time("2026-01-01 12:00:00", real_asyncio=True) as clock:
        policy = make(breaker=Breaker(fail_max=1, reset_timeout=5))
        with pytest.raises(Flaky):
            await policy.acall(Script(Flaky()).acall)
        clock.tick(timedelta(seconds=6))
        release = asyncio.Event()

        async def trial() -> str:
            await release.wait()
            return "trial"

        first = asyncio.ensure_future(policy.acall(trial))
        await asyncio.sleep(0)
        with pytest.raises(CircuitOpenError):
            await policy.acall(Script().acall)
        release.set()
        assert await first == "trial"
        assert policy.breaker_state == "closed"


async def test_a_cancelled_trial_releases_its_slot() -> None:
    with freeze_time("2026-01-01 12:00:00", real_asyncio=True) as clock:
        policy = make(breaker=Breaker(fail_max=1, reset_timeout=5))
        with pytest.raises(Flaky):
            await policy.acall(Script(Flaky()).acall)
        clock.tick(timedelta(seconds=6))

        async def hang() -> None:
            await asyncio.Event().wait()

        task = asyncio.ensure_future(policy.acall(hang))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await policy.acall(Script(value="next trial").acall) == "next trial"


# --- guard and attempts ----------------------------------------------------------------------


async def test_async_guard_runs_the_block_once_and_counts_it() -> None:
    policy = make(breaker=Breaker(fail_max=1))
    with pytest.raises(Flaky):
        async with policy.guard():
            raise Flaky
    with pytest.raises(CircuitOpenError):
        async with policy.guard():
            pass


async def test_async_for_attempts_retry_a_block(no_wait: None) -> None:
    policy = make(retry=Retry(attempts=3, backoff=FAST))
    numbers = []
    async for attempt in policy.attempts():
        async with attempt:
            numbers.append(attempt.number)
            if attempt.number < 3:
                raise Flaky
    assert numbers == [1, 2, 3]


async def test_async_for_attempts_give_up_with_the_original_exception(no_wait: None) -> None:
    policy = make(retry=Retry(attempts=2, backoff=FAST))
    with pytest.raises(Flaky) as caught:
        async for attempt in policy.attempts():
            async with attempt:
                raise Flaky(str(attempt.number))
    assert str(caught.value) == "2"


async def test_the_failure_that_propagates_is_not_chained_to_the_first_one(no_wait: None) -> None:
    first, last = Flaky("first"), Flaky("last")
    with pytest.raises(Flaky) as caught:
        await make(retry=Retry(attempts=2, backoff=FAST)).acall(Script(first, last).acall)
    assert caught.value is last
    assert caught.value.__context__ is None
