"""OpenTelemetry metrics of every policy: a listener that counts what policies do.

Install: ``pip install 'resilience-policies[otel]'`` (``opentelemetry-api``; the application
brings the SDK and its exporter)::

    from resilience.observe import add_listener
    from resilience.observe.otel import OTelListener

    add_listener(OTelListener())  # the global meter provider, or meter_provider=...

The instruments, on the meter ``resilience``:

=============================  =================  ===========================================
name                           kind               attributes
=============================  =================  ===========================================
``resilience.attempts``        counter            ``policy``, ``outcome`` (``success``,
                                                  ``failure``, ``cancelled``); ``category``
                                                  on failures
``resilience.retries``         counter            ``policy``, ``category``
``resilience.gave_up``         counter            ``policy``, ``category``, ``reason``
``resilience.rejected``        counter            ``policy``, ``by`` (``breaker``, ...)
``resilience.fallbacks``       counter            ``policy``, ``category`` (``refused`` when
                                                  the call was refused)
``resilience.call.duration``   histogram (s)      ``policy``, ``outcome`` (``success``,
                                                  ``failure``, ``fallback``, ``rejected``,
                                                  ``cancelled``)
``resilience.breaker.state``   observable gauge   ``policy``: 0 closed, 1 half-open, 2 open
=============================  =================  ===========================================

The counters are asynchronous instruments: each call bumps a lock-free counter of this
process, and OpenTelemetry reads them when it collects, so a call never pays for the SDK's
bookkeeping of a counter. The duration of each call is recorded as it ends (a histogram has
no asynchronous form). A breaker's state is known from its first transition after the
listener was added; a policy that never changed state reports none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

try:
    from opentelemetry import metrics
except ImportError as missing:  # pragma: no cover - tested in a child without it
    msg = (
        "resilience.observe.otel needs the OpenTelemetry API: "
        "pip install 'resilience-policies[otel]'"
    )
    raise ImportError(msg) from missing

from resilience._about import version
from resilience._atomic import Counter

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation

    from resilience.observe import (
        AttemptFailed,
        CallEnded,
        FallbackUsed,
        GaveUp,
        Rejected,
        RetryScheduled,
        StateChanged,
    )

__all__ = ["BUCKETS", "STATES", "OTelListener"]

#: The histogram's bucket boundaries, in seconds: OpenTelemetry's for HTTP durations, and
#: longer ones for calls that wait through their retries (the SDK's default ones are made
#: for milliseconds).
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 30, 60, 120)

#: The values of ``resilience.breaker.state``.
STATES = {"closed": 0, "half-open": 1, "open": 2}

Attributes = tuple[tuple[str, str], ...]


class _Counts:
    """Counters by attribute set, read by an asynchronous counter's callback."""

    __slots__ = ("_counters",)

    def __init__(self) -> None:
        self._counters: dict[Attributes, Counter] = {}

    def counter(self, key: Attributes) -> Counter:
        counter = self._counters.get(key)
        if counter is None:
            # setdefault is one atomic step: two threads seeing a new key share one counter.
            counter = self._counters.setdefault(key, Counter())
        return counter

    def add(self, key: Attributes) -> None:
        self.counter(key).add()

    def observe(self, options: CallbackOptions) -> Iterator[Observation]:
        for key in list(self._counters):  # a copy in one step: keys may be added meanwhile
            yield metrics.Observation(self._counters[key].value, dict(key))


