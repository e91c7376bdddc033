"""Watching policies: listeners, and the events every policy reports to them.

A listener is any object with some of the methods of :class:`Listener`; each method gets
one event (a small frozen record). Register one for every policy with :func:`add_listener`,
or for one policy with ``Policy(listeners=[...])``. The default listener, always there,
turns events into log lines (:mod:`resilience.observe.events`).

A listener that raises is reported once (``listener.failed``, with its type) and never
breaks a call. The happy path reaches only listeners that have ``on_call_end``: a policy
without such listeners pays nothing for observability on a successful call.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from resilience.categories import Category
from resilience.observe import events
from resilience.observe.stats import Counters, Stats

__all__ = [
    "AttemptFailed",
    "CallEnded",
    "FallbackUsed",
    "GaveUp",
    "Listener",
    "Observer",
    "Rejected",
    "RetryScheduled",
    "StateChanged",
    "Stats",
    "add_listener",
    "remove_listener",
]

BreakerState = Literal["closed", "open", "half-open"]
Outcome = Literal["success", "failure", "fallback", "rejected", "cancelled"]

# --- events ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AttemptFailed:
    """An attempt of a call failed (``attempt`` counts from 1)."""

    policy: str
    attempt: int
    category: Category
    error: BaseException
    duration: float


@dataclass(frozen=True, slots=True)
class RetryScheduled:
    """Attempt ``attempt`` failed; the next one starts after ``wait`` seconds."""

    policy: str
    attempt: int
    wait: float
    category: Category
    error: BaseException


@dataclass(frozen=True, slots=True)
class GaveUp:
    """The policy stopped retrying a call; ``reason`` says what ended it (``attempts``,
    ``deadline``, ``budget``, ``circuit opened``, ``auth: never retried``, ...)."""

    policy: str
    attempts: int
    elapsed: float
    category: Category
    error: BaseException
    reason: str
    retrying: bool  # whether the policy retries at all (a retry spec, or queue retries)


@dataclass(frozen=True, slots=True)
class StateChanged:
    """A circuit went from ``old`` to ``new``.

    ``failures`` is the run of failures that opened it (``None`` for other transitions;
    a failure-rate breaker: the failures in its window), ``trial`` whether half-open trial
    calls opened it again, and ``rejected`` how many calls it refused while it was open (when
    it leaves the open state). A failure-rate breaker that opens also gives the rates that
    opened it: ``failure_rate`` and ``slow_call_rate``.
    """

    policy: str
    old: BreakerState
    new: BreakerState
    reset_timeout: float
    failures: int | None = None
    trial: bool = False
    rejected: int = 0
    failure_rate: float | None = None
    slow_call_rate: float | None = None


@dataclass(frozen=True, slots=True)
class Rejected:
    """A call was refused by the policy's own ``by`` element (``breaker``, ...)."""

    policy: str
    by: str
    remaining: float


@dataclass(frozen=True, slots=True)
class FallbackUsed:
    """The fallback ran in place of the call."""

    policy: str
    category: Category | None  # None: the call was refused (see ``error``)
    error: BaseException


@dataclass(frozen=True, slots=True)
class CallEnded:
    """A call through the policy ended: how, after how many attempts, in how many seconds."""

    policy: str
    outcome: Outcome
    attempts: int
    duration: float


class Listener(Protocol):
    """What a listener may implement; every method is optional."""

    def on_attempt_failed(self, event: AttemptFailed) -> None:
        """An attempt failed."""

    def on_retry(self, event: RetryScheduled) -> None:
        """The next attempt is scheduled."""

    def on_give_up(self, event: GaveUp) -> None:
        """The policy gave up on a call."""

    def on_state_change(self, event: StateChanged) -> None:
        """A circuit changed state."""

    def on_rejected(self, event: Rejected) -> None:
        """A call was refused (called for every refusal: keep it cheap)."""

    def on_fallback(self, event: FallbackUsed) -> None:
        """The fallback answered a call."""

    def on_call_end(self, event: CallEnded) -> None:
        """A call ended (successes too: this is on the happy path)."""


_METHODS = (
    "on_attempt_failed",
    "on_retry",
    "on_give_up",
    "on_state_change",
    "on_rejected",
    "on_fallback",
    "on_call_end",
)

# --- the process-wide registry ---------------------------------------------------------------

_lock = threading.Lock()
#: Replaced whole (never mutated), so readers need no lock.
_global: tuple[Any, ...] = ()


#: Every live Observer, so a change of the registry updates what each one asks for.
_observers: weakref.WeakSet[Observer] = weakref.WeakSet()


def add_listener(listener: object) -> None:
    """Have ``listener`` observe every policy of the process (those built before too).

    Raises:
        TypeError: ``listener`` has none of the :class:`Listener` methods.
    """
    _check(listener, "add_listener()")
    global _global  # noqa: PLW0603 - one process-wide registry, behind _lock
    with _lock:
        if not any(item is listener for item in _global):
            _global = (*_global, listener)
            for observer in list(_observers):
                observer.refresh()


def remove_listener(listener: object) -> None:
    """Stop ``listener`` observing every policy (nothing happens if it did not)."""
    global _global  # noqa: PLW0603 - one process-wide registry, behind _lock
    with _lock:
        _global = tuple(item for item in _global if item is not listener)
        for observer in list(_observers):
            observer.refresh()


def _check(listener: object, where: str) -> None:
    if not any(callable(getattr(listener, name, None)) for name in _METHODS):
        msg = f"{where}: {listener!r} has none of the methods {', '.join(_METHODS)}"
        raise TypeError(msg)


