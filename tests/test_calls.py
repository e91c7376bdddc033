"""No call is lost or mis-handled: nested refusals, deadlines, odd callables, interruptions,
odd exceptions, the fallback's default, and no reference cycles; sync and async alike."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from freezegun import freeze_time

from resilience import (
    Backoff,
    Breaker,
    Category,
    CircuitOpenError,
    Fallback,
    Policy,
    Retry,
)
from resilience.testing import no_wait

from .helpers import CLASSIFIER, Broken, Flaky, Script

NONE = Backoff(initial=0.4, maximum=0.4, jitter="none")


def make(name: str = "test", **kwargs: Any) -> Policy:
    kwargs.setdefault("classifier", CLASSIFIER)
    return Policy(name, **kwargs)


def trip(policy: Policy) -> None:
    """Open ``policy``'s breaker (fail_max=1): one failure, through a guard (no fallback)."""
    with pytest.raises(Flaky), policy.guard():
        raise Flaky("down")


def half_open(policy: Policy, clock: Any) -> None:
    """Trip ``policy``'s breaker (fail_max=1, reset_timeout=5) and let it half-open."""
    trip(policy)
    clock.tick(timedelta(seconds=6))


# --- a refusal by another policy is a failure of this call --------------------------------------


def test_a_nested_policys_refusal_releases_this_policys_trial() -> None:
    with freeze_time("2026-01-01 12:00:00") as clock:
        inner = make("inner", breaker=Breaker(fail_max=1, reset_timeout=3600))
        with pytest.raises(Flaky):
            inner.call(Script(Flaky()))
        outer = make("outer", breaker=Breaker(fail_max=1, reset_timeout=5))
        half_open(outer, clock)

        @outer
        def checkout() -> str:
            return inner.call(Script(value="paid"))

        with pytest.raises(CircuitOpenError) as refused:
            checkout()
        assert refused.value.policy == "inner"  # the inner policy's refusal, as it was
        # The trial slot went back: the outer circuit is not stuck half-open with it.
        clock.tick(timedelta(seconds=6))
        assert outer.call(Script(value="healthy")) == "healthy"
        assert outer.breaker_state == "closed"


async def test_a_nested_policys_refusal_releases_this_policys_trial_async() -> None:
    with freeze_time("2026-01-01 12:00:00") as clock:
        inner = make("inner", breaker=Breaker(fail_max=1, reset_timeout=3600))
        with pytest.raises(Flaky):
            await inner.acall(Script(Flaky()).acall)
        outer = make("outer", breaker=Breaker(fail_max=1, reset_timeout=5))
        half_open(outer, clock)

        @outer
        async def checkout() -> str:
            return await inner.acall(Script(value="paid").acall)

        with pytest.raises(CircuitOpenError):
            await checkout()
        clock.tick(timedelta(seconds=6))
        assert await outer.acall(Script(value="healthy").acall) == "healthy"
        assert outer.breaker_state == "closed"


def test_a_nested_refusal_goes_to_the_fallback_as_a_failure_of_its_category() -> None:
    inner = make("inner", breaker=Breaker(fail_max=1, reset_timeout=3600))
    with pytest.raises(Flaky):
        inner.call(Script(Flaky()))
    seen: list[BaseException] = []

    def cached(exception: BaseException) -> str:
        seen.append(exception)
        return "cached"

    outer = make("outer", fallback=Fallback(cached, on=["retryable", "permanent"]))
    assert outer.call(lambda: inner.call(Script())) == "cached"
    assert isinstance(seen[0], CircuitOpenError)


# --- the deadline counts from the start of the call ---------------------------------------------


def test_the_deadline_counts_the_first_attempt() -> None:
    with freeze_time("2026-01-01 12:00:00") as clock, no_wait():
        calls: list[int] = []

        @make(retry=Retry(attempts=5, deadline=1.0, backoff=NONE))
        def slow() -> None:
            calls.append(1)
            clock.tick(timedelta(seconds=0.7))  # the first attempt takes 0.7 s
            raise Flaky("slow and failing")

        with pytest.raises(Flaky) as caught:
            slow()
        # 0.7 s spent, a wait of 0.4 s would end at 1.1 s: past the deadline, so no retry
        assert calls == [1]
        assert caught.value.__notes__[0].endswith("(deadline)")


