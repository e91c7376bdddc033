"""chaos(): faults and latency injected into a policy's attempts, deterministic under a seed,
never active unless entered; the way to test a service's fallbacks."""

from __future__ import annotations

import asyncio
import time

import pytest

from resilience import Breaker, CircuitOpenError, Fallback, Hedge, Policy, Retry, load_policies
from resilience.testing import chaos, no_wait


def service() -> str:
    return "fresh"


def cached() -> str:
    return "cached"


def test_it_checks_its_arguments() -> None:
    policy = Policy("p")
    with pytest.raises(TypeError, match=r"chaos.policy_or_name must be a Policy or a policy name"):
        chaos(3, fault=OSError)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"chaos.rate must be from 0 to 1 \(got 2\)"):
        chaos(policy, fault=OSError, rate=2)
    with pytest.raises(ValueError, match=r"chaos.fault nothing to inject"):
        chaos(policy)
    with pytest.raises(TypeError, match=r"chaos.fault must be an exception class .* instance"):
        chaos(policy, fault=OSError("once"))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"chaos.fault must be an Exception subclass"):
        chaos(policy, fault=KeyboardInterrupt)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"chaos.latency must be >= 0"):
        chaos(policy, latency=-1)


def test_never_active_unless_entered() -> None:
    policy = Policy("svc", fallback=cached)
    call = policy(service)
    injector = chaos(policy, fault=ConnectionResetError)
    assert call() == "fresh"
    with injector:
        assert call() == "cached"
    assert call() == "fresh"
    assert (injector.hits, injector.attempts) == (1, 1)


def test_the_fault_is_retried_and_handed_to_the_fallback_as_the_functions_own(
    no_wait: None,
) -> None:
    seen: list[BaseException] = []

    def fallback(exception: BaseException) -> str:
        seen.append(exception)
        return "cached"

    policy = Policy("svc", retry=Retry(attempts=3), fallback=fallback)
    call = policy(service)
    with chaos(policy, fault=ConnectionResetError) as injected:
        assert call() == "cached"
    assert injected.hits == 3  # every attempt, retries included
    assert isinstance(seen[0], ConnectionResetError)
    assert "chaos: fault injected into an attempt of policy 'svc'" in str(seen[0])


def test_the_breaker_opens_on_injected_faults_and_the_fallback_answers() -> None:
    policy = Policy("svc", breaker=Breaker(fail_max=3), fallback=cached)
    call = policy(service)
    with chaos(policy, fault=TimeoutError):
        assert [call() for _ in range(3)] == ["cached"] * 3
    assert policy.breaker_state == "open"
    reached: list[bool] = []

    @policy
    def check() -> str:
        reached.append(True)  # pragma: no cover - refused
        return "fresh"  # pragma: no cover

    assert check() == "cached"
    assert not reached


def test_a_seed_makes_the_same_attempts_fail_on_every_run() -> None:
    def outcomes(seed: int) -> list[str]:
        policy = Policy("svc", fallback=cached)
        call = policy(service)
        with chaos(policy, fault=ConnectionError, rate=0.3, seed=seed):
            return [call() for _ in range(200)]

    first = outcomes(42)
    assert first == outcomes(42)
    assert first != outcomes(43)
    assert 40 <= first.count("cached") <= 80  # about 30 %


def test_a_callable_fault_makes_each_exception(no_wait: None) -> None:
    made: list[OSError] = []

    def fault() -> OSError:
        made.append(OSError(104, "reset by chaos"))
        return made[-1]

    policy = Policy("svc", retry=Retry(attempts=2))
    with chaos(policy, fault=fault), pytest.raises(OSError, match="reset by chaos") as caught:
        policy.call(service)
    assert len(made) == 2
    assert caught.value is made[-1]  # ours, not wrapped


def test_by_name_it_hits_every_policy_of_that_name_even_one_built_meanwhile() -> None:
    early = Policy("inventory", fallback=cached)
    other = Policy("orders", fallback=cached)
    with chaos("inventory", fault=ConnectionError):
        later = load_policies(
            "version: 1\npolicies:\n  inventory:\n    fallback: tests.test_chaos:cached\n"
        )["inventory"]
        assert early.call(service) == "cached"
        assert later.call(service) == "cached"
        assert other.call(service) == "fresh"
    assert early.call(service) == "fresh"
    assert later.call(service) == "fresh"


def test_nested_contexts_restore_the_outer_one() -> None:
    policy = Policy("svc", fallback=Fallback(lambda exception: type(exception).__name__))
    with chaos(policy, fault=ConnectionError):
        with chaos(policy, fault=TimeoutError):
            assert policy.call(service) == "TimeoutError"
        assert policy.call(service) == "ConnectionError"
    assert policy.call(service) == "fresh"


def test_latency_delays_sync_attempts_for_real() -> None:
    policy = Policy("svc")
    with chaos(policy, latency=0.002), no_wait():  # no_wait leaves it alone
        began = time.perf_counter()
        assert policy.call(service) == "fresh"
    assert time.perf_counter() - began >= 0.002


async def test_async_faults_reach_the_async_fallback() -> None:
    async def fallback(exception: BaseException) -> str:
        return f"cached after {type(exception).__name__}"

    policy = Policy("svc", fallback=fallback)

    @policy
    async def fetch() -> str:
        return "fresh"

    async with chaos(policy, fault=ConnectionResetError):
        assert await fetch() == "cached after ConnectionResetError"
    assert await fetch() == "fresh"


async def test_latency_on_one_attempt_is_what_a_hedge_answers() -> None:
    policy = Policy("svc", hedge=Hedge(delay=0.001))
    calls = 0

    @policy
    async def fetch() -> int:
        nonlocal calls
        calls += 1
        return calls

    # The first draw of seed 3 hits (a long wait), the second does not: the hedge answers.
    with chaos(policy, latency=30.0, rate=0.5, seed=3) as injected:
        assert await asyncio.wait_for(fetch(), 5) == 1
    assert (injected.hits, injected.attempts) == (1, 2)


async def test_a_cancelled_call_during_injected_latency_propagates_cancelled_error() -> None:
    policy = Policy("svc", fallback=cached)

    @policy
    async def fetch() -> str:
        return "fresh"  # pragma: no cover

    with chaos(policy, latency=30.0):
        task = asyncio.create_task(fetch())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def test_an_open_circuit_is_not_hit(no_wait: None) -> None:
    policy = Policy("svc", breaker=Breaker(fail_max=1))
    policy.circuit.open()  # type: ignore[union-attr]
    with chaos(policy, fault=ConnectionError) as injected, pytest.raises(CircuitOpenError):
        policy.call(service)
    assert injected.attempts == 0  # refused before the attempt: nothing drawn


def test_repr_says_what_it_does() -> None:
    injector = chaos("svc", fault=ConnectionError, rate=0.25)
    assert repr(injector).startswith("<chaos on policy 'svc': rate=0.25")
