"""Circuit breaking: the ``Breaker`` spec, the live gate built from it, and its public view.

The state machine (consecutive-failure mode)::

    closed --fail_max retryable failures in a row--> open
    open --reset_timeout elapsed, at the next call--> half-open
    half-open --half_open_calls trial successes in a row--> closed
    half-open --a retryable trial failure--> open

Only retryable failures count. Any other failure means the remote side answered, so, as
with pybreaker's ``exclude``, it counts as a success and ends the run of failures. While
half-open at most ``half_open_calls`` trial calls run at a time (fleet-wide with a shared
store); the others are refused. The state lives in a store (:mod:`resilience.stores`): this
process's memory, or Redis. Open times are wall-clock (``datetime.now()``), so freezegun moves
them.

A refused call raises :class:`~resilience.CircuitOpenError` and is counted, not logged: the
count reaches the log with the circuit's next transition out of the open state, and at most
once a minute while it stays open.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from resilience._atomic import Counter
from resilience._clock import wall
from resilience._spec import SpecTypeError, SpecValueError, check_fields, checked
from resilience.categories import Category
from resilience.errors import circuit_open_error
from resilience.observe import StateChanged, events
from resilience.stores.base import CLOSED, HALF_OPEN, OPEN, BreakerStorage, BreakerStore, State
from resilience.stores.memory import MemoryBreakerStore

if TYPE_CHECKING:
    from resilience.observe import Observer

__all__ = ["Breaker", "BreakerState", "Circuit", "CircuitBreaker"]

BreakerState = Literal["closed", "open", "half-open"]
RETRYABLE = Category.RETRYABLE

#: The arguments of the failure-rate mode, beside ``failure_rate`` itself.
RATE_FIELDS = ("window", "window_seconds", "min_calls", "slow_call_duration", "slow_call_rate")

#: While the circuit stays open, its refusals reach the log at most this often (seconds).
REPORT_EVERY = 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Breaker:
    """When to stop calling a failing remote side, and when to try it again.

    Two modes: consecutive (the default: ``fail_max`` retryable failures in a row open the
    circuit) and failure rate (set ``failure_rate``: the share of failures over a sliding
    window opens it, resilience4j's way). Mixing their arguments is a ``ValueError``.

    Args:
        fail_max: Consecutive retryable failures that open the circuit (5 unless
            ``failure_rate`` is set).
        reset_timeout: Seconds (or a ``timedelta``) the circuit stays open before it lets
            trial calls through (half-open).
        half_open_calls: Trial calls allowed while half-open. Consecutive mode: that many at a
            time, and that many successes in a row close the circuit, one retryable trial
            failure opens it again. Failure-rate mode: that many in all, and the circuit
            closes only if their failure rate (and slow-call rate) stays under the threshold.
        failure_rate: The share of retryable failures (from 0 excluded to 1) over the window
            that opens the circuit: the failure-rate mode.
        window: The window holds the last ``window`` calls (100 when neither window is set).
        window_seconds: The window holds the calls of the last ``window_seconds`` seconds
            (at least 1; not with ``window``).
        min_calls: Calls the window must hold before its rates count (20); with ``window``,
            at most ``window``.
        slow_call_duration: Seconds (or a ``timedelta``) beyond which a call counts as slow;
            ``None``: calls are never slow.
        slow_call_rate: The share of slow calls over the window that opens the circuit
            (1.0 when ``slow_call_duration`` is set).
        storage: Where the state lives; ``None`` keeps it in this process (each Policy
            object owns its circuit). A ``RedisStorage`` shares it across processes.

    Raises:
        TypeError: an argument has the wrong type.
        ValueError: an argument is out of range, or belongs to the other mode; the message
            says what is allowed.
    """

    fail_max: int | None = field(
        default=None,
        metadata=checked(
            "count",
            "Consecutive retryable failures that open it (the default mode; 5 unless "
            "failure_rate is set).",
            minimum=1,
            nullable=True,
        ),
    )
    reset_timeout: float = field(
        default=30.0,
        metadata=checked(
            "seconds", "Seconds it stays open before trial calls.", minimum=0, exclusive=True
        ),
    )
    half_open_calls: int = field(
        default=1,
        metadata=checked(
            "count",
            "Trial calls while half-open: at a time, that many successes closing it; with "
            "failure_rate, in all, their rates deciding.",
            minimum=1,
        ),
    )
    failure_rate: float | None = field(
        default=None,
        metadata=checked(
            "number",
            "Share of retryable failures over the window that opens it (failure-rate mode).",
            minimum=0,
            exclusive=True,
            maximum=1,
            nullable=True,
            phrase="> 0 and <= 1, a share of calls",
        ),
    )
    window: int | None = field(
        default=None,
        metadata=checked(
            "count", "The window holds the last N calls (100 by default).", minimum=1, nullable=True
        ),
    )
    window_seconds: float | None = field(
        default=None,
        metadata=checked(
            "seconds",
            "The window holds the calls of the last N seconds (not with window).",
            minimum=1,
            nullable=True,
        ),
    )
    min_calls: int | None = field(
        default=None,
        metadata=checked(
            "count",
            "Calls the window must hold before its rates count (20).",
            minimum=1,
            nullable=True,
        ),
    )
    slow_call_duration: float | None = field(
        default=None,
        metadata=checked(
            "seconds",
            "Seconds beyond which a call counts as slow; none: never slow.",
            minimum=0,
            exclusive=True,
            nullable=True,
        ),
    )
    slow_call_rate: float | None = field(
        default=None,
        metadata=checked(
            "number",
            "Share of slow calls over the window that opens it (1.0 with slow_call_duration).",
            minimum=0,
            exclusive=True,
            maximum=1,
            nullable=True,
            phrase="> 0 and <= 1, a share of calls",
        ),
    )
    storage: BreakerStorage | None = field(
        default=None, metadata=checked("other", "Where the state lives.", nullable=True, yaml=False)
    )

    if TYPE_CHECKING:  # what the constructor accepts: durations as seconds or timedelta

        def __init__(
            self,
            *,
            fail_max: int | None = ...,
            reset_timeout: float | timedelta = ...,
            half_open_calls: int = ...,
            failure_rate: float | None = ...,
            window: int | None = ...,
            window_seconds: float | timedelta | None = ...,
            min_calls: int | None = ...,
            slow_call_duration: float | timedelta | None = ...,
            slow_call_rate: float | None = ...,
            storage: BreakerStorage | None = ...,
        ) -> None: ...

    def __post_init__(self) -> None:
        check_fields(self)
        if self.storage is not None and not isinstance(self.storage, BreakerStorage):
            detail = (
                "must be None (memory) or a breaker storage such as RedisStorage "
                f"(got {self.storage!r})"
            )
            raise SpecTypeError("Breaker", "storage", detail)
        if self.failure_rate is None:
            for name in RATE_FIELDS:
                if getattr(self, name) is not None:
                    detail = (
                        "belongs to the failure-rate mode: set failure_rate too, or leave it "
                        f"out (got {getattr(self, name)!r})"
                    )
                    raise SpecValueError("Breaker", name, detail)
            if self.fail_max is None:
                object.__setattr__(self, "fail_max", 5)
            return
        if self.fail_max is not None:
            detail = (
                f"can't be set with failure_rate (got {self.fail_max!r}): fail_max opens on "
                "failures in a row, failure_rate on a share of the window; choose one"
            )
            raise SpecValueError("Breaker", "fail_max", detail)
        if self.window is not None and self.window_seconds is not None:
            detail = (
                f"can't be set with window (got {self.window_seconds!r}): a window holds "
                "either the last N calls (window) or the last N seconds (window_seconds)"
            )
            raise SpecValueError("Breaker", "window_seconds", detail)
        if self.slow_call_rate is not None and self.slow_call_duration is None:
            detail = (
                f"needs slow_call_duration, which says what a slow call is "
                f"(got {self.slow_call_rate!r})"
            )
            raise SpecValueError("Breaker", "slow_call_rate", detail)
        if self.window is None and self.window_seconds is None:
            object.__setattr__(self, "window", 100)
        if self.min_calls is None:
            object.__setattr__(self, "min_calls", 20)
        if self.slow_call_duration is not None and self.slow_call_rate is None:
            object.__setattr__(self, "slow_call_rate", 1.0)

    @property
    def mode(self) -> Literal["consecutive", "rate"]:
        """``"consecutive"`` (``fail_max``) or ``"rate"`` (``failure_rate``)."""
        return "consecutive" if self.failure_rate is None else "rate"

    def replace(self, **changes: Any) -> Breaker:
        """A copy with some fields changed (and checked again). Setting ``failure_rate``
        leaves the consecutive mode (and ``fail_max`` the failure-rate mode); setting one
        kind of window drops the other."""
        given = dict(changes)
        if given.get("failure_rate") is not None:
            given.setdefault("fail_max", None)
        elif given.get("fail_max") is not None or (
            "failure_rate" in given and given["failure_rate"] is None
        ):
            for name in (*RATE_FIELDS, "failure_rate"):
                given.setdefault(name, None)
        if given.get("window_seconds") is not None:
            given.setdefault("window", None)
        if given.get("window") is not None:
            given.setdefault("window_seconds", None)
        if "slow_call_duration" in given and given["slow_call_duration"] is None:
            given.setdefault("slow_call_rate", None)
        return replace(self, **given)

    def build(self, policy: str, observer: Observer) -> CircuitBreaker:
        """The live breaker of the policy called ``policy``."""
        if self.failure_rate is not None:
            from resilience.elements.rate_breaker import build  # noqa: PLC0415 - its own module

            return build(self, policy, observer)
        if self.storage is None:
            store: BreakerStore = MemoryBreakerStore()
        else:
            store = self.storage.breaker_store(policy)
        return CircuitBreaker(self, policy, store, observer)


class CircuitBreaker:
    """The live breaker of one policy: a gate every attempt passes. Thread-safe.

    ``admit`` returns whether the attempt is a half-open trial (the token given back to
    ``succeeded``/``failed``/``cancelled``), or raises :class:`CircuitOpenError`.
    """

    __slots__ = (
        "_fail_max",
        "_limit",
        "_observer",
        "_rejected",
        "_reported",
        "_reported_at",
        "_reset",
        "_since",
        "_unlogged",
        "local",
        "mirrored",
        "policy",
        "spec",
        "store",
    )

    by = "breaker"
    timed = False

    def __init__(self, spec: Breaker, policy: str, store: BreakerStore, observer: Observer) -> None:
        self.spec = spec
        self.policy = policy
        self.store = store
        self.local = isinstance(store, MemoryBreakerStore)  # never blocks on the network
        # Shared, and read from a local mirror while healthy: ``remote`` says when not.
        self.mirrored = bool(getattr(store, "mirrored", False))
        self._observer = observer
        self._reset = spec.reset_timeout
        self._limit = spec.half_open_calls
        self._fail_max = spec.fail_max or 5
        self._rejected = Counter()  # every refusal (policy.stats())
        self._since = 0  # the count when the circuit last opened
        self._reported = 0  # of which already logged
        self._reported_at = wall()
        self._unlogged = False  # refusals counted and not logged yet

    @property
    def remote(self) -> bool:
        """Whether admitting, or recording a success, may block on the network now."""
        return self.store.remote

    @property
    def remote_failure(self) -> bool:
        """Whether recording a failure may block on the network now (a shared store writes
        failures, and may answer the rest from a local mirror)."""
        return bool(getattr(self.store, "remote_failure", self.store.remote))

    # -- admit ----------------------------------------------------------------------------

    def admit(self) -> bool:
        """Let one attempt through (``True``: as a half-open trial), or refuse it."""
        state, opened_at = self.store.snapshot
        if state == CLOSED:
            if self._unlogged:  # closed elsewhere (another process): log what was refused here
                events.rejected(self.policy, self._unreported())
            return False
        if state == OPEN and opened_at is not None:
            # The refusal, inline: during an outage every call comes this way, and it should
            # cost no more than the lightest breaker's (benchmarks/run.py).
            now = wall()
            remaining = opened_at + self._reset - now
            if remaining > 0:
                self._counted(now, remaining)
                raise circuit_open_error()(self.policy, remaining)
        return self._admit(state, opened_at)

    def _admit(self, state: State, opened_at: float | None) -> bool:
        now = wall()
        if state == OPEN:
            if opened_at is not None and now < opened_at + self._reset:
                self._refuse(opened_at + self._reset - now, now)
            if self.store.half_open(now, self._reset):
                self._changed(OPEN, HALF_OPEN, rejected=self._unreported())
        if self.store.take_trial(self._limit, self._reset):
            return True
        state, opened_at = self.store.snapshot
        if state == CLOSED:  # closed meanwhile by the last trial
            return False
        remaining = opened_at + self._reset - now if opened_at is not None else 0.0
        self._refuse(remaining if state == OPEN else 0.0, now)
        raise AssertionError  # pragma: no cover - _refuse raises

    def _refuse(self, remaining: float, now: float) -> None:
        self._counted(now, remaining)
        raise circuit_open_error()(self.policy, remaining)

    def _counted(self, now: float, remaining: float) -> None:
        """Count a refusal; log the count at most once a minute while the circuit is open."""
        self._rejected.add()
        self._unlogged = True
        if now - self._reported_at >= REPORT_EVERY:
            events.rejected(self.policy, self._unreported())
        observer = self._observer
        if observer.refusals:
            observer.rejected(self.by, remaining)

    def _unreported(self) -> int:
        """Refusals not logged yet; they are now."""
        count = self._rejected.value
        new = count - self._reported
        self._reported = count
        self._reported_at = wall()
        self._unlogged = False
        return new

    # -- record ---------------------------------------------------------------------------

    def succeeded(self, trial: bool, duration: float) -> None:
        """An admitted attempt succeeded (or failed without blaming the remote side)."""
        if trial:
            store = self.store
            store.release_trial()
            if store.trial_succeeded(self._limit):
                self._changed(HALF_OPEN, CLOSED)
        elif self.store.failures:
            self.store.clear()

    def failed(self, trial: bool, category: Category, duration: float) -> None:
        """An admitted attempt failed with an exception of ``category``."""
        if category is not RETRYABLE:
            self.succeeded(trial, duration)
            return
        now = wall()
        if trial:
            self.store.release_trial()
            if self.store.trial_failed(now):
                self._opened(now, trial=True)
        elif self.store.fail(self._fail_max, now):
            self._opened(now, failures=self.store.failures)

    def cancelled(self, trial: bool) -> None:
        """An admitted attempt ended without an outcome (cancelled, interrupted)."""
        if trial:
            self.store.release_trial()

    def veto(self) -> str | None:
        """Why the next attempt should not be made: the circuit is open (it would only be
        refused), or ``None``."""
        return "circuit opened" if self.store.snapshot[0] == OPEN else None

    # -- transitions ----------------------------------------------------------------------

    def _opened(
        self,
        now: float,
        *,
        failures: int | None = None,
        trial: bool = False,
        rates: tuple[float | None, float | None] = (None, None),
    ) -> None:
        self._since = self._reported = self._rejected.value
        self._reported_at = now
        old: BreakerState = HALF_OPEN if trial else CLOSED
        self._changed(old, OPEN, failures=failures, trial=trial, rates=rates)

    def _changed(
        self,
        old: BreakerState,
        new: BreakerState,
        *,
        failures: int | None = None,
        trial: bool = False,
        rejected: int = 0,
        rates: tuple[float | None, float | None] = (None, None),
    ) -> None:
        event = StateChanged(
            self.policy, old, new, self._reset, failures, trial, rejected, rates[0], rates[1]
        )
        self._observer.state_change(event)

    def force(self, state: BreakerState) -> None:
        """Put the circuit in ``state`` (for operators and tests), with the event."""
        old = self.store.snapshot[0]
        now = wall()
        self.store.force(state, now)
        if state == OPEN:
            self._opened(now)
        elif old != state:
            self._changed(old, state, rejected=self._unreported() if old == OPEN else 0)

    def refusals(self) -> int:
        """Every call refused since the breaker was built."""
        return self._rejected.value

    def view(self) -> Circuit:
        """The public view of this breaker."""
        return Circuit(self)

    def window(self) -> tuple[int, int, int] | None:
        """(calls, failures, slow calls) in the window; ``None`` in consecutive mode."""
        return None


class Circuit:
    """A policy's breaker, as ``policy.circuit`` shows it: read-only state, and the
    operator's switches.

    Attributes are read from the store each time: with Redis storage, each one is a
    round trip.
    """

    __slots__ = ("_breaker",)

    def __init__(self, breaker: CircuitBreaker) -> None:
        self._breaker = breaker

    def __repr__(self) -> str:
        return f"<Circuit of policy {self._breaker.policy!r}: {self.state}>"

    @property
    def state(self) -> BreakerState:
        """``"closed"``, ``"open"`` or ``"half-open"`` ("open" until the first call after
        ``reset_timeout``)."""
        return self._breaker.store.snapshot[0]

    @property
    def failures(self) -> int:
        """Consecutive mode: the run of retryable failures counted while closed. Failure-rate
        mode: the retryable failures in the window."""
        window = self._breaker.window()
        return self._breaker.store.failures if window is None else window[1]

    @property
    def calls(self) -> int | None:
        """The calls in the window (failure-rate mode, while closed); ``None`` in
        consecutive mode."""
        window = self._breaker.window()
        return None if window is None else window[0]

    @property
    def failure_rate(self) -> float | None:
        """The share of retryable failures over the window (0.0 while it is empty);
        ``None`` in consecutive mode."""
        window = self._breaker.window()
        if window is None:
            return None
        return window[1] / window[0] if window[0] else 0.0

    @property
    def slow_call_rate(self) -> float | None:
        """The share of slow calls over the window (0.0 while it is empty); ``None`` in
        consecutive mode."""
        window = self._breaker.window()
        if window is None:
            return None
        return window[2] / window[0] if window[0] else 0.0

    @property
    def opened_at(self) -> datetime | None:
        """When the circuit last opened (UTC), while it is open or half-open."""
        state, opened_at = self._breaker.store.snapshot
        if state == CLOSED or opened_at is None:
            return None
        return datetime.fromtimestamp(opened_at, UTC)

    @property
    def rejected(self) -> int:
        """Calls refused since the circuit last opened."""
        breaker = self._breaker
        return breaker._rejected.value - breaker._since

    def open(self) -> None:
        """Open the circuit now (it half-opens after ``reset_timeout``)."""
        self._breaker.force(OPEN)

    def close(self) -> None:
        """Close the circuit now, failures forgotten."""
        self._breaker.force(CLOSED)

    def reset(self) -> None:
        """Back to the start: closed, no failures, no refusals counted."""
        breaker = self._breaker
        breaker.force(CLOSED)
        breaker._since = breaker._reported = breaker._rejected.value
