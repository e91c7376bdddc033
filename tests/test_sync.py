"""Policies around plain functions; tests/test_async.py mirrors this file for asyncio."""

from __future__ import annotations

import inspect
from datetime import timedelta
from typing import Any

import pytest
import tenacity
from freezegun import freeze_time

from resilience import (
    Backoff,
    Breaker,
    Category,
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


def test_a_call_that_succeeds_returns_its_value_and_logs_nothing(events: list[Any]) -> None:
    script = Script(value=42)
    policy = make(retry=Retry(attempts=3), breaker=Breaker())
    assert policy(script)(1, key="v") == 42
    assert script.calls == [((1,), {"key": "v"})]
    assert events == []


def test_no_call_builds_tenacity_machinery(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[object] = []
    original = tenacity.RetryCallState.__init__

    def spy(self: tenacity.RetryCallState, *args: Any, **kwargs: Any) -> None:
        built.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(tenacity.RetryCallState, "__init__", spy)
    policy = make(retry=Retry(attempts=3, backoff=FAST), breaker=Breaker())
    for _ in range(100):
        assert policy.call(Script()) == "ok"
    assert built == []
    with no_wait():
        assert policy.call(Script(Flaky())) == "ok"
    assert built == []


def test_the_decorator_keeps_name_doc_and_signature() -> None:
    policy = make()

    @policy
    def publish(topic: str, payload: bytes, *, qos: int = 1) -> bool:
        """Publish a message."""
        return True

    assert publish.__name__ == "publish"
    assert publish.__doc__ == "Publish a message."
    assert inspect.signature(publish) == inspect.signature(publish.__wrapped__)  # type: ignore[attr-defined]
    assert list(inspect.signature(publish).parameters) == ["topic", "payload", "qos"]
    assert publish("t", b"x") is True


# --- retry -----------------------------------------------------------------------------------


def test_retryable_failures_are_retried_until_success(no_wait: None, events: list[Any]) -> None:
    script = Script(Flaky("one"), Flaky("two"), value="done")
    assert make(retry=Retry(attempts=3, backoff=FAST)).call(script) == "done"
    assert len(script.calls) == 3
    scheduled = named(events, "retry.scheduled")
    assert [e["attempt"] for e in scheduled] == [1, 2]
    assert all(e["policy"] == "test" for e in scheduled)
    assert all(e["category"] == "retryable" and e["error"] == "Flaky" for e in scheduled)
    assert all(0 <= e["wait"] <= 0.004 for e in scheduled)
    assert scheduled[0]["error_message"] == "one"


def test_when_attempts_run_out_the_original_exception_propagates_with_a_note(
    no_wait: None, events: list[Any]
) -> None:
    last = Flaky("third")
    script = Script(Flaky("first"), Flaky("second"), last)
    with pytest.raises(Flaky) as caught:
        make(retry=Retry(attempts=3, backoff=FAST)).call(script)
    assert caught.value is last
    assert len(script.calls) == 3
    (note,) = caught.value.__notes__
    assert note.startswith("policy 'test' gave up after 3 attempts in ")
    (gave_up,) = named(events, "retry.gave_up")
    assert gave_up["attempts"] == 3
    assert gave_up["reason"] == "attempts"


def test_attempts_counts_the_first_call() -> None:
    script = Script(Flaky())
    with pytest.raises(Flaky):
        make(retry=Retry(attempts=1)).call(script)
    assert len(script.calls) == 1


def test_without_retry_a_call_is_tried_once() -> None:
    script = Script(Flaky())
    with pytest.raises(Flaky):
        make().call(script)
    assert len(script.calls) == 1


@pytest.mark.parametrize("failure", [Denied("no"), Broken("bad")])
def test_auth_and_permanent_failures_are_never_retried(
    no_wait: None, events: list[Any], failure: Exception
) -> None:
    script = Script(failure)
    with pytest.raises(type(failure)) as caught:
        make(retry=Retry(attempts=5, backoff=FAST)).call(script)
    assert caught.value is failure
    assert len(script.calls) == 1
    assert "never retried" in caught.value.__notes__[0]
    assert named(events, "retry.scheduled") == []


def test_unknown_exceptions_fail_fast() -> None:
    script = Script(ValueError("unknown"))
    with pytest.raises(ValueError, match="unknown"):
        Policy("p", retry=Retry(attempts=5)).call(script)
    assert len(script.calls) == 1


def test_the_deadline_is_never_overshot_by_a_sleep(no_wait: None, events: list[Any]) -> None:
    script = Script(*[Flaky() for _ in range(9)])
    retry = Retry(
        attempts=10, deadline=1.0, backoff=Backoff(initial=0.4, maximum=0.4, jitter="none")
    )
    # The clock stands still but for the skipped sleeps: a loaded machine can't shift it.
    with freeze_time("2026-01-01 12:00:00"), pytest.raises(Flaky) as caught:
        make(retry=retry).call(script)
    # waits of 0.4 s: after two of them a third would end at 1.2 s, past the deadline
    assert len(script.calls) == 3
    assert caught.value.__notes__[0].endswith("(deadline)")
    assert named(events, "retry.gave_up")[0]["reason"] == "deadline"


def test_waits_follow_the_backoff(no_wait: None, events: list[Any]) -> None:
    script = Script(Flaky(), Flaky(), Flaky())
    backoff = Backoff(initial=0.5, maximum=1.5, jitter="none")
    make(retry=Retry(attempts=4, backoff=backoff)).call(script)
    assert [e["wait"] for e in named(events, "retry.scheduled")] == [0.5, 1.0, 1.5]


# --- queue-related failures ------------------------------------------------------------------


def test_queue_failures_go_to_the_fallback_by_default(no_wait: None) -> None:
    script = Script(QueueFull())
    policy = make(retry=Retry(attempts=5, backoff=FAST), fallback=lambda: "queued elsewhere")
    assert policy.call(script) == "queued elsewhere"
    assert len(script.calls) == 1


def test_queue_failures_raise_without_a_fallback() -> None:
    script = Script(QueueFull())
    with pytest.raises(QueueFull):
        make(retry=Retry(attempts=5)).call(script)
    assert len(script.calls) == 1


def test_queue_retry_uses_its_own_attempts_and_backoff(no_wait: None, events: list[Any]) -> None:
    script = Script(*[QueueFull() for _ in range(10)])
    queue = Queue(action="retry", attempts=4, backoff=Backoff(initial=2, maximum=2, jitter="none"))
    with pytest.raises(QueueFull):
        make(retry=Retry(attempts=2, backoff=FAST), queue=queue).call(script)
    assert len(script.calls) == 4
    assert [e["wait"] for e in named(events, "retry.scheduled")] == [2.0, 2.0, 2.0]
    assert {e["category"] for e in named(events, "retry.scheduled")} == {"queue"}


def test_queue_raise_skips_the_fallback() -> None:
    script = Script(QueueFull())
    policy = make(queue=Queue(action="raise"), fallback=lambda: "unused")
    with pytest.raises(QueueFull):
        policy.call(script)


# --- fallback --------------------------------------------------------------------------------


def test_the_fallback_gets_the_arguments_and_the_exception(
    no_wait: None, events: list[Any]
) -> None:
    seen: list[Any] = []

    def connect_direct(thing: str, *, port: int, exception: BaseException) -> str:
        seen.append((thing, port, exception))
        return f"direct:{thing}"

    last = Flaky("gone")
    policy = make(retry=Retry(attempts=2, backoff=FAST), fallback=connect_direct)
    assert policy.call(Script(Flaky(), last), "sensor", port=8883) == "direct:sensor"
    assert seen == [("sensor", 8883, last)]
    (used,) = named(events, "fallback.used")
    assert used["category"] == "retryable"
    assert used["policy"] == "test"


def test_a_fallback_without_an_exception_parameter_gets_only_the_arguments() -> None:
    policy = make(fallback=lambda thing: f"fb:{thing}")
    assert policy.call(Script(Broken()), "x") == "fb:x"


def test_the_fallback_only_applies_to_its_categories(no_wait: None) -> None:
    policy = make(retry=Retry(attempts=2, backoff=FAST), fallback=Fallback(str, on=["auth"]))
    with pytest.raises(Flaky):
        policy.call(Script(Flaky(), Flaky()))
    assert policy.call(Script(Denied()), 7) == "7"


def test_a_failing_fallback_raises_its_own_exception_with_the_original_as_context() -> None:
    original = Broken("original")

    def fallback() -> None:
        raise RuntimeError("fallback failed")

    with pytest.raises(RuntimeError, match="fallback failed") as caught:
        make(fallback=fallback).call(Script(original))
    assert caught.value.__context__ is original


# --- breaker ---------------------------------------------------------------------------------


def test_the_breaker_opens_after_fail_max_retryable_failures(events: list[Any]) -> None:
    policy = make(breaker=Breaker(fail_max=3, reset_timeout=30))
    tripping = Flaky("third")
    for failure in (Flaky(), Flaky(), tripping):
        with pytest.raises(Flaky) as caught:
            policy.call(Script(failure))
    assert caught.value is tripping  # the attempt that trips keeps its own exception
    assert policy.breaker_state == "open"
    (opened,) = named(events, "breaker.opened")
    assert opened["failures"] == 3
    script = Script()
    with pytest.raises(CircuitOpenError) as refused:
        policy.call(script)
    assert script.calls == []
    assert 29 < refused.value.remaining <= 30
    assert refused.value.policy == "test"
    assert named(events, "breaker.rejected") == []  # counted, logged when the circuit leaves open
    assert policy.circuit is not None
    assert policy.circuit.rejected == 1


def test_non_retryable_failures_count_as_successes_for_the_breaker() -> None:
    policy = make(breaker=Breaker(fail_max=2))
    for failure in (Flaky(), Denied(), Flaky(), Broken(), Flaky()):
        with pytest.raises(type(failure)):
            policy.call(Script(failure))
    assert policy.breaker_state == "closed"


def test_every_attempt_passes_the_breaker(no_wait: None, events: list[Any]) -> None:
    policy = make(retry=Retry(attempts=10, backoff=FAST), breaker=Breaker(fail_max=3))
    tripping = Flaky("third")
    script = Script(Flaky(), Flaky(), tripping, *[Flaky() for _ in range(7)])
    with pytest.raises(Flaky) as caught:
        policy.call(script)
    # the third attempt trips the breaker: it fails with its own exception, and the policy
    # stops there rather than sleep only to be refused
    assert caught.value is tripping
    assert len(script.calls) == 3
    assert caught.value.__notes__[0].endswith("(circuit opened)")
    assert len(named(events, "retry.scheduled")) == 2
    with pytest.raises(CircuitOpenError):
        policy.call(script)
    assert len(script.calls) == 3


def test_an_open_circuit_always_goes_to_the_fallback() -> None:
    policy = make(breaker=Breaker(fail_max=1), fallback=Fallback(lambda: "cached", on=["auth"]))
    with pytest.raises(Flaky):
        policy.call(Script(Flaky()))
    assert policy.call(Script()) == "cached"


def test_the_breaker_half_opens_after_the_timeout_and_closes_on_success(
    events: list[Any],
) -> None:
    with freeze_time("2026-01-01 12:00:00") as clock:
        policy = make(breaker=Breaker(fail_max=1, reset_timeout=30))
        with pytest.raises(Flaky):
            policy.call(Script(Flaky()))
        clock.tick(timedelta(seconds=29))
        with pytest.raises(CircuitOpenError) as refused:
            policy.call(Script())
        assert refused.value.remaining == pytest.approx(1.0)
        assert policy.breaker_state == "open"
        clock.tick(timedelta(seconds=2))
        assert policy.breaker_state == "open"  # until the first call after reset_timeout
        assert policy.call(Script(value="trial")) == "trial"
        assert policy.breaker_state == "closed"
    names = [e["event"] for e in events if e["event"].startswith("breaker.")]
    assert names == ["breaker.opened", "breaker.rejected", "breaker.half_opened", "breaker.closed"]


def test_a_failed_trial_opens_the_circuit_again() -> None:
    with freeze_time("2026-01-01 12:00:00") as clock:
        policy = make(breaker=Breaker(fail_max=2, reset_timeout=10))
        for _ in range(2):
            with pytest.raises(Flaky):
                policy.call(Script(Flaky()))
        clock.tick(timedelta(seconds=11))
        with pytest.raises(Flaky):
            policy.call(Script(Flaky()))
        assert policy.breaker_state == "open"
        with pytest.raises(CircuitOpenError):
            policy.call(Script())


def test_half_open_admits_only_half_open_calls_trials_at_a_time() -> None:
    with freeze_time("2026-01-01 12:00:00") as clock:
        policy = make(breaker=Breaker(fail_max=1, reset_timeout=5, half_open_calls=2))
        with pytest.raises(Flaky):
            policy.call(Script(Flaky()))
        clock.tick(timedelta(seconds=6))
        with policy.guard(), policy.guard():
            assert policy.breaker_state == "half-open"
            with pytest.raises(CircuitOpenError) as refused:
                policy.call(Script())
            assert refused.value.remaining == 0
        assert policy.breaker_state == "closed"  # both trials succeeded


def test_half_open_closes_after_half_open_calls_successes_in_a_row() -> None:
    with freeze_time("2026-01-01 12:00:00") as clock:
        policy = make(breaker=Breaker(fail_max=1, reset_timeout=5, half_open_calls=2))
        with pytest.raises(Flaky):
            policy.call(Script(Flaky()))
        clock.tick(timedelta(seconds=6))
        policy.call(Script())
        assert policy.breaker_state == "half-open"
        policy.call(Script())
        assert policy.breaker_state == "closed"


def test_each_policy_object_owns_its_breaker() -> None:
    first = make(breaker=Breaker(fail_max=1))
    second = first.replace()
    with pytest.raises(Flaky):
        first.call(Script(Flaky()))
    assert (first.breaker_state, second.breaker_state) == ("open", "closed")


def test_circuit_open_error_is_a_pybreaker_error() -> None:
    import pybreaker

    policy = make(breaker=Breaker(fail_max=1))
    with pytest.raises(Flaky):
        policy.call(Script(Flaky()))
    with pytest.raises(pybreaker.CircuitBreakerError):
        policy.call(Script())


def test_interrupts_are_not_classified_and_release_the_trial() -> None:
    with freeze_time("2026-01-01 12:00:00") as clock:
        policy = make(breaker=Breaker(fail_max=1, reset_timeout=5))
        with pytest.raises(Flaky):
            policy.call(Script(Flaky()))
        clock.tick(timedelta(seconds=6))
        with pytest.raises(KeyboardInterrupt):
            policy.call(Script(KeyboardInterrupt()))
        assert policy.call(Script(value="trial again")) == "trial again"
        assert policy.breaker_state == "closed"


# --- guard and attempts ----------------------------------------------------------------------


def test_guard_runs_the_block_once_and_counts_it() -> None:
    policy = make(retry=Retry(attempts=5), breaker=Breaker(fail_max=2))
    runs = 0
    for _ in range(2):
        with pytest.raises(Flaky), policy.guard():
            runs += 1
            raise Flaky
    assert runs == 2
    assert policy.breaker_state == "open"
    with pytest.raises(CircuitOpenError), policy.guard():
        runs += 1
    assert runs == 2


def test_attempts_retry_a_block(no_wait: None, events: list[Any]) -> None:
    policy = make(retry=Retry(attempts=3, backoff=FAST))
    numbers = []
    for attempt in policy.attempts():
        with attempt:
            numbers.append(attempt.number)
            if attempt.number < 3:
                raise Flaky
    assert numbers == [1, 2, 3]
    assert len(named(events, "retry.scheduled")) == 2


def test_attempts_give_up_with_the_original_exception(no_wait: None) -> None:
    policy = make(retry=Retry(attempts=2, backoff=FAST))
    with pytest.raises(Flaky) as caught:
        for attempt in policy.attempts():
            with attempt:
                raise Flaky(str(attempt.number))
    assert str(caught.value) == "2"
    assert "gave up after 2 attempts" in caught.value.__notes__[0]


def test_attempts_stop_at_once_on_non_retryable_failures() -> None:
    policy = make(retry=Retry(attempts=5))
    count = 0
    with pytest.raises(Denied):
        for attempt in policy.attempts():
            with attempt:
                count += 1
                raise Denied
    assert count == 1


# --- specs -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "error", "text"),
    [
        (lambda: Retry(attempts=0), ValueError, "Retry.attempts must be >= 1"),
        (lambda: Retry(deadline=0), ValueError, "Retry.deadline must be > 0"),
        (lambda: Retry(backoff=3), TypeError, "Retry.backoff must be a Backoff"),
        (lambda: Breaker(fail_max=0), ValueError, "Breaker.fail_max must be >= 1"),
        (lambda: Breaker(reset_timeout=-1), ValueError, "Breaker.reset_timeout must be > 0"),
        (lambda: Breaker(half_open_calls=True), TypeError, "Breaker.half_open_calls"),
        (lambda: Queue(action="drop"), ValueError, "'fallback', 'retry', 'raise'"),
        (lambda: Fallback(42), TypeError, "Fallback.func must be callable"),
        (lambda: Fallback(str, on=["sometimes"]), ValueError, "'retryable', 'auth'"),
        (lambda: Policy(""), ValueError, "Policy.name"),
        (lambda: Policy("p", retry=3), TypeError, "Policy.retry must be a Retry"),
    ],
)
def test_specs_check_their_arguments_when_built(build: Any, error: type, text: str) -> None:
    with pytest.raises(error, match=text.replace("(", r"\(")):
        build()


def test_defaults_are_those_of_the_design() -> None:
    assert Retry() == Retry(attempts=3, deadline=None, attempt_timeout=None, backoff=Backoff())
    assert Backoff() == Backoff(initial=0.1, maximum=20.0, multiplier=2.0, jitter="full")
    assert Queue() == Queue(
        action="fallback", attempts=3, backoff=Backoff(initial=0.5, maximum=5.0, jitter="equal")
    )
    assert Breaker() == Breaker(fail_max=5, reset_timeout=30.0, half_open_calls=1)
    assert Fallback(str).on == tuple(Category)


def test_specs_are_frozen() -> None:
    retry = Retry()
    with pytest.raises(AttributeError):
        retry.attempts = 5  # type: ignore[misc]
    assert retry.replace(attempts=5).attempts == 5


def test_the_failure_that_propagates_is_not_chained_to_the_first_one(no_wait: None) -> None:
    first, last = Flaky("first"), Flaky("last")
    with pytest.raises(Flaky) as caught:
        make(retry=Retry(attempts=2, backoff=FAST)).call(Script(first, last))
    assert caught.value is last
    assert caught.value.__context__ is None


def test_a_last_attempt_that_trips_the_breaker_reports_the_attempts(no_wait: None) -> None:
    policy = make(retry=Retry(attempts=3, backoff=FAST), breaker=Breaker(fail_max=3))
    with pytest.raises(Flaky) as caught:
        policy.call(Script(Flaky(), Flaky(), Flaky()))
    assert caught.value.__notes__[0].endswith("(attempts)")
    assert policy.breaker_state == "open"
