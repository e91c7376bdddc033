"""The sans-IO core: a policy's elements compiled into a pipeline, and the state of one call.

Nothing here calls the user's function, sleeps or awaits: the drivers
(:mod:`~resilience.engine.sync`, :mod:`~resilience.engine.aio`) do, and ask the core at
three moments of every attempt:

- **admit**: each gate (breaker, then the limits) lets the attempt through, returning a
  token, or refuses it with a :class:`~resilience.ResilienceError`;
- **record**: the attempt succeeded, failed (classified here, once) or was cancelled; each
  gate gets its token back with the outcome;
- **decide**: after a failure, retry after so many seconds, or give up, and then fall back
  or raise.

Elements fill roles by what they offer: a *gate* has ``admit``/``succeeded``/``failed``/
``cancelled`` (and maybe ``veto``: a reason not to retry, ``aadmit``: an async admission that
may wait); an *attempt wrapper* has ``wrap_async`` (the attempt timeout) or ``wrap_sync``; a
*hedge* has ``race`` (the async driver runs an attempt's hedges through it); the retry
planner, the budget and the fallback are asked at the decide moment. A new element is a
module with a spec whose ``build`` returns such an object: no driver changes.

A :class:`Call` never holds an exception: a failed call leaves no reference cycle behind.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from resilience._state import skip_sleeps
from resilience.categories import Category
from resilience.elements.retry import Retrying
from resilience.elements.timeout import AttemptTimeout
from resilience.observe import Observer

if TYPE_CHECKING:
    from resilience.classify import Classifier
    from resilience.elements.budget import Budgeting
    from resilience.elements.fallback import Fallback

__all__ = ["Call", "Gate", "Pipeline", "add_note", "chaos_by_name", "pipelines_named"]

# Every live pipeline (weakly), and the chaos contexts entered by policy name: a pipeline
# built while one is entered (a policy file loaded in the middle of a test) gets it too.
_registry_lock = threading.Lock()
_pipelines: weakref.WeakSet[Pipeline] = weakref.WeakSet()
_chaos_by_name: dict[str, list[Any]] = {}


def pipelines_named(name: str) -> list[Pipeline]:
    """The live pipelines of the policies called ``name``."""
    with _registry_lock:
        return [pipeline for pipeline in _pipelines if pipeline.name == name]


def chaos_by_name(name: str, injector: Any, entered: bool) -> None:
    """Note (``entered``) or forget a chaos context entered for the policies called ``name``,
    for the pipelines built meanwhile."""
    with _registry_lock:
        stack = _chaos_by_name.setdefault(name, [])
        if entered:
            stack.append(injector)
        else:
            stack.remove(injector)
            if not stack:
                del _chaos_by_name[name]


RETRYABLE = Category.RETRYABLE
QUEUE = Category.QUEUE


class Gate(Protocol):
    """What the drivers ask of a gate (breaker, limits): admit, then record the outcome."""

    @property
    def remote(self) -> bool:
        """Whether admitting or recording may block on the network now."""
        ...  # pragma: no cover

    def admit(self) -> Any:
        """Let one attempt through (returning its token) or raise a refusal."""
        ...  # pragma: no cover

    def succeeded(self, token: Any, duration: float) -> None:
        """The attempt admitted with ``token`` succeeded in ``duration`` seconds."""
        ...  # pragma: no cover

    def failed(self, token: Any, category: Category, duration: float) -> None:
        """The attempt failed with an exception of ``category``."""
        ...  # pragma: no cover

    def cancelled(self, token: Any) -> None:
        """The attempt ended without an outcome."""
        ...  # pragma: no cover


def add_note(exc: BaseException, text: str, prefix: str) -> None:
    """Add a PEP 678 note unless one starting with ``prefix`` is there. Best effort: an
    exception whose ``__notes__`` is not a list, or that refuses notes, is left as it is."""
    try:
        notes = getattr(exc, "__notes__", None)
        if isinstance(notes, list) and any(
            isinstance(note, str) and note.startswith(prefix) for note in notes
        ):
            return
        exc.add_note(text)
    except Exception:  # noqa: BLE001 - the user's exception propagates unchanged instead
        return


class Pipeline:
    """A policy's elements, built once: what the drivers and forms run."""

    __slots__ = (
        "__weakref__",
        "assess",
        "begins",
        "budget",
        "chaos",
        "count",
        "fallback",
        "gates",
        "hedge",
        "name",
        "observer",
        "remote",
        "retries",
        "retrying",
        "timed",
        "vetoes",
        "wrappers",
    )

    def __init__(
        self,
        name: str,
        *,
        classifier: Classifier,
        elements: Sequence[Any],
        retrying: Retrying,
        budget: Budgeting | None,
        fallback: Fallback | None,
        observer: Observer,
        retries: bool,
    ) -> None:
        self.name = name
        self.assess: Callable[[BaseException], tuple[Category, float | None, bool]] = (
            classifier.assess
        )
        self.gates: tuple[Gate, ...] = tuple(e for e in elements if hasattr(e, "admit"))
        self.wrappers: tuple[Any, ...] = tuple(e for e in elements if hasattr(e, "wrap_async"))
        #: Races the attempts of an async call (:mod:`resilience.elements.hedge`), or None.
        self.hedge: Any = next((e for e in elements if hasattr(e, "race")), None)
        self.vetoes: tuple[Callable[[], str | None], ...] = tuple(
            g.veto for g in self.gates if hasattr(g, "veto")
        )
        self.retrying = retrying
        self.budget = budget
        self.begins: tuple[Callable[[], None], ...] = (budget.request,) if budget else ()
        self.fallback = fallback
        self.observer = observer
        self.count = observer.counters.call  # every call, for policy.stats()
        self.retries = retries  # whether the policy retries at all (for the give-up event)
        self.timed = any(getattr(g, "timed", False) for g in self.gates)
        #: Faults injected into every attempt while a ``resilience.testing.chaos`` context
        #: is entered for this pipeline (read on every call: a plain attribute), or None.
        self.chaos: Any = None
        with _registry_lock:
            _pipelines.add(self)
            named = _chaos_by_name.get(name)
            if named:
                self.chaos = named[-1]

    def remote_now(self, failure: bool = True) -> bool:
        """Whether recording an outcome now (a failure, or a success if ``failure`` is
        false) may block on the network. A gate may say so apart for failures
        (``remote_failure``: a shared breaker writes failures, reads successes locally)."""
        if not failure:
            return any(g.remote for g in self.gates)
        budget = self.budget
        return any(getattr(g, "remote_failure", g.remote) for g in self.gates) or (
            budget is not None and budget.remote
        )

    # -- admit and record, for every gate -------------------------------------------------------

    def admit(self) -> list[Any]:
        """Admit an attempt through every gate: their tokens, or the first refusal (the
        gates already passed get theirs back)."""
        tokens: list[Any] = []
        for gate in self.gates:
            try:
                tokens.append(gate.admit())
            except BaseException:
                self.cancelled(tokens)
                raise
        return tokens

    def succeeded(self, tokens: Sequence[Any], duration: float) -> None:
        """The attempt succeeded."""
        for gate, token in zip(self.gates, tokens, strict=False):
            gate.succeeded(token, duration)

    def failed(self, tokens: Sequence[Any], category: Category, duration: float) -> None:
        """The attempt failed with an exception of ``category``."""
        for gate, token in zip(self.gates, tokens, strict=False):
            gate.failed(token, category, duration)

    def cancelled(self, tokens: Sequence[Any]) -> None:
        """The attempt ended without an outcome: the gates get their tokens back."""
        for gate, token in zip(self.gates, tokens, strict=False):
            gate.cancelled(token)

    def classify(self, exc: BaseException) -> tuple[Category, float | None, bool]:
        """(category, server hint, whether a rule decided) of a failed attempt."""
        if type(exc) is AttemptTimeout:
            return RETRYABLE, None, True  # our own timeout: retryable, whatever the rules say
        return self.assess(exc)