async def test_the_deadline_counts_the_first_attempt_async() -> None:
    with freeze_time("2026-01-01 12:00:00") as clock, no_wait():
        calls: list[int] = []

        @make(retry=Retry(attempts=5, deadline=1.0, backoff=NONE))
        async def slow() -> None:
            calls.append(1)
            clock.tick(timedelta(seconds=0.7))
            raise Flaky("slow and failing")

        with pytest.raises(Flaky) as caught:
            await slow()
        assert calls == [1]
        assert caught.value.__notes__[0].endswith("(deadline)")


def test_the_deadline_counts_from_the_start_through_call_too() -> None:
    with freeze_time("2026-01-01 12:00:00") as clock, no_wait():
        script = Script(Flaky(), Flaky())

        def slow() -> Any:
            clock.tick(timedelta(seconds=0.7))
            return script()

        with pytest.raises(Flaky):
            make(retry=Retry(attempts=5, deadline=1.0, backoff=NONE)).call(slow)
        assert len(script.calls) == 1


# --- what can be decorated ----------------------------------------------------------------------


def test_generator_functions_are_refused_at_decoration() -> None:
    policy = make()

    def numbers() -> Iterator[int]:
        yield 1

    async def anumbers() -> AsyncIterator[int]:
        yield 1

    for fn in (numbers, anumbers, functools.partial(numbers)):
        with pytest.raises(TypeError, match="is a generator function"):
            policy(fn)
    with pytest.raises(TypeError, match="is a generator function"):
        policy.call(numbers)


async def test_methods_static_and_class_methods_partials_and_async_objects() -> None:
    policy = make(retry=Retry(attempts=2, backoff=NONE))
    failures = Script(Flaky())

    class Client:
        def __init__(self) -> None:
            self.name = "client"

        @policy
        def sync_method(self, x: int) -> str:
            return f"{self.name}:{x}"

        @policy
        async def async_method(self, x: int) -> str:
            return f"{self.name}:{x}"

        @policy
        @staticmethod
        async def static(x: int) -> int:
            await failures.acall()
            return x

        @policy
        @classmethod
        def build(cls, x: int) -> str:
            return f"{cls.__name__}:{x}"

    class Awaitable:
        async def __call__(self, x: int) -> int:
            return x * 2

    async def add(a: int, b: int) -> int:
        return a + b

    client = Client()
    assert client.sync_method(1) == "client:1"
    assert asyncio.iscoroutinefunction(Client.async_method)
    assert await client.async_method(2) == "client:2"
    with no_wait():
        assert await Client.static(3) == 3  # retried once: a coroutine function, awaited
    assert len(failures.calls) == 2
    assert Client.build(4) == "Client:4"
    doubled = policy(Awaitable())
    assert asyncio.iscoroutinefunction(doubled)
    assert await doubled(5) == 10
    added = policy(functools.partial(add, 1))
    assert asyncio.iscoroutinefunction(added)
    assert await added(2) == 3


def test_call_refuses_an_async_function() -> None:
    async def fetch() -> int:
        return 1

    with pytest.raises(TypeError, match=r"await policy\.acall"):
        make().call(fetch)  # type: ignore[arg-type]


def test_a_fallback_that_cant_take_the_arguments_is_refused_at_decoration() -> None:
    policy = make(fallback=lambda: "cached")

    with pytest.raises(TypeError, match="can't take the arguments of"):

        @policy
        def fetch(order_id: int) -> str:
            return str(order_id)

    keyword = make(fallback=lambda order_id: "cached")
    with pytest.raises(TypeError, match="can't take the arguments"):

        @keyword
        def fetch_by(*, region: str) -> str:
            return region

    flexible = make(fallback=lambda *args, **kwargs: "cached")

    @flexible
    def fetch_any(order_id: int, *, region: str = "eu") -> str:
        return str(order_id)

    assert fetch_any(1) == "1"


def test_a_sync_function_with_an_async_fallback_is_refused_at_decoration() -> None:
    class Cache:
        async def __call__(self) -> str:
            return "cached"

    for fallback in (Cache(), Fallback(Cache())):
        policy = make(fallback=fallback)
        with pytest.raises(TypeError, match="is async but"):

            @policy
            def fetch() -> str:
                return "live"

        with pytest.raises(TypeError, match="sync functions and fallbacks"):
            policy.call(lambda: "live")


# --- interruptions are never retried, counted or handed to the fallback -------------------------


