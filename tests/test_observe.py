"""Listeners: what they receive, that a failing one never breaks a call, that the happy path
skips those that did not ask for successes; and no flood of refusals during an outage."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from freezegun import freeze_time

from resilience import Breaker, CircuitOpenError, Concurrency, Policy, RateLimit, Retry
from resilience.observe import (
    AttemptFailed,
    CallEnded,
    FallbackUsed,
    GaveUp,
    Rejected,
    RetryScheduled,
    StateChanged,
    Stats,
    add_listener,
    remove_listener,
)
from resilience.testing import no_wait


class Recorder:
    """Every event of every kind, in order."""

    def __init__(self) -> None:
        self.seen: list[object] = []

    def on_attempt_failed(self, event: AttemptFailed) -> None:
        self.seen.append(event)

    def on_retry(self, event: RetryScheduled) -> None:
        self.seen.append(event)

    def on_give_up(self, event: GaveUp) -> None:
        self.seen.append(event)

    def on_state_change(self, event: StateChanged) -> None:
        self.seen.append(event)

    def on_rejected(self, event: Rejected) -> None:
        self.seen.append(event)

    def on_fallback(self, event: FallbackUsed) -> None:
        self.seen.append(event)

    def on_call_end(self, event: CallEnded) -> None:
        self.seen.append(event)

    def kinds(self) -> list[str]:
        return [type(event).__name__ for event in self.seen]


class Transitions:
    """Asks only for state changes: never on the happy path."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def on_state_change(self, event: StateChanged) -> None:
        self.seen.append((event.old, event.new))


@pytest.fixture(name="process_listener")
def _process_listener() -> Iterator[Recorder]:
    recorder = Recorder()
    add_listener(recorder)
    yield recorder
    remove_listener(recorder)


def _flaky(failures: int) -> Any:
    calls = 0

    def connect() -> str:
        nonlocal calls
        calls += 1
        if calls <= failures:
            msg = "connection reset by peer"
            raise ConnectionResetError(msg)
        return "ok"

    return connect


def test_a_policy_listener_sees_every_moment_in_order() -> None:
    recorder = Recorder()
    policy = Policy("orders", retry=Retry(attempts=3), listeners=[recorder])
    with no_wait():
        assert policy.call(_flaky(2)) == "ok"
    assert recorder.kinds() == [
        "AttemptFailed",
        "RetryScheduled",
        "AttemptFailed",
        "RetryScheduled",
        "CallEnded",
    ]
    end = recorder.seen[-1]
    assert isinstance(end, CallEnded)
    assert (end.policy, end.outcome, end.attempts) == ("orders", "success", 3)
    retry = recorder.seen[1]
    assert isinstance(retry, RetryScheduled)
    assert (retry.attempt, retry.category) == (1, "retryable")
    assert isinstance(retry.error, ConnectionResetError)


def test_give_up_fallback_and_refusals_reach_the_listener() -> None:
    recorder = Recorder()
    policy = Policy(
        "orders",
        retry=Retry(attempts=2),
        breaker=Breaker(fail_max=2, reset_timeout=30.0),
        fallback=lambda: "cached",
        listeners=[recorder],
    )
    with no_wait():
        assert policy.call(_flaky(10)) == "cached"  # 2 failures: gives up, the circuit opens
        assert policy.call(_flaky(10)) == "cached"  # refused
    kinds = recorder.kinds()
    assert kinds == [
        "AttemptFailed",
        "RetryScheduled",
        "StateChanged",
        "AttemptFailed",
        "GaveUp",
        "FallbackUsed",
        "CallEnded",
        "Rejected",
        "FallbackUsed",
        "CallEnded",
    ]
    gave_up = recorder.seen[4]
    assert isinstance(gave_up, GaveUp)
    assert (gave_up.attempts, gave_up.reason) == (2, "attempts")
    rejected = recorder.seen[7]
    assert isinstance(rejected, Rejected)
    assert rejected.by == "breaker"
    assert 0 < rejected.remaining <= 30.0
    ends = [e.outcome for e in recorder.seen if isinstance(e, CallEnded)]
    assert ends == ["fallback", "fallback"]


def test_a_process_listener_observes_policies_built_before_it(
    process_listener: Recorder,
) -> None:
    remove_listener(process_listener)
    policy = Policy("built-before")
    assert policy.call(lambda: 1) == 1
    assert process_listener.seen == []
    add_listener(process_listener)
    assert policy.call(lambda: 2) == 2
    assert process_listener.kinds() == ["CallEnded"]
    remove_listener(process_listener)
    assert policy.call(lambda: 3) == 3
    assert process_listener.kinds() == ["CallEnded"]


async def test_async_calls_reach_the_listeners_too() -> None:
    recorder = Recorder()
    policy = Policy("async", retry=Retry(attempts=3), listeners=[recorder])
    calls = 0

    @policy
    async def fetch() -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        if calls == 1:
            raise TimeoutError
        return "ok"

    with no_wait():
        assert await fetch() == "ok"
    assert recorder.kinds() == ["AttemptFailed", "RetryScheduled", "CallEnded"]


