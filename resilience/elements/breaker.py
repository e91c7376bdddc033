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
from resilience._spec import SpecTypeError, check_fields, checked
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

#: While the circuit stays open, its refusals reach the log at most this often (seconds).
REPORT_EVERY = 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Breaker:
    """When to stop calling a failing remote side, and when to try it again.

    Args:
        fail_max: Consecutive retryable failures that open the circuit.
        reset_timeout: Seconds (or a ``timedelta``) the circuit stays open before it lets
            trial calls through (half-open).
        half_open_calls: Trial calls allowed at a time while half-open; that many trial
            successes in a row close the circuit, one retryable trial failure opens it again.
        storage: Where the state lives; ``None`` keeps it in this process (each Policy
            object owns its circuit). A ``RedisStorage`` shares it across processes.

    Raises:
        TypeError: an argument has the wrong type.
        ValueError: an argument is out of range; the message says what is allowed.
    """

    fail_max: int = field(
        default=5,
        metadata=checked("count", "Consecutive retryable failures that open it.", minimum=1),
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
            "Trial calls at a time while half-open; that many successes close it.",
            minimum=1,
        ),
    )
    storage: BreakerStorage | None = field(
        default=None, metadata=checked("other", "Where the state lives.", nullable=True, yaml=False)
    )

    if TYPE_CHECKING:  # what the constructor accepts: durations as seconds or timedelta

        def __init__(
            self,
            *,
            fail_max: int = ...,
            reset_timeout: float | timedelta = ...,
            half_open_calls: int = ...,
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

    def replace(self, **changes: Any) -> Breaker:
        """A copy with some fields changed (and checked again)."""
        return replace(self, **changes)

    def build(self, policy: str, observer: Observer) -> CircuitBreaker:
        """The live breaker of the policy called ``policy``."""
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
        "_limit",
        "_observer",
        "_rejected",
        "_reported",
        "_reported_at",
        "_reset",
        "_since",
        "_unlogged",
        "local",
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
        self._observer = observer
        self._reset = spec.reset_timeout
        self._limit = spec.half_open_calls
        self._rejected = Counter()  # every refusal (policy.stats())
        self._since = 0  # the count when the circuit last opened
        self._reported = 0  # of which already logged
        self._reported_at = wall()
        self._unlogged = False  # refusals counted and not logged yet

    @property
    def remote(self) -> bool:
        """Whether the next operation may block on the network."""
        return self.store.remote

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
        elif self.store.fail(self.spec.fail_max, now):
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

    def _opened(self, now: float, *, failures: int | None = None, trial: bool = False) -> None:
        self._since = self._reported = self._rejected.value
        self._reported_at = now
        old: BreakerState = HALF_OPEN if trial else CLOSED
        self._changed(old, OPEN, failures=failures, trial=trial)

    def _changed(
        self,
        old: BreakerState,
        new: BreakerState,
        *,
        failures: int | None = None,
        trial: bool = False,
        rejected: int = 0,
    ) -> None:
        event = StateChanged(self.policy, old, new, self._reset, failures, trial, rejected)
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
        """The run of retryable failures counted while closed."""
        return self._breaker.store.failures

    @property
    def failure_rate(self) -> float | None:
        """The failure rate over the window; ``None`` in consecutive mode."""
        return None

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