def _guarded(calls: list[str]) -> Policy:
    def fallback() -> str:
        calls.append("fallback")
        return "fallback"

    return make(
        retry=Retry(attempts=5, backoff=NONE),
        breaker=Breaker(fail_max=1, reset_timeout=5),
        fallback=Fallback(fallback, on=list(Category)),
    )


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, SystemExit, GeneratorExit])
def test_interrupts_propagate_untouched_and_release_the_trial(
    interrupt: type[BaseException],
) -> None:
    with freeze_time("2026-01-01 12:00:00") as clock, no_wait():
        calls: list[str] = []
        policy = _guarded(calls)
        half_open(policy, clock)
        script = Script(interrupt())
        with pytest.raises(interrupt):
            policy.call(script)
        assert len(script.calls) == 1
        assert calls == []
        assert policy.breaker_state == "half-open"
        assert policy.call(Script(value="trial")) == "trial"  # the slot was given back
        assert policy.breaker_state == "closed"


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, SystemExit, GeneratorExit])
async def test_interrupts_propagate_untouched_and_release_the_trial_async(
    interrupt: type[BaseException],
) -> None:
    with freeze_time("2026-01-01 12:00:00") as clock, no_wait():
        calls: list[str] = []
        policy = _guarded(calls)
        half_open(policy, clock)
        script = Script(interrupt())
        with pytest.raises(interrupt):
            await policy.acall(script.acall)
        assert len(script.calls) == 1
        assert calls == []
        assert await policy.acall(Script(value="trial").acall) == "trial"
        assert policy.breaker_state == "closed"


async def test_a_cancellation_turned_into_another_exception_is_not_a_failure() -> None:
    with freeze_time("2026-01-01 12:00:00", real_asyncio=True) as clock:
        calls: list[str] = []
        policy = _guarded(calls)
        half_open(policy, clock)
        started = asyncio.Event()

        async def swallowing() -> str:
            calls.append("attempt")
            started.set()
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                raise ConnectionError("torn down") from None  # a client that hides it
            return "late"

        task = asyncio.create_task(policy.acall(swallowing))
        await started.wait()
        task.cancel()
        with pytest.raises(ConnectionError, match="torn down"):
            await task
        assert calls == ["attempt"]  # not retried, no fallback
        assert policy.breaker_state == "half-open"  # not counted as the trial's failure
        assert await policy.acall(Script(value="trial").acall) == "trial"  # slot given back
        assert policy.breaker_state == "closed"


async def test_a_cancellation_during_the_backoff_sleep_propagates() -> None:
    calls: list[str] = []
    policy = make(
        retry=Retry(attempts=5, backoff=Backoff(initial=30, maximum=30, jitter="none")),
        fallback=lambda: calls.append("fallback"),
    )
    script = Script(Flaky("once"), value="never")
    task = asyncio.create_task(policy.acall(script.acall))
    while not script.calls:
        await asyncio.sleep(0)
    await asyncio.sleep(0)  # now in the 30 s backoff sleep
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(script.calls) == 1
    assert calls == []


