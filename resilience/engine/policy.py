"""Policy: a named pipeline of elements, and the forms a call through it takes.

::

    caller -> fallback -> retry (budget, hints) -> [hedge] -> breaker -> concurrency
           -> rate limit -> attempt timeout -> fn

(the hedge races each attempt with its hedges, each through the gates after it).

A Policy is an immutable value. Building one builds its pipeline (:mod:`.core`): the live
breaker (its state shared by every call through this Policy object), the budget, the
listeners. Every form runs on the one sync driver (:mod:`.sync`) or the one async driver
(:mod:`.aio`): the decorator (sync or async, chosen once, when decorating), ``call`` and
``acall``, ``guard()`` and ``attempts()`` (:mod:`.forms`).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

from resilience._spec import SpecTypeError, check_fields, checked
from resilience.elements.breaker import Breaker, BreakerState, Circuit, CircuitBreaker
from resilience.elements.concurrency import Concurrency
from resilience.elements.fallback import Fallback, is_async_callable
from resilience.elements.hedge import Hedge
from resilience.elements.rate_limit import RateLimit
from resilience.elements.retry import Queue, Retry, Retrying
from resilience.elements.timeout import Timeout
from resilience.engine import sync
from resilience.engine.core import Pipeline
from resilience.engine.forms import Attempts, Guard
from resilience.observe import Observer, check_listeners

if TYPE_CHECKING:
    from resilience.classify import Classifier
    from resilience.observe import Stats

__all__ = ["Policy", "is_async_target"]

P = ParamSpec("P")
T = TypeVar("T")


class _LazyClassifier:
    """The default classifier, built at the first failure that needs it, not with the policy
    (policies are often built at import time, and most calls never fail)."""

    __slots__ = ()

    def assess(self, exc: BaseException) -> Any:
        from resilience.classify import default_classifier  # noqa: PLC0415 - see above

        return default_classifier().assess(exc)


def _unwrapped(fn: Any) -> Any:
    """What ``fn`` calls in the end: through ``functools.wraps`` chains and partials."""
    while True:
        if isinstance(fn, functools.partial):
            fn = fn.func
        elif callable(fn) and hasattr(fn, "__wrapped__"):
            fn = inspect.unwrap(fn)
        else:
            return fn


def is_async_target(fn: object, where: str) -> bool:
    """Whether ``fn`` is to be guarded as an async function (else as a sync one).

    Raises:
        TypeError: ``fn`` is not callable, or is a generator function (sync or async), whose
            failures happen while the caller iterates, after the call has returned.
    """
    if not callable(fn):
        msg = f"{where}: expected a function to decorate, got {fn!r}"
        raise TypeError(msg)
    target = _unwrapped(fn)
    if inspect.isgeneratorfunction(target) or inspect.isasyncgenfunction(target):
        msg = (
            f"{where}: {getattr(fn, '__qualname__', fn)!r} is a generator function: its "
            "failures happen while the caller iterates, after the call has returned, so no "
            "policy can guard them; guard the function that opens the stream, or the "
            "code that consumes it"
        )
        raise TypeError(msg)
    return is_async_callable(fn)


@dataclass(frozen=True, slots=True)
class Policy:
    """A named resilience policy: retry with backoff, circuit breaking, limits and fallback.

    Use it as a decorator (``@policy``, sync and async functions alike), with
    ``policy.call(fn, ...)`` / ``await policy.acall(fn, ...)``, as ``with policy.guard():``
    (one attempt through the breaker) or as ``for attempt in policy.attempts(): with attempt:``
    (a retrying block; ``async for`` too). Policies are immutable values; the breaker state of
    a Policy object is shared by every call through it.

    Args:
        name: Names the policy in events, notes and errors.
        retry: How retryable failures are retried; without it a call is tried once.
        breaker: Circuit breaking; none without it.
        concurrency: At most so many attempts in flight at once (a bulkhead).
        rate_limit: At most so many attempts a second (a token bucket).
        hedge: Start another attempt of a slow async call (async functions only).
        fallback: A :class:`Fallback`, or a callable (with the default categories).
        queue: What to do with queue-related failures (default ``Queue()``: fallback).
        classifier: Decides each failure's category; the default classifier without it.
        listeners: Listeners of this policy's events (:mod:`resilience.observe`).

    Raises:
        TypeError, ValueError: an argument is malformed; the message says which.
    """

    name: str = field(metadata=checked("text", "Names the policy in events, notes and errors."))
    retry: Retry | None = field(
        default=None, kw_only=True, metadata=checked("spec", "Retries.", of=Retry, nullable=True)
    )
    breaker: Breaker | None = field(
        default=None,
        kw_only=True,
        metadata=checked("spec", "Circuit breaking.", of=Breaker, nullable=True),
    )
    concurrency: Concurrency | None = field(
        default=None,
        kw_only=True,
        metadata=checked("spec", "A bulkhead.", of=Concurrency, nullable=True),
    )
    rate_limit: RateLimit | None = field(
        default=None,
        kw_only=True,
        metadata=checked("spec", "A rate limit.", of=RateLimit, nullable=True),
    )
    hedge: Hedge | None = field(
        default=None,
        kw_only=True,
        metadata=checked("spec", "Hedged attempts.", of=Hedge, nullable=True),
    )
    fallback: Fallback | Callable[..., Any] | None = field(default=None, kw_only=True)
    queue: Queue | None = field(
        default=None,
        kw_only=True,
        metadata=checked("spec", "Queue-related failures.", of=Queue, nullable=True),
    )
    classifier: Classifier | None = field(
        default=None,
        kw_only=True,
        metadata=checked("other", "The classifier.", nullable=True, yaml=False),
    )
    listeners: Iterable[object] = field(default=(), kw_only=True)
    _pipeline: Pipeline = field(init=False, repr=False, compare=False)
    _breaker: CircuitBreaker | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_fields(self)
        if self.classifier is not None:
            from resilience.classify import Classifier  # noqa: PLC0415 - only when given one

            if not isinstance(self.classifier, Classifier):
                detail = f"must be a Classifier or None (got {type(self.classifier).__name__})"
                raise SpecTypeError("Policy", "classifier", detail)
        listeners = check_listeners(self.listeners)
        object.__setattr__(self, "listeners", listeners)
        fallback = self.fallback
        if fallback is not None and not isinstance(fallback, Fallback):
            if not callable(fallback):
                detail = f"must be a Fallback, a callable or None (got {fallback!r})"
                raise SpecTypeError("Policy", "fallback", detail)
            fallback = Fallback(fallback)
            object.__setattr__(self, "fallback", fallback)
        observer = Observer(self.name, listeners)
        elements: list[Any] = []
        breaker = self.breaker.build(self.name, observer) if self.breaker else None
        if breaker is not None:
            elements.append(breaker)
        if self.concurrency is not None:
            elements.append(self.concurrency.build(self.name, observer))
        if self.rate_limit is not None:
            elements.append(self.rate_limit.build(self.name, observer))
        if self.hedge is not None:
            elements.append(self.hedge.build())
        retry = self.retry
        if retry is not None and retry.attempt_timeout is not None:
            elements.append(Timeout(retry.attempt_timeout, self.name))
        pipeline = Pipeline(
            self.name,
            classifier=self.classifier or cast("Classifier", _LazyClassifier()),
            elements=elements,
            retrying=Retrying(retry, self.queue),
            budget=retry.budget.build(self.name) if retry and retry.budget else None,
            fallback=fallback,
            observer=observer,
            retries=retry is not None,
        )
        object.__setattr__(self, "_pipeline", pipeline)
        object.__setattr__(self, "_breaker", breaker)

    def replace(self, **changes: Any) -> Policy:
        """A copy with some fields changed; it gets a breaker state of its own."""
        return replace(self, **changes)

    @property
    def circuit(self) -> Circuit | None:
        """The breaker's state and switches (``None`` without a breaker)."""
        return self._breaker.view() if self._breaker is not None else None

    def stats(self) -> Stats:
        """What this Policy object did since it was built: calls, failed attempts by
        category, retries, give-ups by reason, refusals, fallbacks (counted in this process,
        whatever the breaker's storage)."""
        refused = sum(gate.refusals() for gate in self._pipeline.gates if hasattr(gate, "refusals"))
        return self._pipeline.observer.counters.snapshot(refused)

    @property
    def breaker_state(self) -> BreakerState:
        """``"closed"``, ``"open"`` or ``"half-open"`` (``"closed"`` without a breaker)."""
        return self._breaker.store.snapshot[0] if self._breaker is not None else "closed"

    # -- forms ----------------------------------------------------------------------------

    def __call__(self, fn: Callable[P, T], /) -> Callable[P, T]:
        """Decorate ``fn`` (sync or async): every call goes through the policy.

        Raises:
            TypeError: ``fn`` can't be guarded (a generator function, not callable), or the
                fallback can't take its arguments, or is async for a sync ``fn``.
        """
        if isinstance(fn, staticmethod | classmethod):
            return cast(Callable[P, T], type(fn)(self(fn.__func__)))
        where = f"@{self.name}"
        is_async = is_async_target(fn, where)
        if self.hedge is not None and not is_async:
            msg = (
                f"{where}: {getattr(fn, '__qualname__', fn)!r} is a sync function, and the "
                "policy hedges: a hedged attempt must be cancellable when another one wins, "
                "which only async functions are; decorate an async function, or use a "
                "policy without hedge"
            )
            raise TypeError(msg)
        fallback = self.fallback
        if isinstance(fallback, Fallback):
            fallback.check_against(fn, where)
            if fallback.is_async and not is_async:
                msg = (
                    f"{where}: the fallback {fallback.func!r} is async but "
                    f"{getattr(fn, '__qualname__', fn)!r} is not: a sync call can't await it"
                )
                raise TypeError(msg)
        if is_async:
            from resilience.engine import aio  # noqa: PLC0415 - asyncio only for async code

            return cast(Callable[P, T], aio.wrap(self._pipeline, cast(Any, fn)))
        return sync.wrap(self._pipeline, fn)

    def call(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Call ``fn(*args, **kwargs)`` through the policy.

        Raises:
            TypeError: ``fn`` is async (use :meth:`acall`), or the fallback is.
        """
        fallback = self.fallback
        is_async = is_async_target(fn, f"policy {self.name!r}: call()")
        if self.hedge is not None:
            msg = (
                f"policy {self.name!r}: call() is for sync functions, and the policy hedges, "
                f"which only async functions can be: await policy.acall("
                f"{getattr(fn, '__qualname__', fn)}, ...) with an async function instead"
            )
            raise TypeError(msg)
        if is_async or (isinstance(fallback, Fallback) and fallback.is_async):
            msg = (
                f"policy {self.name!r}: call() is for sync functions and fallbacks; "
                f"await policy.acall({getattr(fn, '__qualname__', fn)}, ...) instead"
            )
            raise TypeError(msg)
        return sync.run(self._pipeline, fn, args, kwargs)

    async def acall(self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Await ``fn(*args, **kwargs)`` through the policy (``fn`` may also be a sync
        function returning an awaitable)."""
        from resilience.engine import aio  # noqa: PLC0415 - asyncio only for async code

        is_async = is_async_target(fn, f"policy {self.name!r}: acall()")
        attempt: Callable[..., Awaitable[T]] = fn if is_async else _awaiting(fn)
        return await aio.run(self._pipeline, aio.attempt_for(self._pipeline, attempt), args, kwargs)

    def guard(self) -> Guard:
        """One attempt through the breaker, classified, with events; never re-run."""
        return Guard(self._pipeline)

    def attempts(self) -> Attempts:
        """A retrying block: ``for attempt in policy.attempts(): with attempt: ...``."""
        return Attempts(self._pipeline)


def _awaiting(fn: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    async def attempt(*args: Any, **kwargs: Any) -> Any:
        result = fn(*args, **kwargs)
        if inspect.isawaitable(result):
            return await result
        return result

    return attempt