def test_a_listener_without_on_call_end_is_not_asked_on_the_happy_path() -> None:
    transitions = Transitions()
    policy = Policy("quiet", breaker=Breaker(fail_max=1), listeners=[transitions])
    assert policy._pipeline.observer.end is False  # the happy path skips listeners
    assert policy.call(lambda: 1) == 1
    with pytest.raises(TimeoutError):
        policy.call(_raise(TimeoutError()))
    assert transitions.seen == [("closed", "open")]


def _raise(exc: BaseException) -> Any:
    def fail() -> None:
        raise exc

    return fail


class Broken:
    """A listener whose every method raises."""

    def __init__(self) -> None:
        self.calls = 0

    def on_retry(self, event: RetryScheduled) -> None:
        self.calls += 1
        msg = "listener bug"
        raise RuntimeError(msg)

    def on_call_end(self, event: CallEnded) -> None:
        self.calls += 1
        msg = "listener bug"
        raise RuntimeError(msg)

    def on_give_up(self, event: GaveUp) -> None:
        self.calls += 1
        msg = "listener bug"
        raise RuntimeError(msg)


def test_a_raising_listener_is_logged_once_and_never_breaks_a_call(
    events: list[dict[str, object]],
) -> None:
    broken, recorder = Broken(), Recorder()
    policy = Policy("orders", retry=Retry(attempts=3), listeners=[broken, recorder])
    with no_wait():
        for _ in range(3):
            assert policy.call(_flaky(1)) == "ok"
        with pytest.raises(ValueError, match="bad unit") as caught:
            policy.call(_raise(ValueError("bad unit")))  # the user's exception, unchanged
    assert type(caught.value) is ValueError
    assert broken.calls == 3 * 2 + 2  # asked every time, though it raised
    assert recorder.kinds().count("CallEnded") == 4  # the next listener still hears
    failed = [e for e in events if e["event"] == "listener.failed"]
    assert failed == [
        {
            "event": "listener.failed",
            "listener": "Broken",
            "method": "on_retry",
            "error": "RuntimeError",
            "error_message": "listener bug",
            "log_level": "error",
        }
    ]


def test_a_raising_listener_on_a_refusal_keeps_the_refusal() -> None:
    class Refusals:
        def on_rejected(self, event: Rejected) -> None:
            msg = "listener bug"
            raise RuntimeError(msg)

    policy = Policy("refusing", breaker=Breaker(fail_max=1), listeners=[Refusals()])
    policy.circuit.open()  # type: ignore[union-attr]
    with pytest.raises(CircuitOpenError):
        policy.call(lambda: 1)


def test_something_that_is_no_listener_is_refused() -> None:
    with pytest.raises(TypeError, match="has none of the methods"):
        add_listener(object())
    with pytest.raises(TypeError, match=r"Policy\.listeners"):
        Policy("p", listeners=[object()])
    with pytest.raises(TypeError, match="must be a list of listeners"):
        Policy("p", listeners=Recorder())  # type: ignore[arg-type]


# --- no floods --------------------------------------------------------------------------------


def test_100_000_refused_calls_make_a_handful_of_events(
    events: list[dict[str, object]],
) -> None:
    policy = Policy("outage", breaker=Breaker(fail_max=1, reset_timeout=600.0))
    with freeze_time("2026-01-01 12:00:00") as clock:
        with pytest.raises(TimeoutError):
            policy.call(_raise(TimeoutError()))
        refused = 0
        for minute in range(5):  # 5 minutes of an outage: 20,000 refusals a minute
            for _ in range(20_000):
                try:
                    policy.call(lambda: 1)
                except CircuitOpenError:
                    refused += 1
            clock.tick(60.0 if minute < 4 else 0.0)
        assert refused == 100_000
        assert policy.circuit.rejected == 100_000  # type: ignore[union-attr]
        policy.circuit.close()  # type: ignore[union-attr]
    names = [e["event"] for e in events]
    assert len(events) <= 8, names
    assert names[0] == "breaker.opened"
    assert names[-2:] == ["breaker.rejected", "breaker.closed"]
    counts = [e["rejected"] for e in events if e["event"] == "breaker.rejected"]
    assert sum(counts) == 100_000  # type: ignore[arg-type]
    assert len(counts) <= 6


def test_refusals_are_reported_when_the_circuit_half_opens(
    events: list[dict[str, object]],
) -> None:
    policy = Policy("outage", breaker=Breaker(fail_max=1, reset_timeout=30.0))
    with freeze_time("2026-01-01 12:00:00") as clock:
        with pytest.raises(TimeoutError):
            policy.call(_raise(TimeoutError()))
        for _ in range(1000):
            with pytest.raises(CircuitOpenError):
                policy.call(lambda: 1)
        clock.tick(31.0)
        assert policy.call(lambda: 1) == 1  # the trial: half-open, then closed
    assert [(e["event"], e.get("rejected")) for e in events] == [
        ("breaker.opened", None),
        ("breaker.rejected", 1000),
        ("breaker.half_opened", None),
        ("breaker.closed", None),
    ]