class Call:
    """One call through a pipeline after its first failure (or a retrying block): its
    attempts, the waits so far, and the decisions."""

    __slots__ = (
        "attempts",
        "category",
        "defaulted",
        "pipeline",
        "previous",
        "retries",
        "skipped",
        "start",
        "why",
    )

    def __init__(self, pipeline: Pipeline, start: float) -> None:
        self.pipeline = pipeline
        self.start = start
        self.skipped = 0.0  # seconds of sleep skipped under no_wait, counted as elapsed
        self.attempts = 0
        self.category = Category.PERMANENT
        self.defaulted = False
        self.retries: dict[Category, int] = {}
        self.previous: dict[Category, float] = {}
        self.why = ""

    def elapsed(self) -> float:
        """Seconds since the call started (sleeps skipped under ``no_wait`` included). A
        decorated function's call starts at its first failure unless the policy has a
        deadline: reading the clock would be a quarter of a successful call's cost."""
        return time.monotonic() - self.start + self.skipped

    def failed(self, exc: BaseException, tokens: Sequence[Any], duration: float) -> float | None:
        """Record a failed attempt; the seconds to wait before the next, or ``None`` (give up;
        ``why`` says why)."""
        pipeline = self.pipeline
        self.attempts += 1
        category, hint, decided = pipeline.classify(exc)
        self.category = category
        self.defaulted = not decided
        pipeline.failed(tokens, category, duration)
        observer = pipeline.observer
        observer.attempt_failed(self.attempts, category, exc, duration)
        delay = pipeline.retrying.plan(self, category, hint)
        if delay is None:
            return None
        for veto in pipeline.vetoes:
            why = veto()
            if why is not None:
                self.why = why
                return None
        budget = pipeline.budget
        if category is RETRYABLE and budget is not None and not budget.allow(self.attempts, exc):
            self.why = "budget"
            return None
        observer.retry(self.attempts, delay, category, exc)
        return delay

    def pause(self, delay: float) -> float:
        """The seconds to really sleep for ``delay`` (none under ``no_wait``)."""
        if skip_sleeps():
            self.skipped += delay
            return 0.0
        return delay

    def give_up(self, exc: BaseException) -> Fallback | None:
        """The call failed for good with ``exc``: note it on the exception, tell the
        listeners, and return the fallback to use, if any."""
        pipeline = self.pipeline
        elapsed = self.elapsed()
        prefix = f"policy {pipeline.name!r} gave up after "
        plural = "attempt" if self.attempts == 1 else "attempts"
        add_note(exc, f"{prefix}{self.attempts} {plural} in {elapsed:.1f} s ({self.why})", prefix)
        category = self.category
        retrying = pipeline.retries or category is QUEUE
        pipeline.observer.give_up(self.attempts, elapsed, category, exc, self.why, retrying)
        fallback = pipeline.fallback
        if fallback is None:
            return None
        if category is QUEUE and pipeline.retrying.queue.action == "raise":
            return None
        return fallback if fallback.applies(category, self.defaulted) else None

    def fall_back(self, exc: BaseException, refused: bool) -> None:
        """The fallback is about to answer in place of the call."""
        self.pipeline.observer.fallback(None if refused else self.category, exc)