def check_listeners(listeners: Iterable[object]) -> tuple[object, ...]:
    """A policy's own listeners, checked.

    Raises:
        TypeError: one is not a listener, or ``listeners`` is not an iterable of them.
    """
    if isinstance(listeners, str | bytes) or not isinstance(listeners, Iterable):
        msg = f"Policy.listeners must be a list of listeners (got {listeners!r})"
        raise TypeError(msg)
    found = tuple(listeners)
    for listener in found:
        _check(listener, "Policy.listeners")
    return found


# --- dispatch --------------------------------------------------------------------------------

#: Listeners that raised, so each is reported once: weakly held (a listener that is gone
#: makes room for another at its address), by id for those that can't be.
_reported: weakref.WeakSet[object] = weakref.WeakSet()
_reported_ids: set[int] = set()


def _failed(listener: object, method: str, exc: Exception) -> None:
    with _lock:  # two threads failing in the same listener report it once
        try:
            if listener in _reported:
                return
            _reported.add(listener)
        except TypeError:  # not weakly referenceable (a slotted class, say)
            if id(listener) in _reported_ids:
                return
            _reported_ids.add(id(listener))
    events.listener_failed(type(listener).__qualname__, method, exc)


class Observer:
    """Hands one policy's events to the default listener (log lines) and to its listeners:
    its own, then the process-wide ones.

    ``end``, ``attempts`` and ``refusals`` say whether any listener wants ``on_call_end``,
    ``on_attempt_failed`` and ``on_rejected``: they are read on every call, so they are plain
    attributes, updated whenever the process-wide registry changes. An event object is
    built only when some listener will receive it. ``counters`` counts the moments of every
    call, for ``policy.stats()`` (refusals are counted by the refusing elements).
    """

    __slots__ = (
        "__weakref__",
        "_handlers",
        "_own",
        "attempts",
        "counters",
        "end",
        "name",
        "refusals",
    )

    def __init__(self, name: str, own: tuple[object, ...]) -> None:
        self.name = name
        self._own = own
        self._handlers: dict[str, tuple[tuple[object, Any], ...]] = {}
        self.counters = Counters()
        self.end = False
        self.attempts = False
        self.refusals = False
        with _lock:
            self.refresh()
            _observers.add(self)

    def refresh(self) -> None:
        """Read again what the listeners ask for."""
        listeners = (*self._own, *_global)
        self._handlers = {
            method: tuple(
                (listener, handler)
                for listener in listeners
                if (handler := getattr(listener, method, None)) is not None
            )
            for method in _METHODS
        }
        self.end = bool(self._handlers["on_call_end"])
        self.attempts = bool(self._handlers["on_attempt_failed"])
        self.refusals = bool(self._handlers["on_rejected"])

    def _send(self, method: str, event: object) -> None:
        for listener, handler in self._handlers[method]:
            try:
                handler(event)
            except Exception as exc:  # noqa: BLE001 - a listener never breaks a call
                _failed(listener, method, exc)

    def attempt_failed(
        self, attempt: int, category: Category, error: BaseException, duration: float
    ) -> None:
        """An attempt failed."""
        self.counters.failure(category.value)
        if self.attempts:
            event = AttemptFailed(self.name, attempt, category, error, duration)
            self._send("on_attempt_failed", event)

    def retry(self, attempt: int, wait: float, category: Category, error: BaseException) -> None:
        """Attempt ``attempt`` failed; the next one follows after ``wait`` seconds."""
        self.counters.retry()
        events.retry_scheduled(self.name, attempt, wait, category, error)
        if self._handlers["on_retry"]:
            self._send("on_retry", RetryScheduled(self.name, attempt, wait, category, error))

    def give_up(
        self,
        attempts: int,
        elapsed: float,
        category: Category,
        error: BaseException,
        reason: str,
        retrying: bool,
    ) -> None:
        """The policy gave up on a call."""
        self.counters.give_up(reason)
        events.gave_up(self.name, attempts, elapsed, category, error, reason, retrying)
        if self._handlers["on_give_up"]:
            event = GaveUp(self.name, attempts, elapsed, category, error, reason, retrying)
            self._send("on_give_up", event)

    def state_change(self, event: StateChanged) -> None:
        """A circuit changed state."""
        events.state_changed(event)
        self._send("on_state_change", event)

    def rejected(self, by: str, remaining: float) -> None:
        """A call was refused by the ``by`` element (call only when :attr:`refusals`: the
        elements count their refusals themselves, for ``policy.stats()``)."""
        self._send("on_rejected", Rejected(self.name, by, remaining))

    def fallback(self, category: Category | None, error: BaseException) -> None:
        """The fallback answers a call (``category`` ``None``: the call was refused)."""
        self.counters.fallback()
        events.fallback_used(self.name, category, error)
        if self._handlers["on_fallback"]:
            self._send("on_fallback", FallbackUsed(self.name, category, error))

    def call_end(self, outcome: Outcome, attempts: int, duration: float) -> None:
        """A call ended (call only when :attr:`end`)."""
        # Built field by field: a frozen dataclass's __init__ costs twice as much, and this
        # is on the happy path.
        event = _new(CallEnded)
        _policy(event, self.name)
        _outcome(event, outcome)
        _attempts(event, attempts)
        _duration(event, duration)
        for listener, handler in self._handlers["on_call_end"]:
            try:
                handler(event)
            except Exception as exc:  # noqa: BLE001 - a listener never breaks a call
                _failed(listener, "on_call_end", exc)


_new = object.__new__
_slots: Any = CallEnded  # its slots' setters, looked up once
_policy = _slots.policy.__set__
_outcome = _slots.outcome.__set__
_attempts = _slots.attempts.__set__
_duration = _slots.duration.__set__
