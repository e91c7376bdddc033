"""The async driver: awaits the function and sleeps, as the core decides.

It mirrors :mod:`~resilience.engine.sync`, with four differences. Gates whose state is
remote (Redis) are asked in a worker thread, so the event loop never waits on the network;
a caller cancelled while a worker thread admits it gives the admission back. A task with a
cancellation pending (``asyncio.current_task().cancelling()``) is never retried, counted or
handed to the fallback, even when the function turned the ``CancelledError`` into another
exception. Attempts go through the pipeline's attempt wrappers (the attempt timeout). And a
policy with a hedge races each attempt with its hedges (:func:`_race`), which the retry loop
sees as one attempt.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

from resilience.categories import Category
from resilience.engine.core import Call, Gate, Pipeline
from resilience.engine.sync import _Box, _end, starts_early
from resilience.errors import ResilienceError

if TYPE_CHECKING:
    from resilience.elements.fallback import Fallback

__all__ = [
    "admit",
    "attempt",
    "attempt_for",
    "cancelled",
    "fall_back",
    "failed",
    "retry",
    "run",
    "succeeded",
    "wrap",
]

T = TypeVar("T")

_clock = time.perf_counter
_monotonic = time.monotonic

RETRYABLE = Category.RETRYABLE

#: An attempt's outcome: ``(result, None, tokens, duration)`` when it succeeded, ``(None,
#: failure, tokens, duration)`` when it failed, ``(None, refusal, None, 0.0)`` when refused.
Outcome = tuple[Any, BaseException | None, list[Any] | None, float]


def attempt_for(pipeline: Pipeline, fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """One attempt of ``fn``, through the pipeline's attempt wrappers."""
    for wrapper in pipeline.wrappers:
        fn = wrapper.wrap_async(fn)
    return fn


