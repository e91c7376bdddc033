"""``policy.circuit``: the breaker's public view and its switches, and counted refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pybreaker
import pytest
from freezegun import freeze_time

from resilience import Breaker, Circuit, CircuitOpenError, Policy, ResilienceError

from .helpers import CLASSIFIER, Denied, Flaky, Script, named


def make(**breaker: Any) -> Policy:
    return Policy("svc", breaker=Breaker(**breaker), classifier=CLASSIFIER)


def fail(policy: Policy, times: int = 1) -> None:
    for _ in range(times):
        with pytest.raises(Flaky):
            policy.call(Script(Flaky()))


def test_a_policy_without_a_breaker_has_no_circuit() -> None:
    assert Policy("plain").circuit is None
    assert Policy("plain").breaker_state == "closed"


def test_the_view_follows_the_state_machine() -> None:
    with freeze_time("2026-01-01 12:00:00") as clock:
        policy = make(fail_max=3, reset_timeout=30)
        circuit = policy.circuit
        assert isinstance(circuit, Circuit)
        assert (circuit.state, circuit.failures, circuit.opened_at) == ("closed", 0, None)
        assert circuit.failure_rate is None  # consecutive mode
        fail(policy, 2)
        assert circuit.failures == 2
        with pytest.raises(Denied):
            policy.call(Script(Denied()))  # the remote side answered: the run ends
        assert circuit.failures == 0
        fail(policy, 3)
        assert circuit.state == "open"
        assert circuit.opened_at == datetime(2026, 1, 1, 12, tzinfo=UTC)
        for _ in range(4):
            with pytest.raises(CircuitOpenError):
                policy.call(Script())
        assert circuit.rejected == 4
        clock.tick(timedelta(seconds=31))
        assert policy.call(Script()) == "ok"
        assert (circuit.state, circuit.failures, circuit.opened_at) == ("closed", 0, None)
        assert "svc" in repr(circuit)


def test_operators_open_close_and_reset_the_circuit(events: list[dict[str, Any]]) -> None:
    with freeze_time("2026-01-01 12:00:00") as clock:
        policy = make(fail_max=5, reset_timeout=10)
        circuit = policy.circuit
        assert circuit is not None
        circuit.open()
        assert policy.breaker_state == "open"
        with pytest.raises(CircuitOpenError) as refused:
            policy.call(Script())
        assert refused.value.remaining == pytest.approx(10)
        circuit.close()
        assert policy.call(Script()) == "ok"
        fail(policy, 2)
        circuit.reset()
        assert (circuit.state, circuit.failures, circuit.rejected) == ("closed", 0, 0)
        circuit.open()
        clock.tick(timedelta(seconds=11))
        assert policy.call(Script()) == "ok"  # half-open, then closed by the trial
    names = [e["event"] for e in events if e["event"].startswith("breaker.")]
    assert names == [
        "breaker.opened",
        "breaker.rejected",
        "breaker.closed",
        "breaker.opened",
        "breaker.half_opened",
        "breaker.closed",
    ]


def test_refusals_are_counted_not_logged_one_by_one(events: list[dict[str, Any]]) -> None:
    with freeze_time("2026-01-01 12:00:00") as clock:
        policy = make(fail_max=1, reset_timeout=600)
        fail(policy)
        for _ in range(10_000):
            with pytest.raises(CircuitOpenError):
                policy.call(Script())
        assert named(events, "breaker.rejected") == []
        clock.tick(timedelta(seconds=61))
        for _ in range(10):
            with pytest.raises(CircuitOpenError):
                policy.call(Script())
        (minute,) = named(events, "breaker.rejected")  # at most once a minute while open
        assert minute["rejected"] == 10_001
        clock.tick(timedelta(seconds=600))
        assert policy.call(Script()) == "ok"
    summary = named(events, "breaker.rejected")
    assert [e["rejected"] for e in summary] == [10_001, 9]  # the rest, when it half-opens


def test_circuit_open_error_keeps_working_for_pybreaker_users() -> None:
    policy = make(fail_max=1)
    fail(policy)
    with pytest.raises(pybreaker.CircuitBreakerError) as refused:
        policy.call(Script())
    assert isinstance(refused.value, ResilienceError)
    assert refused.value.args[0] == "svc"
    assert "open" in str(refused.value)