# --- policy.stats() ---------------------------------------------------------------------------


def test_stats_count_every_moment_of_a_policy() -> None:
    policy = Policy(
        "counted",
        retry=Retry(attempts=3),
        breaker=Breaker(fail_max=3, reset_timeout=30.0),
        fallback=lambda: "cached",
    )
    assert policy.stats() == Stats(
        calls=0, failures={}, retries=0, gave_up={}, rejected=0, fallbacks=0
    )
    with no_wait():
        assert policy.call(_flaky(2)) == "ok"  # 2 retries
        assert policy.call(_raise(PermissionError("denied"))) == "cached"  # never retried
        assert policy.call(_flaky(10)) == "cached"  # 3 timeouts: gives up, circuit opens
        assert policy.call(lambda: 1) == "cached"  # refused
        with pytest.raises(CircuitOpenError), policy.guard():
            pass  # refused on entry
    stats = policy.stats()
    assert stats.calls == 5
    assert stats.failures == {"permanent": 1, "retryable": 5}
    assert stats.retries == 4
    assert stats.gave_up == {"attempts": 1, "permanent: never retried": 1}
    assert stats.rejected == 2  # the call, and the guard
    assert stats.fallbacks == 3


def test_stats_count_refusals_by_the_limits_too() -> None:
    policy = Policy(
        "limited",
        concurrency=Concurrency(limit=1),
        rate_limit=RateLimit(rate=1, per=60.0),
        fallback=lambda: "busy",
    )
    inner: list[object] = []
    # The first call holds the only slot while it calls again: the bulkhead refuses.
    assert policy.call(lambda: inner.append(policy.call(lambda: "inner")) or "outer") == "outer"
    assert inner == ["busy"]
    assert policy.call(lambda: "ok") == "busy"  # the one token is spent: the rate limit refuses
    stats = policy.stats()
    assert stats.calls == 3
    assert stats.rejected == 2
    assert stats.fallbacks == 2


def test_stats_are_exact_under_8_threads() -> None:
    policy = Policy(
        "threads",
        retry=Retry(attempts=2),
        breaker=Breaker(fail_max=10**9),  # never opens: every call runs
        fallback=lambda: "cached",
    )
    calls_per_thread = 2_000
    barrier = threading.Barrier(8)

    def work(index: int) -> None:
        barrier.wait()
        fn = _flaky(0 if index % 2 else 10**9)  # half the threads fail every attempt
        for _ in range(calls_per_thread):
            policy.call(fn)

    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        with no_wait():
            threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    finally:
        sys.setswitchinterval(previous)
    failing_calls = 4 * calls_per_thread
    assert policy.stats() == Stats(
        calls=8 * calls_per_thread,
        failures={"retryable": 2 * failing_calls},
        retries=failing_calls,
        gave_up={"attempts": failing_calls},
        rejected=0,
        fallbacks=failing_calls,
    )


def test_a_raising_listener_that_cannot_be_weakly_referenced_is_logged_once(
    events: list[dict[str, object]],
) -> None:
    class Slotted:
        __slots__ = ()

        def on_call_end(self, event: CallEnded) -> None:
            msg = "listener bug"
            raise RuntimeError(msg)

    policy = Policy("slotted", listeners=[Slotted()])
    for _ in range(3):
        assert policy.call(lambda: 1) == 1
    failed = [e["listener"] for e in events if e["event"] == "listener.failed"]
    assert len(failed) == 1
    assert str(failed[0]).endswith(".Slotted")


async def test_every_form_counts_one_call() -> None:
    policy = Policy("forms", retry=Retry(attempts=2), breaker=Breaker())

    @policy
    def sync_call() -> int:
        return 1

    @policy
    async def async_call() -> int:
        return 2

    with no_wait():
        assert sync_call() == 1
        assert await async_call() == 2
        assert policy.call(lambda: 3) == 3
        assert await policy.acall(async_call.__wrapped__) == 2  # type: ignore[attr-defined]
        with policy.guard():
            pass
        async with policy.guard():
            pass
        flaky = _flaky(1)
        for attempt in policy.attempts():  # one call, two attempts
            with attempt:
                flaky()
        async for attempt in policy.attempts():
            with attempt:
                pass
    stats = policy.stats()
    assert stats.calls == 8
    assert stats.failures == {"retryable": 1}
    assert stats.retries == 1


def test_an_interrupted_call_ends_as_cancelled() -> None:
    recorder = Recorder()
    policy = Policy("interrupted", breaker=Breaker(), listeners=[recorder])
    with pytest.raises(KeyboardInterrupt):
        policy.call(_raise(KeyboardInterrupt()))

    @policy
    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    ends = [(e.outcome, e.attempts) for e in recorder.seen if isinstance(e, CallEnded)]
    assert ends == [("cancelled", 1), ("cancelled", 1)]
    assert policy.circuit.state == "closed"  # type: ignore[union-attr]
