"""Policy: fallback around retry around the breaker around your function.

::

    caller -> Policy -> fallback -> retry loop (tenacity) -> breaker (pybreaker) -> function

The happy path is a breaker check, the call and a breaker note: no tenacity object is built
and nothing is logged. On the first failure a :class:`_Run` takes over; it records every
outcome on a ``tenacity.RetryCallState`` and asks the policy's ``retry``/``wait``/``stop``
strategies in the order ``tenacity.Retrying.iter`` does (retry?, wait, stop?), without
iter's action-list machinery, which costs more than all the rest of a retry (see
``benchmarks/run.py``); the answer is: sleep this long, or give up. That
decision core is shared by every form (decorator, ``call``/``acall``, ``attempts()``), sync
and async alike; only calling and sleeping differ.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any, ParamSpec, TypeVar, cast

import tenacity

from resilience import events
from resilience._state import skip_sleeps
from resilience.breaker import Breaker, Circuit
from resilience.budget import BudgetState
from resilience.categories import Category
from resilience.classify import Classifier, default_classifier
from resilience.errors import CircuitOpenError
from resilience.fallback import Fallback
from resilience.retry import Queue, Retry

__all__ = ["Attempt", "AttemptTimeout", "Attempts", "Guard", "Policy"]

P = ParamSpec("P")
T = TypeVar("T")

_ONCE = Retry(attempts=1)
#: The retry object every run's RetryCallState refers to; its own loop never runs.
_RETRYING = tenacity.Retrying(reraise=True)
_DEFAULT_QUEUE = Queue()


@dataclass(frozen=True, slots=True)
class Policy:
    """A named resilience policy: retry with backoff, circuit breaking and fallback.

    Use it as a decorator (``@policy``, sync and async functions alike), with
    ``policy.call(fn, ...)`` / ``await policy.acall(fn, ...)``, as ``with policy.guard():``
    (one attempt through the breaker) or as ``for attempt in policy.attempts(): with attempt:``
    (a retrying block; ``async for`` too). Policies are immutable values; the breaker state of
    a Policy object is shared by every call through it.

    Args:
        name: Names the policy in events, notes and errors.
        retry: How retryable failures are retried; without it a call is tried once.
        breaker: Circuit breaking; none without it.
        fallback: A :class:`Fallback`, or a callable (it then applies to every failure).
        queue: What to do with queue-related failures (default ``Queue()``: fallback).
        classifier: Decides each failure's category; the default classifier without it.

    Raises:
        TypeError, ValueError: an argument is malformed; the message says which.
    """

    name: str
    retry: Retry | None = field(default=None, kw_only=True)
    breaker: Breaker | None = field(default=None, kw_only=True)
    fallback: Fallback | Callable[..., Any] | None = field(default=None, kw_only=True)
    queue: Queue | None = field(default=None, kw_only=True)
    classifier: Classifier | None = field(default=None, kw_only=True)
    _circuit: Circuit | None = field(init=False, repr=False, compare=False, default=None)
    _budget: BudgetState | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            msg = f"Policy.name must be a non-empty string (got {self.name!r})"
            raise ValueError(msg)
        for attr, kind in (("retry", Retry), ("breaker", Breaker), ("queue", Queue)):
            value = getattr(self, attr)
            if value is not None and not isinstance(value, kind):
                msg = f"Policy.{attr} must be a {kind.__name__} or None (got {value!r})"
                raise TypeError(msg)
        if self.classifier is not None and not isinstance(self.classifier, Classifier):
            msg = f"Policy.classifier must be a Classifier or None (got {self.classifier!r})"
            raise TypeError(msg)
        if self.fallback is not None and not isinstance(self.fallback, Fallback):
            object.__setattr__(self, "fallback", Fallback(self.fallback))
        if self.breaker is not None:
            object.__setattr__(self, "_circuit", self.breaker.build(self.name))
        if self.retry is not None and self.retry.budget is not None:
            object.__setattr__(self, "_budget", self.retry.budget.build(self.name))

    def replace(self, **changes: Any) -> Policy:
        """A copy with some fields changed; it gets a breaker state of its own."""
        return replace(self, **changes)

    @property
    def breaker_state(self) -> str:
        """``"closed"``, ``"open"`` or ``"half-open"`` (``"closed"`` without a breaker)."""
        return self._circuit.state if self._circuit is not None else "closed"

    # -- forms ----------------------------------------------------------------------------

    def __call__(self, fn: Callable[P, T], /) -> Callable[P, T]:
        """Decorate ``fn`` (sync or async): every call goes through the policy."""
        if not callable(fn):
            msg = f"@{self.name}: expected a function to decorate, got {fn!r}"
            raise TypeError(msg)
        if inspect.iscoroutinefunction(inspect.unwrap(fn)):
            return cast(Callable[P, T], _async_wrapper(self, cast(Any, fn)))
        return _sync_wrapper(self, fn)

    def call(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Call ``fn(*args, **kwargs)`` through the policy."""
        return _sync_wrapper(self, fn)(*args, **kwargs)

    async def acall(self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Await ``fn(*args, **kwargs)`` through the policy."""
        return await _async_wrapper(self, fn)(*args, **kwargs)

    def guard(self) -> Guard:
        """One attempt through the breaker, classified, with events; never re-run."""
        return Guard(self)

    def attempts(self) -> Attempts:
        """A retrying block: ``for attempt in policy.attempts(): with attempt: ...``."""
        return Attempts(self)


# --- the decision core -----------------------------------------------------------------------


class _Run:
    """One call through a policy after its first failure: state and decisions."""

    __slots__ = (
        "attempts",
        "category",
        "classifier",
        "counts",
        "failure",
        "policy",
        "previous",
        "queue",
        "retry",
        "retry_state",
        "skipped",
        "start",
        "why",
    )

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.retry = policy.retry or _ONCE
        self.queue = policy.queue or _DEFAULT_QUEUE
        self.classifier = policy.classifier or default_classifier()
        self.start = time.monotonic()
        self.skipped = 0.0  # seconds of sleep skipped under no_wait, still counted as elapsed
        self.attempts = 0
        self.category = Category.PERMANENT
        self.counts = {Category.RETRYABLE: 0, Category.QUEUE: 0}
        self.previous: dict[Category, float | None] = {
            Category.RETRYABLE: None,
            Category.QUEUE: None,
        }
        self.why = ""
        self.failure: BaseException | None = None
        self.retry_state: tenacity.RetryCallState | None = None

    def elapsed(self) -> float:
        return time.monotonic() - self.start + self.skipped

    def may_retry(self, category: Category) -> bool:
        if category is Category.RETRYABLE:
            return self.retry.attempts > 1
        if category is Category.QUEUE:
            return self.queue.action == "retry" and self.queue.attempts > 1
        return False

    def failed(self, exc: BaseException, trial: bool, timed_out: bool = False) -> float | None:
        """Record a failed attempt; the seconds to wait before the next one, or ``None``."""
        self.attempts += 1
        circuit = self.policy._circuit
        if isinstance(exc, CircuitOpenError):
            self.category = Category.PERMANENT
            self.why = "circuit open"
            return None
        category = Category.RETRYABLE if timed_out else self.classifier.classify(exc)
        self.category = category
        if circuit is not None:
            circuit.failure(category, trial)
            if circuit.state == "open" and self.may_retry(category) and not self._last(category):
                # This attempt tripped the breaker (or another caller did): the next attempt
                # would only be refused, so stop here with this failure, not after a sleep.
                self.why = "circuit opened"
                return None
        if not self.may_retry(category):
            self.why = self._why_not(category)
            return None
        if category in self.counts:
            self.counts[category] += 1
        return self._ask_tenacity(exc)

    def _limit(self, category: Category) -> int:
        """Calls in all the policy allows for failures of ``category``."""
        return self.queue.attempts if category is Category.QUEUE else self.retry.attempts

    def _last(self, category: Category) -> bool:
        """Whether this was the last attempt the policy allows for ``category`` anyway."""
        return self.attempts >= self._limit(category)

    def _why_not(self, category: Category) -> str:
        if category is Category.RETRYABLE:
            return "attempts"
        if category is Category.QUEUE:
            action = self.queue.action
            return "attempts" if action == "retry" else f"queue-related: {action}"
        return f"{category.value}: never retried"

    def _ask_tenacity(self, exc: BaseException) -> float | None:
        # tenacity's decision for a failed attempt, in Retrying.iter's order (retry?, wait,
        # stop?) and on its RetryCallState, but without iter's machinery (action lists and
        # thread-local lookups) or an outcome Future (a lock and a condition per attempt):
        # together they cost more than the rest of a retry. "retry?" is may_retry(), which
        # failed() has asked before calling here; the strategies read the failure from the run.
        state = self.retry_state
        if state is None:
            state = tenacity.RetryCallState(_RETRYING, fn=None, args=(), kwargs={})
            self.retry_state = state
        state.attempt_number = self.attempts
        self.failure = exc
        state.upcoming_sleep = self._tenacity_wait(state)
        if self._tenacity_stop(state):
            return None
        delay = state.upcoming_sleep
        state.prepare_for_next_attempt()
        return delay

    # tenacity strategies: pure functions of the run's state

    def _tenacity_wait(self, retry_state: tenacity.RetryCallState) -> float:
        category = self.category
        backoff = self.queue.backoff if category is Category.QUEUE else self.retry.backoff
        delay = backoff.delay(self.counts[category], self.previous[category])
        self.previous[category] = delay
        return delay

    def _tenacity_stop(self, retry_state: tenacity.RetryCallState) -> bool:
        if retry_state.attempt_number >= self._limit(self.category):
            self.why = "attempts"
            return True
        deadline = self.retry.deadline
        if deadline is not None and self.elapsed() + retry_state.upcoming_sleep > deadline:
            self.why = "deadline"
            return True
        budget = self.policy._budget
        if budget is not None and self.category is Category.RETRYABLE and not budget.try_retry():
            self.why = "budget"
            exc = self.failure
            events.retry_budget_exhausted(
                self.policy.name,
                self.attempts,
                self.category.value,
                exc or RuntimeError("retry budget exhausted"),
                budget.spec.ratio,
            )
            return True
        return False

    # outcomes

    def scheduled(self, exc: BaseException, delay: float) -> None:
        events.retry_scheduled(self.policy.name, self.attempts, delay, self.category.value, exc)

    def sleep_for(self, delay: float) -> float:
        """The seconds to really sleep (0 under ``no_wait``)."""
        if skip_sleeps():
            self.skipped += delay
            return 0.0
        return delay

    def give_up(self, exc: BaseException) -> Fallback | None:
        """Note the failure on the exception; return the fallback to use, if any."""
        name = self.policy.name
        elapsed = self.elapsed()
        if not isinstance(exc, CircuitOpenError):
            plural = "attempt" if self.attempts == 1 else "attempts"
            exc.add_note(
                f"policy {name!r} gave up after {self.attempts} {plural} in {elapsed:.1f} s"
                f" ({self.why})"
            )
            if self.why in ("attempts", "deadline", "budget", "circuit opened") and (
                self.policy.retry is not None or self.category is Category.QUEUE
            ):
                events.retry_gave_up(
                    name, self.attempts, elapsed, self.category.value, exc, self.why
                )
        fallback = self.policy.fallback
        if not isinstance(fallback, Fallback):
            return None
        if isinstance(exc, CircuitOpenError):
            return fallback
        if self.category is Category.QUEUE and self.queue.action == "raise":
            return None
        return fallback if fallback.applies(self.category) else None


def _used(run: _Run, exc: BaseException) -> None:
    category = "circuit_open" if isinstance(exc, CircuitOpenError) else run.category.value
    events.fallback_used(run.policy.name, category, exc)


def _fallback_failed(fallback_exc: BaseException, exc: BaseException) -> None:
    if fallback_exc.__context__ is None and fallback_exc is not exc:
        fallback_exc.__context__ = exc


# --- sync ------------------------------------------------------------------------------------


def _sync_wrapper(policy: Policy, fn: Callable[P, T]) -> Callable[P, T]:
    circuit = policy._circuit
    count = policy._budget.request if policy._budget is not None else None

    if circuit is None:
        # The failure path runs after the except block, not in it: otherwise the exception
        # that finally propagates would carry the first failure as its __context__.
        @functools.wraps(fn)
        def plain(*args: P.args, **kwargs: P.kwargs) -> T:
            if count is not None:
                count()
            try:
                return fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - classified, then retried or re-raised
                failure = exc
            return _sync_retry(policy, fn, args, kwargs, failure, trial=False)

        return plain

    enter, success, cancel = circuit.enter, circuit.success, circuit.cancel
    refuse = policy.fallback is None  # a refused call then ends there, as _sync_retry would

    @functools.wraps(fn)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> T:
        if count is not None:
            count()
        if refuse:
            trial = enter()  # a refusal propagates as it is: there is no fallback to try
        else:
            refused: CircuitOpenError | None = None
            try:
                trial = enter()
            except CircuitOpenError as exc:
                refused = exc
            if refused is not None:
                return _sync_retry(policy, fn, args, kwargs, refused, trial=False)
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - classified, then retried or re-raised
            failure = exc
        except BaseException:
            cancel(trial)
            raise
        else:
            success(trial)
            return result
        return _sync_retry(policy, fn, args, kwargs, failure, trial)

    return guarded


def _sync_retry(
    policy: Policy,
    fn: Callable[..., T],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    exc: BaseException,
    trial: bool,
) -> T:
    run = _Run(policy)
    circuit = policy._circuit
    while True:
        delay = run.failed(exc, trial)
        if delay is None:
            fallback = run.give_up(exc)
            if fallback is None:
                raise exc
            if fallback.is_async:
                msg = f"policy {policy.name!r}: a sync call can't await its async fallback"
                raise TypeError(msg) from exc
            _used(run, exc)
            f_args, f_kwargs = fallback.arguments(args, kwargs, exc)
            try:
                return cast(T, fallback.func(*f_args, **f_kwargs))
            except BaseException as fallback_exc:
                _fallback_failed(fallback_exc, exc)
                raise
        run.scheduled(exc, delay)
        pause = run.sleep_for(delay)
        if pause:
            time.sleep(pause)
        trial = False
        try:
            if circuit is not None:
                trial = circuit.enter()
            result = fn(*args, **kwargs)
        except Exception as failure:  # noqa: BLE001 - classified, then retried or re-raised
            if isinstance(failure, CircuitOpenError) and failure.__context__ is None:
                failure.__context__ = exc
            exc = failure
            continue
        except BaseException:
            if circuit is not None:
                circuit.cancel(trial)
            raise
        if circuit is not None:
            circuit.success(trial)
        return result


# --- async -----------------------------------------------------------------------------------


class AttemptTimeout(TimeoutError):
    """An attempt of an async function ran longer than ``Retry.attempt_timeout`` and was
    cancelled. Always retryable, whatever the classifier says of other timeouts."""


async def _attempt_async(
    fn: Callable[..., Awaitable[T]],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    timeout: float | None,
    policy: str,
) -> T:
    if timeout is None:
        return await fn(*args, **kwargs)
    deadline = asyncio.timeout(timeout)
    try:
        async with deadline:
            return await fn(*args, **kwargs)
    except TimeoutError as exc:
        if not deadline.expired():
            raise
        msg = f"attempt of policy {policy!r} ran longer than {timeout} s and was cancelled"
        raise AttemptTimeout(msg) from exc


def _remote(policy: Policy) -> bool:
    """Whether a call's bookkeeping may block on Redis: async callers then offload it."""
    circuit, budget = policy._circuit, policy._budget
    return (circuit is not None and circuit.remote) or (budget is not None and budget.remote)


def _async_wrapper(policy: Policy, fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    circuit = policy._circuit
    timeout = policy.retry.attempt_timeout if policy.retry is not None else None
    count = policy._budget.request if policy._budget is not None else None
    remote = circuit is not None and circuit.remote
    refuse = policy.fallback is None  # a refused call then ends there, as _async_retry would

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        if count is not None:
            count()
        trial = False
        try:
            if circuit is not None:
                trial = await circuit.aenter() if remote else circuit.enter()
            if timeout is None:
                result = await fn(*args, **kwargs)
            else:
                result = await _attempt_async(fn, args, kwargs, timeout, policy.name)
        except Exception as exc:  # noqa: BLE001 - classified, then retried or re-raised
            failure = exc
        except BaseException:
            if circuit is not None:
                await circuit.acancel(trial) if remote else circuit.cancel(trial)
            raise
        else:
            if circuit is not None:
                await circuit.asuccess(trial) if remote else circuit.success(trial)
            return result
        if refuse and isinstance(failure, CircuitOpenError):
            raise failure
        return await _async_retry(policy, fn, args, kwargs, failure, trial, timeout)

    return wrapper


async def _failed_async(run: _Run, exc: BaseException, trial: bool, offload: bool) -> float | None:
    timed_out = isinstance(exc, AttemptTimeout)
    if offload:  # the breaker or budget talks to Redis: keep the event loop free
        return await asyncio.to_thread(run.failed, exc, trial, timed_out)
    return run.failed(exc, trial, timed_out=timed_out)


async def _async_retry(
    policy: Policy,
    fn: Callable[..., Awaitable[T]],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    exc: BaseException,
    trial: bool,
    timeout: float | None,
) -> T:
    run = _Run(policy)
    circuit = policy._circuit
    offload = _remote(policy)
    remote = circuit is not None and circuit.remote
    while True:
        delay = await _failed_async(run, exc, trial, offload)
        if delay is None:
            fallback = run.give_up(exc)
            if fallback is None:
                raise exc
            _used(run, exc)
            f_args, f_kwargs = fallback.arguments(args, kwargs, exc)
            try:
                value = fallback.func(*f_args, **f_kwargs)
                if inspect.isawaitable(value):
                    value = await value
                return cast(T, value)
            except BaseException as fallback_exc:
                _fallback_failed(fallback_exc, exc)
                raise
        run.scheduled(exc, delay)
        await asyncio.sleep(run.sleep_for(delay))
        trial = False
        try:
            if circuit is not None:
                trial = await circuit.aenter() if remote else circuit.enter()
            result = await _attempt_async(fn, args, kwargs, timeout, policy.name)
        except Exception as failure:  # noqa: BLE001 - classified, then retried or re-raised
            if isinstance(failure, CircuitOpenError) and failure.__context__ is None:
                failure.__context__ = exc
            exc = failure
            continue
        except BaseException:
            if circuit is not None:
                await circuit.acancel(trial) if remote else circuit.cancel(trial)
            raise
        if circuit is not None:
            await circuit.asuccess(trial) if remote else circuit.success(trial)
        return result


# --- guard and attempts ----------------------------------------------------------------------


class Guard:
    """One attempt through a policy's breaker: ``with policy.guard():`` (or ``async with``).

    The block runs once. A failure is classified and counted by the breaker, then propagates
    unchanged; an open circuit raises :class:`~resilience.CircuitOpenError` on entry.
    """

    __slots__ = ("_policy", "_trial")

    def __init__(self, policy: Policy) -> None:
        self._policy = policy
        self._trial = False

    def __enter__(self) -> Guard:
        circuit = self._policy._circuit
        self._trial = circuit.enter() if circuit is not None else False
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        circuit = self._policy._circuit
        if circuit is None:
            return
        if exc is None:
            circuit.success(self._trial)
        elif isinstance(exc, Exception):
            classifier = self._policy.classifier or default_classifier()
            circuit.failure(classifier.classify(exc), self._trial)
        else:
            circuit.cancel(self._trial)

    async def __aenter__(self) -> Guard:
        circuit = self._policy._circuit
        if circuit is not None and circuit.remote:
            self._trial = await circuit.aenter()
            return self
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if _remote(self._policy):
            await asyncio.to_thread(self.__exit__, exc_type, exc, tb)
        else:
            self.__exit__(exc_type, exc, tb)


class Attempt:
    """One attempt of a retrying block; use it as ``with attempt:`` (or ``async with``)."""

    __slots__ = ("_delay", "_done", "_run", "_trial", "number")

    def __init__(self, run: _Run, number: int) -> None:
        self._run = run
        self.number = number
        self._trial = False
        self._delay: float | None = None
        self._done = True

    def __repr__(self) -> str:
        return f"<Attempt {self.number} of policy {self._run.policy.name!r}>"

    def __enter__(self) -> Attempt:
        circuit = self._run.policy._circuit
        self._trial = circuit.enter() if circuit is not None else False
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        run = self._run
        circuit = run.policy._circuit
        if exc is None:
            if circuit is not None:
                circuit.success(self._trial)
            return False
        if not isinstance(exc, Exception):
            if circuit is not None:
                circuit.cancel(self._trial)
            return False
        delay = run.failed(exc, self._trial)
        if delay is None:
            run.give_up(exc)
            return False
        run.scheduled(exc, delay)
        self._delay = delay
        self._done = False
        return True

    async def __aenter__(self) -> Attempt:
        circuit = self._run.policy._circuit
        if circuit is not None and circuit.remote:
            self._trial = await circuit.aenter()
            return self
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if _remote(self._run.policy):
            return await asyncio.to_thread(self.__exit__, exc_type, exc, tb)
        return self.__exit__(exc_type, exc, tb)


class Attempts:
    """The attempts of a retrying block: ``for attempt in policy.attempts():`` (or
    ``async for``). A failed attempt that the policy retries is swallowed and the next one
    follows after the backoff; when the policy gives up, the failure propagates with a note.
    Fallbacks do not apply here: a block has no value to replace."""

    __slots__ = ("_policy",)

    def __init__(self, policy: Policy) -> None:
        self._policy = policy

    def __iter__(self) -> Iterator[Attempt]:
        if self._policy._budget is not None:
            self._policy._budget.request()
        run = _Run(self._policy)
        number = 0
        while True:
            number += 1
            attempt = Attempt(run, number)
            yield attempt
            if attempt._done:
                return
            pause = run.sleep_for(attempt._delay or 0.0)
            if pause:
                time.sleep(pause)

    async def __aiter__(self) -> AsyncIterator[Attempt]:
        if self._policy._budget is not None:
            self._policy._budget.request()
        run = _Run(self._policy)
        number = 0
        while True:
            number += 1
            attempt = Attempt(run, number)
            yield attempt
            if attempt._done:
                return
            await asyncio.sleep(run.sleep_for(attempt._delay or 0.0))