def test_an_interrupt_during_the_backoff_sleep_propagates(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    policy = make(
        retry=Retry(attempts=5, backoff=Backoff(initial=30, maximum=30, jitter="none")),
        fallback=lambda: calls.append("fallback"),
    )

    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(time, "sleep", interrupted)
    script = Script(Flaky("once"), value="never")
    with pytest.raises(KeyboardInterrupt):
        policy.call(script)
    assert len(script.calls) == 1
    assert calls == []


async def test_a_cancelled_retrying_block_is_not_retried() -> None:
    policy = make(retry=Retry(attempts=5, backoff=NONE))
    attempts: list[int] = []
    started = asyncio.Event()

    async def block() -> None:
        async for attempt in policy.attempts():
            async with attempt:
                attempts.append(attempt.number)
                started.set()
                try:
                    await asyncio.sleep(10)
                except asyncio.CancelledError:
                    raise Flaky("torn down") from None

    task = asyncio.create_task(block())
    await started.wait()
    task.cancel()
    with pytest.raises(Flaky):
        await task
    assert attempts == [1]


# --- odd exceptions still propagate as they are ------------------------------------------------


class Frozen(Exception):
    """An exception that refuses notes."""

    def add_note(self, note: str) -> None:
        raise TypeError("no notes here")


def test_the_note_is_best_effort() -> None:
    odd = Broken("tuple notes")
    odd.__notes__ = ("theirs",)  # type: ignore[assignment]
    with pytest.raises(Broken) as caught:
        make().call(Script(odd))
    assert caught.value is odd
    assert odd.__notes__ == ("theirs",)

    frozen = Frozen("refuses")
    with pytest.raises(Frozen) as refused:
        make().call(Script(frozen))
    assert refused.value is frozen


async def test_the_note_is_best_effort_async() -> None:
    frozen = Frozen("refuses")
    with pytest.raises(Frozen) as refused:
        await make().acall(Script(frozen).acall)
    assert refused.value is frozen


def test_a_reused_exception_gets_one_note() -> None:
    shared = Broken("the same instance every time")
    policy = make()
    for _ in range(3):
        with pytest.raises(Broken):
            policy.call(Script(shared))
    assert len(shared.__notes__) == 1


# --- the fallback's default -------------------------------------------------------------------


@pytest.mark.parametrize("bug", [NameError("x"), KeyError("x"), TypeError("x")])
def test_a_bug_in_the_callers_code_is_not_hidden_by_the_fallback(bug: Exception) -> None:
    policy = make(fallback=lambda: "cached")
    with pytest.raises(type(bug)):
        policy.call(Script(bug))
    explicit = make(fallback=Fallback(lambda: "cached", on=["permanent"]))
    assert explicit.call(Script(bug)) == "cached"


async def test_a_bug_in_the_callers_code_is_not_hidden_by_the_fallback_async() -> None:
    policy = make(fallback=lambda: "cached")
    with pytest.raises(KeyError):
        await policy.acall(Script(KeyError("x")).acall)
    assert await policy.acall(Script(Broken("a rule says permanent")).acall) == "cached"


def test_the_callers_own_exception_keyword_is_kept() -> None:
    seen: list[Any] = []

    def fallback(order: int, exception: Any) -> str:
        seen.append(exception)
        return "cached"

    @make(fallback=fallback)
    def report(order: int, exception: Any = None) -> str:
        raise Broken("down")

    assert report(1, exception="the caller's") == "cached"
    assert report(2, "by position") == "cached"
    assert report(3) == "cached"
    assert seen[:2] == ["the caller's", "by position"]
    assert isinstance(seen[2], Broken)


# --- no reference cycles ----------------------------------------------------------------------


class Marker:
    """Lives in the failing function's frame."""


def _failing(refs: list[weakref.ref[Marker]]) -> Callable[[], None]:
    def fail() -> None:
        marker = Marker()
        refs.append(weakref.ref(marker))
        raise Flaky("down")

    return fail


def _afailing(refs: list[weakref.ref[Marker]]) -> Callable[[], Any]:
    async def fail() -> None:
        marker = Marker()
        refs.append(weakref.ref(marker))
        raise Flaky("down")

    return fail


@pytest.fixture(name="no_gc")
def _no_gc() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    yield
    if enabled:
        gc.enable()


def _fallback_fails() -> None:
    raise Broken("the fallback too")


FORMS = {
    "once": {},
    "retried": {"retry": Retry(attempts=3, backoff=NONE)},
    "broken fallback": {"retry": Retry(attempts=2, backoff=NONE), "fallback": _fallback_fails},
}


@pytest.mark.parametrize("parts", FORMS.values(), ids=FORMS.keys())
def test_a_failed_call_frees_the_failing_frame_at_once(no_gc: None, parts: Any) -> None:
    refs: list[weakref.ref[Marker]] = []
    policy = make(breaker=Breaker(fail_max=100), **parts)
    with no_wait():
        for call in (policy(_failing(refs)), functools.partial(policy.call, _failing(refs))):
            with contextlib.suppress(Flaky, Broken):
                call()
        try:
            for attempt in policy.attempts():
                with attempt:
                    _failing(refs)()
        except Flaky:
            pass
        try:
            with policy.guard():
                _failing(refs)()
        except Flaky:
            pass
    assert refs
    assert [ref() for ref in refs] == [None] * len(refs)


@pytest.mark.parametrize("parts", FORMS.values(), ids=FORMS.keys())
async def test_a_failed_call_frees_the_failing_frame_at_once_async(no_gc: None, parts: Any) -> None:
    refs: list[weakref.ref[Marker]] = []
    policy = make(breaker=Breaker(fail_max=100), **parts)
    with no_wait():
        for call in (policy(_afailing(refs)), functools.partial(policy.acall, _afailing(refs))):
            with contextlib.suppress(Flaky, Broken):
                await call()
        try:
            async for attempt in policy.attempts():
                async with attempt:
                    await _afailing(refs)()
        except Flaky:
            pass
    assert refs
    assert [ref() for ref in refs] == [None] * len(refs)


def test_a_refused_call_leaves_nothing_behind(no_gc: None) -> None:
    policy = make(breaker=Breaker(fail_max=1, reset_timeout=3600), fallback=lambda: "cached")
    trip(policy)
    refs: list[weakref.ref[Marker]] = []
    assert policy(_failing(refs))() == "cached"
    assert refs == []  # refused: never ran