def wrap(pipeline: Pipeline, fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """``fn`` with every call through the pipeline (the decorator's form)."""
    attempt = attempt_for(pipeline, fn)
    gates = pipeline.gates
    if gates and not pipeline.begins and not pipeline.timed and pipeline.hedge is None:
        # (the spelt-out shapes record no durations)
        local = all(getattr(gate, "local", False) for gate in gates)
        if len(gates) == 1 and (local or getattr(gates[0], "mirrored", False)):
            return functools.wraps(fn)(_one_gate(pipeline, attempt))
        if local:
            return functools.wraps(fn)(_local_gates(pipeline, attempt))

    @functools.wraps(fn)
    async def guarded(*args: Any, **kwargs: Any) -> T:
        return await run(pipeline, attempt, args, kwargs)

    return guarded


def _one_gate(
    pipeline: Pipeline, attempt: Callable[..., Awaitable[T]]
) -> Callable[..., Awaitable[T]]:
    # The most common shape (a breaker in memory, with or without retries), spelt out: it is
    # what every successful call costs. The gate is local: it never blocks the event loop;
    # or mirrored (a shared breaker): local while ``remote`` says so, asked before each step.
    (gate,) = pipeline.gates
    mirrored = not getattr(gate, "local", False)
    probe: Any = getattr(gate, "store", gate)  # a mirrored gate's store says when it is remote
    admit_one, succeeded_one, cancelled_one = gate.admit, gate.succeeded, gate.cancelled
    observer = pipeline.observer
    refuse = pipeline.fallback is None  # a refusal then ends the call as it is
    early = starts_early(pipeline)
    count = pipeline.count

    async def guarded(*args: Any, **kwargs: Any) -> T:
        if observer.end or pipeline.chaos is not None or (mirrored and probe.remote):
            return await run(pipeline, attempt, args, kwargs)
        count()
        start = _monotonic() if early else 0.0
        if refuse:
            token = admit_one()
        else:
            try:
                token = admit_one()
            except ResilienceError as exc:
                box = _Box(exc)
                return await retry(
                    pipeline, attempt, args, kwargs, box, None, start or _monotonic()
                )
        try:
            result = await attempt(*args, **kwargs)
        except Exception as exc:
            if cancelling():  # the task is being cancelled: not a failure of the call
                cancelled_one(token)
                raise
            box = _Box(exc)
        except BaseException:
            cancelled_one(token)
            raise
        else:
            if mirrored and probe.remote:  # the shared state changed meanwhile
                await asyncio.to_thread(succeeded_one, token, 0.0)
            else:
                succeeded_one(token, 0.0)
            return result
        return await retry(pipeline, attempt, args, kwargs, box, [token], start or _monotonic())

    return guarded


def _local_gates(
    pipeline: Pipeline, attempt: Callable[..., Awaitable[T]]
) -> Callable[..., Awaitable[T]]:
    # A breaker in memory and limits that never wait (or two limits): _one_gate's shape, over
    # the gates' bound methods. Every gate answers at once: none blocks the event loop.
    gates = pipeline.gates
    admits = tuple(gate.admit for gate in gates)
    successes = tuple(gate.succeeded for gate in gates)
    cancels = tuple(gate.cancelled for gate in gates)
    observer = pipeline.observer
    refuse = pipeline.fallback is None  # a refusal then ends the call as it is
    early = starts_early(pipeline)
    count = pipeline.count

    def give_back(tokens: list[Any]) -> None:
        for cancel, token in zip(cancels, tokens, strict=False):
            cancel(token)

    async def guarded(*args: Any, **kwargs: Any) -> T:
        if observer.end or pipeline.chaos is not None:
            return await run(pipeline, attempt, args, kwargs)
        count()
        start = _monotonic() if early else 0.0
        tokens: list[Any] = []
        try:
            for admit_one in admits:
                tokens.append(admit_one())
        except BaseException as exc:
            give_back(tokens)
            if refuse or not isinstance(exc, ResilienceError):
                raise
            box = _Box(exc)
            return await retry(pipeline, attempt, args, kwargs, box, None, start or _monotonic())
        try:
            result = await attempt(*args, **kwargs)
        except Exception as exc:
            if cancelling():  # the task is being cancelled: not a failure of the call
                give_back(tokens)
                raise
            box = _Box(exc)
        except BaseException:
            give_back(tokens)
            raise
        else:
            for succeeded_one, token in zip(successes, tokens, strict=True):
                succeeded_one(token, 0.0)
            return result
        return await retry(pipeline, attempt, args, kwargs, box, tokens, start or _monotonic())

    return guarded


# --- the gates, never blocking the event loop ------------------------------------------------


def _local(gates: Sequence[Gate]) -> bool:
    """Whether every gate answers at once (no network, no waiting)."""
    return not any(gate.remote or hasattr(gate, "aadmit") for gate in gates)


async def _admit_one(gate: Gate) -> Any:
    waiting = getattr(gate, "aadmit", None)
    if waiting is not None:
        return await waiting()
    if not gate.remote:
        return gate.admit()
    admitted = asyncio.ensure_future(asyncio.to_thread(gate.admit))
    try:
        return await asyncio.shield(admitted)
    except asyncio.CancelledError:
        # The caller is gone while a thread admits it: give the admission back when it comes.
        admitted.add_done_callback(functools.partial(_abandon, gate))
        raise


def _abandon(gate: Gate, admitted: asyncio.Future[Any]) -> None:
    if not admitted.cancelled() and admitted.exception() is None:
        asyncio.get_running_loop().run_in_executor(None, gate.cancelled, admitted.result())


async def admit(pipeline: Pipeline) -> list[Any]:
    """:meth:`Pipeline.admit`, off the event loop where a gate would block."""
    gates = pipeline.gates
    if _local(gates):
        return pipeline.admit()
    tokens: list[Any] = []
    for gate in gates:
        try:
            tokens.append(await _admit_one(gate))
        except BaseException:
            await cancelled(pipeline, tokens)
            raise
    return tokens


def _remote(gates: Sequence[Gate]) -> bool:
    """Whether recording an outcome may block on the network (waiting is only admission's)."""
    return any(gate.remote for gate in gates)


async def succeeded(pipeline: Pipeline, tokens: Sequence[Any], duration: float) -> None:
    """:meth:`Pipeline.succeeded`, off the event loop where a gate would block."""
    if not _remote(pipeline.gates):
        pipeline.succeeded(tokens, duration)
    else:
        await asyncio.to_thread(pipeline.succeeded, tokens, duration)


async def cancelled(pipeline: Pipeline, tokens: Sequence[Any]) -> None:
    """:meth:`Pipeline.cancelled`, off the event loop where a gate would block; it runs to
    the end even if the caller is cancelled meanwhile."""
    if not _remote(pipeline.gates):
        pipeline.cancelled(tokens)
    else:
        await asyncio.shield(asyncio.to_thread(pipeline.cancelled, tokens))


async def failed(
    call: Call, exc: BaseException, tokens: Sequence[Any], duration: float
) -> float | None:
    """:meth:`Call.failed`, off the event loop where a gate or the budget would block."""
    if call.pipeline.remote_now():
        return await asyncio.to_thread(call.failed, exc, tokens, duration)
    return call.failed(exc, tokens, duration)


def cancelling() -> bool:
    """Whether the current task has a cancellation pending."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


# --- the driver ------------------------------------------------------------------------------


async def run(pipeline: Pipeline, fn: Callable[..., Awaitable[T]], args: Any, kwargs: Any) -> T:
    """Await ``fn(*args, **kwargs)`` through the pipeline (``fn`` already wrapped by
    :func:`attempt_for`)."""
    pipeline.count()
    for begin in pipeline.begins:
        begin()
    start = _monotonic()
    result, exc, tokens, duration = await attempt(pipeline, fn, args, kwargs, start, 0)
    if exc is None:
        _end(pipeline.observer, "success", 1, start)
        return cast(T, result)
    try:
        if tokens is None and pipeline.fallback is None and not pipeline.observer.end:
            raise exc  # refused, and nothing to fall back to: the refusal is the answer
        return await retry(pipeline, fn, args, kwargs, _Box(exc), tokens, start, duration)
    finally:
        exc = None  # no reference cycle through this frame (see the sync driver)


async def attempt(
    pipeline: Pipeline,
    fn: Callable[..., Awaitable[T]],
    args: Any,
    kwargs: Any,
    start: float,
    done: int,
) -> Outcome:
    """One attempt, as :func:`resilience.engine.sync.attempt`. A failure while the task is
    being cancelled is no failure of the call: the gates get their tokens back and it
    propagates as it is. With a hedge, the attempt and its hedges race (:func:`_race`)."""
    if pipeline.hedge is not None:
        return await _race(pipeline, fn, args, kwargs, start, done)
    try:
        tokens = await admit(pipeline)
    except ResilienceError as refusal:
        return None, refusal, None, 0.0
    try:
        return await _admitted(pipeline, fn, args, kwargs, tokens)
    except BaseException:
        _end(pipeline.observer, "cancelled", done + 1, start)
        raise


async def _admitted(
    pipeline: Pipeline, fn: Callable[..., Awaitable[T]], args: Any, kwargs: Any, tokens: list[Any]
) -> Outcome:
    """The rest of an attempt the gates admitted (``tokens``); raises only when cancelled."""
    timed = pipeline.timed or pipeline.observer.end
    began = _clock() if timed else 0.0
    try:
        chaos = pipeline.chaos
        if chaos is not None:
            await chaos.ainject()  # a fault or latency, as if from fn (resilience.testing.chaos)
        result = await fn(*args, **kwargs)
    except Exception as failure:
        if not cancelling():
            return None, failure, tokens, _clock() - began if timed else 0.0
        await cancelled(pipeline, tokens)
        raise
    except BaseException:
        await cancelled(pipeline, tokens)
        raise
    duration = _clock() - began if timed else 0.0
    await succeeded(pipeline, tokens, duration)
    return result, None, tokens, duration


async def _race(
    pipeline: Pipeline,
    fn: Callable[..., Awaitable[T]],
    args: Any,
    kwargs: Any,
    start: float,
    done: int,
) -> Outcome:
    """An attempt and its hedges (:mod:`resilience.elements.hedge`), as one attempt of the
    call: the first success, else the last failure. A hedge is admitted by the gates (and
    spends the budget) before it starts: a refused one is not made, so a refusal never
    hides a real failure. The failures not returned are recorded by the gates as they come,
    the one returned by the retry loop as usual."""
    admitted: list[list[Any]] = []  # the tokens of the hedge about to start

    def one() -> Awaitable[Outcome]:
        if admitted:
            return _admitted(pipeline, fn, args, kwargs, admitted.pop())
        return _first(pipeline, fn, args, kwargs)

    def won(outcome: Outcome) -> bool:
        exc = outcome[1]
        if exc is None:
            return True
        # A refusal, or a failure that another attempt would not change, ends the race.
        return outcome[2] is None or pipeline.classify(exc)[0] is not RETRYABLE

    async def may_start(outcome: Outcome | None) -> bool:
        try:
            tokens = await admit(pipeline)
        except ResilienceError:
            return False
        budget = pipeline.budget
        try:
            if budget is not None and budget.remote:
                allowed: bool = await asyncio.to_thread(budget.store.try_retry)
            else:
                allowed = budget is None or budget.store.try_retry()
        except BaseException:
            await cancelled(pipeline, tokens)
            raise
        if not allowed:
            await cancelled(pipeline, tokens)
            return False
        admitted.append(tokens)
        return True

    async def lost(outcome: Outcome) -> None:
        _, exc, tokens, duration = outcome
        if exc is None or not tokens:
            return
        category = pipeline.classify(exc)[0]
        if pipeline.remote_now():
            await asyncio.shield(asyncio.to_thread(pipeline.failed, tokens, category, duration))
        else:
            pipeline.failed(tokens, category, duration)
        observer = pipeline.observer
        if observer.attempts:
            observer.attempt_failed(done + 1, category, exc, duration)

    try:
        outcome: Outcome = await pipeline.hedge.race(one, won, may_start, lost)
    except BaseException:
        _end(pipeline.observer, "cancelled", done + 1, start)
        raise
    finally:
        while admitted:  # a hedge admitted as the race ended: its tokens go back
            await cancelled(pipeline, admitted.pop())
    return outcome


async def _first(
    pipeline: Pipeline, fn: Callable[..., Awaitable[T]], args: Any, kwargs: Any
) -> Outcome:
    try:
        tokens = await admit(pipeline)
    except ResilienceError as refusal:
        return None, refusal, None, 0.0
    return await _admitted(pipeline, fn, args, kwargs, tokens)


async def retry(
    pipeline: Pipeline,
    fn: Callable[..., Awaitable[T]],
    args: Any,
    kwargs: Any,
    box: _Box,
    tokens: list[Any] | None,
    start: float,
    duration: float = 0.0,
) -> T:
    """The rest of a call whose attempt failed or was refused (``tokens`` is ``None``)."""
    call = Call(pipeline, start)
    observer = pipeline.observer
    exc: BaseException | None = box.take()
    try:
        while True:
            assert exc is not None
            refused = tokens is None  # by one of our own gates: never retried
            if refused:
                fallback = pipeline.fallback
            else:
                assert tokens is not None
                delay = await failed(call, exc, tokens, duration)
                if delay is not None:
                    await asyncio.sleep(call.pause(delay))
                    result, failure, tokens, duration = await attempt(
                        pipeline, fn, args, kwargs, start, call.attempts
                    )
                    if failure is None:
                        _end(observer, "success", call.attempts + 1, start)
                        return cast(T, result)
                    if tokens is None and failure.__context__ is None:
                        failure.__context__ = exc
                    exc, failure = failure, None
                    continue
                fallback = call.give_up(exc)
            if fallback is None:
                _end(observer, "rejected" if refused else "failure", call.attempts, start)
                raise exc
            return cast(T, await fall_back(call, fallback, args, kwargs, exc, refused))
    finally:
        exc = None  # no reference cycle through this frame (see the sync driver)


async def fall_back(
    call: Call,
    fallback: Fallback,
    args: Any,
    kwargs: Any,
    exc: BaseException,
    refused: bool,
) -> Any:
    """Answer with the fallback, awaited when it returns an awaitable."""
    call.fall_back(exc, refused)
    f_args, f_kwargs = fallback.arguments(args, kwargs, exc)
    try:
        value = fallback.func(*f_args, **f_kwargs)
        if inspect.isawaitable(value):
            value = await value
    except BaseException as fallback_exc:
        if fallback_exc.__context__ is None and fallback_exc is not exc:
            fallback_exc.__context__ = exc
        raise
    _end(call.pipeline.observer, "fallback", call.attempts, call.start)
    return value
