"""The OpenTelemetry listener, read through the real SDK's InMemoryMetricReader."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from freezegun import freeze_time
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader

from resilience import Breaker, CircuitOpenError, Policy, Retry
from resilience.observe import add_listener, remove_listener
from resilience.observe.otel import BUCKETS, OTelListener
from resilience.testing import no_wait

Points = dict[str, dict[frozenset[tuple[str, Any]], Any]]


def _points(reader: InMemoryMetricReader) -> Points:
    """name -> {attributes: value (a sum, a gauge's value, or a histogram's count)}."""
    found: Points = {}
    data = reader.get_metrics_data()
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            assert scope.scope.name == "resilience"
            for metric in scope.metrics:
                values = found.setdefault(metric.name, {})
                for point in metric.data.data_points:
                    key = frozenset((point.attributes or {}).items())
                    if isinstance(point, HistogramDataPoint):
                        values[key] = point.count
                    else:
                        values[key] = point.value
    return found


def _key(**attributes: str) -> frozenset[tuple[str, str]]:
    return frozenset(attributes.items())


@pytest.fixture(name="meter")
def _meter() -> Iterator[tuple[MeterProvider, InMemoryMetricReader]]:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    yield provider, reader
    provider.shutdown()


def _script(*outcomes: str) -> Any:
    """A function that fails (``"fail"``) or answers (``"ok"``) in this order."""
    todo = list(outcomes)

    def connect() -> str:
        if todo.pop(0) == "fail":
            msg = "connection reset by peer"
            raise ConnectionResetError(msg)
        return "ok"

    return connect


def test_a_scripted_run_gives_the_expected_metrics(
    meter: tuple[MeterProvider, InMemoryMetricReader],
) -> None:
    provider, reader = meter
    policy = Policy(
        "orders",
        retry=Retry(attempts=3),
        breaker=Breaker(fail_max=2, reset_timeout=30.0),
        listeners=[OTelListener(meter_provider=provider)],
    )
    connect = _script("fail", "ok", "fail", "fail", "ok")
    with freeze_time("2026-01-01 12:00:00") as clock, no_wait():
        assert policy.call(connect) == "ok"  # 1: a failure, a retry, success
        with pytest.raises(ConnectionResetError):
            policy.call(connect)  # 2: a failure, a retry, a failure that opens: gave up
        opened = _points(reader)
        clock.tick(31.0)
        assert policy.call(connect) == "ok"  # 3: the half-open trial succeeds: closed
    points = _points(reader)

    assert opened["resilience.breaker.state"] == {_key(policy="orders"): 2}
    assert points["resilience.breaker.state"] == {_key(policy="orders"): 0}
    assert points["resilience.attempts"] == {
        _key(policy="orders", outcome="failure", category="retryable"): 3,
        _key(policy="orders", outcome="success"): 2,
    }
    assert points["resilience.retries"] == {_key(policy="orders", category="retryable"): 2}
    assert points["resilience.gave_up"] == {
        _key(policy="orders", category="retryable", reason="circuit opened"): 1,
    }
    assert points["resilience.call.duration"] == {
        _key(policy="orders", outcome="success"): 2,
        _key(policy="orders", outcome="failure"): 1,
    }
    assert "resilience.rejected" not in points  # no data point yet
    assert "resilience.fallbacks" not in points


async def test_refusals_fallbacks_and_async_calls_are_counted_process_wide(
    meter: tuple[MeterProvider, InMemoryMetricReader],
) -> None:
    provider, reader = meter
    listener = OTelListener(meter_provider=provider)
    policy = Policy("async", breaker=Breaker(fail_max=1), fallback=lambda: "cached")
    bare = Policy("bare", breaker=Breaker(fail_max=1))

    @policy
    async def fetch() -> str:
        raise TimeoutError

    add_listener(listener)
    try:
        assert await fetch() == "cached"  # fails, gives up (no retry), the circuit opens
        assert await fetch() == "cached"  # refused
        bare.circuit.open()  # type: ignore[union-attr]
        with pytest.raises(CircuitOpenError):
            bare.call(lambda: 1)
    finally:
        remove_listener(listener)
    points = _points(reader)
    assert points["resilience.rejected"] == {
        _key(policy="async", by="breaker"): 1,
        _key(policy="bare", by="breaker"): 1,
    }
    assert points["resilience.fallbacks"] == {
        _key(policy="async", category="retryable"): 1,
        _key(policy="async", category="refused"): 1,
    }
    assert points["resilience.gave_up"] == {
        _key(policy="async", category="retryable", reason="attempts"): 1,
    }
    assert points["resilience.call.duration"] == {
        _key(policy="async", outcome="fallback"): 2,
        _key(policy="bare", outcome="rejected"): 1,
    }
    assert points["resilience.breaker.state"] == {
        _key(policy="async"): 2,
        _key(policy="bare"): 2,
    }


def test_without_a_meter_provider_the_global_one_is_used() -> None:
    listener = OTelListener()  # the API's no-op provider until an SDK is set: costs nothing
    policy = Policy("global", listeners=[listener])
    assert policy.call(lambda: 1) == 1


def test_durations_fall_in_buckets_made_for_seconds(
    meter: tuple[MeterProvider, InMemoryMetricReader],
) -> None:
    provider, reader = meter
    policy = Policy("seconds", listeners=[OTelListener(meter_provider=provider)])
    assert policy.call(lambda: 1) == 1
    data = reader.get_metrics_data()
    assert data is not None
    (metric,) = [
        m
        for r in data.resource_metrics
        for s in r.scope_metrics
        for m in s.metrics
        if m.name == "resilience.call.duration"
    ]
    assert metric.unit == "s"
    (point,) = metric.data.data_points
    assert isinstance(point, HistogramDataPoint)
    assert tuple(point.explicit_bounds) == BUCKETS
    assert point.bucket_counts[0] == 1  # a quick call: under 5 ms, not lost in "0-5 s"


def _child(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_policies_and_listeners_never_import_opentelemetry() -> None:
    run = _child(
        "import sys\n"
        "from resilience import Policy, Retry\n"
        "from resilience.observe import add_listener\n"
        "assert Policy('p', retry=Retry()).call(lambda: 1) == 1\n"
        "assert not [m for m in sys.modules if m.startswith('opentelemetry')]\n"
    )
    assert run.returncode == 0, run.stderr


def test_without_opentelemetry_the_error_says_what_to_install() -> None:
    run = _child(
        "import sys\n"
        "sys.modules['opentelemetry'] = None  # as if not installed\n"
        "import resilience.observe.otel\n"
    )
    assert run.returncode == 1
    assert "ImportError: resilience.observe.otel needs the OpenTelemetry API: " in run.stderr
    assert "pip install 'resilience-policies[otel]'" in run.stderr