class OTelListener:
    """Reports what every policy it listens to does as OpenTelemetry metrics.

    Add it for every policy with :func:`resilience.observe.add_listener`, or for one with
    ``Policy(listeners=[...])``. One listener per meter provider: two would report each
    count twice.

    Args:
        meter_provider: Where the instruments are made; the global one (as set by
            ``opentelemetry.metrics.set_meter_provider``) when ``None``.
    """

    def __init__(self, meter_provider: MeterProvider | None = None) -> None:
        meter = metrics.get_meter("resilience", version(), meter_provider)
        self._attempts = _Counts()
        self._retries = _Counts()
        self._gave_up = _Counts()
        self._rejected = _Counts()
        self._fallbacks = _Counts()
        self._states: dict[str, int] = {}
        #: By (policy, outcome) of a call: what on_call_end counts and records.
        self._ends: dict[tuple[str, str], tuple[Callable[[], object] | None, Any]] = {}
        counters = (
            ("resilience.attempts", "{attempt}", "Attempts made", self._attempts),
            ("resilience.retries", "{retry}", "Retries scheduled", self._retries),
            ("resilience.gave_up", "{call}", "Calls given up on, by reason", self._gave_up),
            ("resilience.rejected", "{attempt}", "Attempts refused, by element", self._rejected),
            ("resilience.fallbacks", "{call}", "Calls the fallback answered", self._fallbacks),
        )
        for name, unit, description, counts in counters:
            meter.create_observable_counter(
                name, callbacks=[counts.observe], unit=unit, description=description
            )
        self._duration = meter.create_histogram(
            "resilience.call.duration",
            unit="s",
            description="Duration of calls, by outcome",
            explicit_bucket_boundaries_advisory=BUCKETS,
        )
        meter.create_observable_gauge(
            "resilience.breaker.state",
            callbacks=[self._observe_states],
            description="Circuit state: 0 closed, 1 half-open, 2 open",
        )

    def __repr__(self) -> str:
        return f"<OTelListener of {len(self._states)} breakers>"

    def _observe_states(self, options: CallbackOptions) -> Iterable[Observation]:
        return [
            metrics.Observation(value, {"policy": policy})
            for policy, value in list(self._states.items())
        ]

    # -- the listener's methods ---------------------------------------------------------------

    def on_attempt_failed(self, event: AttemptFailed) -> None:
        """Count a failed attempt."""
        category = event.category.value
        self._attempts.add(
            (("policy", event.policy), ("outcome", "failure"), ("category", category))
        )

    def on_retry(self, event: RetryScheduled) -> None:
        """Count a scheduled retry."""
        self._retries.add((("policy", event.policy), ("category", event.category.value)))

    def on_give_up(self, event: GaveUp) -> None:
        """Count a call given up on."""
        key = (
            ("policy", event.policy),
            ("category", event.category.value),
            ("reason", event.reason),
        )
        self._gave_up.add(key)

    def on_rejected(self, event: Rejected) -> None:
        """Count a refused attempt."""
        self._rejected.add((("policy", event.policy), ("by", event.by)))

    def on_fallback(self, event: FallbackUsed) -> None:
        """Count a call the fallback answered."""
        category = event.category.value if event.category is not None else "refused"
        self._fallbacks.add((("policy", event.policy), ("category", category)))

    def on_state_change(self, event: StateChanged) -> None:
        """Remember the circuit's new state, for the gauge."""
        self._states[event.policy] = STATES[event.new]

    def on_call_end(self, event: CallEnded) -> None:
        """Record the call's duration; count its last attempt when it succeeded or was
        cancelled (failed attempts are counted as they fail)."""
        policy, outcome = event.policy, event.outcome
        found = self._ends.get((policy, outcome))
        if found is None:
            found = self._ends.setdefault((policy, outcome), self._end(policy, outcome))
        count, labels = found
        if count is not None:
            count()
        self._duration.record(event.duration, labels)

    def _end(self, policy: str, outcome: str) -> tuple[Callable[[], object] | None, Any]:
        """What a call of ``policy`` that ended with ``outcome`` counts, and the histogram's
        attributes: made once for each pair, since every call needs them."""
        count = None
        if outcome in ("success", "cancelled"):
            key = (("policy", policy), ("outcome", outcome))
            count = self._attempts.counter(key).adder()
        return count, {"policy": policy, "outcome": outcome}
