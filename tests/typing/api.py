"""Checked by mypy (not run): the public API keeps the types its users rely on."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Literal, assert_type

from tenacity.retry import retry_base
from tenacity.stop import stop_base

import resilience
from resilience import Backoff, Breaker, Category, CircuitOpenError, Policy, Retry, Verdict
from resilience.adapters.pybreaker import not_retryable
from resilience.adapters.tenacity import retry_if_retryable, stop_for, tenacity_kwargs
from resilience.observe import Stats
from resilience.observe.otel import OTelListener
from resilience.testing import chaos

policy = Policy("p", retry=Retry(attempts=3, backoff=Backoff()), breaker=Breaker())


@policy
def fetch(url: str, *, timeout: float = 1.0) -> bytes:
    return url.encode()


@policy
async def afetch(url: str) -> bytes:
    return url.encode()


assert_type(fetch("x"), bytes)
assert_type(policy.call(fetch, "x", timeout=2.0), bytes)


async def use() -> None:
    assert_type(await afetch("x"), bytes)
    assert_type(await policy.acall(afetch, "x"), bytes)
    async for attempt in policy.attempts():
        async with attempt:
            pass


assert_type(resilience.classify(TimeoutError()), Category)
assert_type(resilience.explain(TimeoutError()), Verdict)
assert_type(policy.breaker_state, Literal["closed", "open", "half-open"])
circuit = policy.circuit
assert_type(circuit, resilience.Circuit | None)
if circuit is not None:
    assert_type(circuit.state, Literal["closed", "open", "half-open"])
    assert_type(circuit.failures, int)
    assert_type(circuit.rejected, int)
    assert_type(circuit.opened_at, datetime | None)
    circuit.open()
    circuit.close()
    circuit.reset()

stats = policy.stats()
assert_type(stats, Stats)
assert_type(stats.calls, int)
assert_type(stats.failures, Mapping[str, int])
assert_type(CircuitOpenError("p", 1.0).remaining, float)
for attempt in policy.attempts():
    with attempt:
        assert_type(attempt.number, int)
with policy.guard():
    pass

policies = resilience.load_policies("version: 1\npolicies:\n  p: {}\n")
assert_type(policies, resilience.PolicySet)
assert_type(policies["p"], Policy)


@resilience.policy("p")
def named(x: int) -> str:
    return str(x)


assert_type(named(1), str)

# A fleet: breaker state in Redis, a retry budget (building them talks to no server).
storage = resilience.RedisStorage(url="redis://localhost:6379/0", namespace="app")
fleet = Policy(
    "fleet",
    retry=Retry(budget=resilience.Budget(ratio=0.1, min_per_second=1.0, storage=storage)),
    breaker=Breaker(storage=storage),
)
assert_type(fleet.retry, Retry | None)
assert_type(resilience.Budget().ratio, float)

# Durations take seconds or a timedelta, and read back as seconds.
minute = timedelta(minutes=1)
timed = Retry(deadline=minute, attempt_timeout=timedelta(seconds=5), max_hint=minute)
assert_type(timed.deadline, float | None)
assert_type(Backoff(initial=timedelta(seconds=1), maximum=minute).maximum, float)
assert_type(Breaker(reset_timeout=minute).reset_timeout, float)
assert_type(resilience.Budget(window=minute).window, float)
assert_type(resilience.RedisStorage(url="redis://h/0", timeout=timedelta(seconds=1)).timeout, float)
Retry(attempts="3")  # type: ignore[arg-type]
Backoff(jitter="sometimes")  # type: ignore[arg-type]
Breaker(fail_max=5, reset_timeout="30")  # type: ignore[arg-type]

# The adapters hand back the other libraries' own objects, to combine with theirs.
retry_kwargs = tenacity_kwargs(policy)
assert_type(retry_kwargs, dict[str, Any])
assert_type(retry_if_retryable(), retry_base)
assert_type(stop_for(Retry()), stop_base)
assert_type(not_retryable(), Callable[[BaseException], bool])
assert_type(OTelListener(), OTelListener)
limited = Policy(
    "limited",
    concurrency=resilience.Concurrency(limit=4, max_wait=timedelta(milliseconds=50)),
    rate_limit=resilience.RateLimit(rate=10, per=minute, burst=2),
    hedge=resilience.Hedge(delay=timedelta(milliseconds=20), max_extra=2),
)
assert_type(limited.concurrency, resilience.Concurrency | None)
assert_type(limited.rate_limit, resilience.RateLimit | None)
assert_type(limited.hedge, resilience.Hedge | None)
assert_type(resilience.Concurrency(limit=1, max_wait=minute).max_wait, float)
assert_type(resilience.RateLimit(rate=1, max_wait=minute).max_wait, float)
assert_type(resilience.Hedge(delay=minute).delay, float)
assert_type(resilience.RateLimitedError("p", 1.0).retry_after, float)
assert_type(resilience.ConcurrencyLimitError("p", 4, 0.0).limit, int)


@limited
async def hedged(url: str) -> bytes:
    return url.encode()


async def use_hedged() -> None:
    assert_type(await hedged("x"), bytes)
    with chaos(limited, fault=ConnectionResetError, rate=0.5, seed=1) as c:
        assert_type(c.hits, int)
    async with chaos("limited", latency=timedelta(milliseconds=5)):
        pass


# The failure-rate mode: shares as floats, windows as calls or seconds (or a timedelta).
rated = Breaker(failure_rate=0.5, window_seconds=minute, slow_call_duration=timedelta(seconds=2))
assert_type(rated.failure_rate, float | None)
assert_type(rated.window, int | None)
assert_type(rated.window_seconds, float | None)
assert_type(rated.slow_call_duration, float | None)
assert_type(rated.fail_max, int | None)
circuit = Policy("rated", breaker=rated).circuit
assert circuit is not None
assert_type(circuit.failure_rate, float | None)
assert_type(circuit.calls, int | None)
Breaker(failure_rate="half")  # type: ignore[arg-type]
