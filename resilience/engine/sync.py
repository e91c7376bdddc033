"""The sync driver: calls the function and sleeps, as the core decides.

The happy path is: count the call (budget), admit through the gates, call, record the
success; nothing is built and nothing logged. A failure hands over to :func:`retry`, which
runs the rest of the call (waits, further attempts, the fallback) on a :class:`Call`.

The failure path runs after the ``except`` block, never in it: an attempt made inside it would
see the previous failure as the exception being handled, and the exception that finally
propagates would carry the first failure as its ``__context__``. Every frame here drops its
reference to the failure before it propagates, so a failed call leaves no reference cycle
(the failing function's frame is freed as soon as the caller drops the exception).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from resilience.engine.core import Call, Pipeline
from resilience.errors import ResilienceError

if TYPE_CHECKING:
    from resilience.elements.fallback import Fallback
    from resilience.observe import Observer, Outcome

__all__ = ["attempt", "fall_back", "retry", "run", "starts_early", "wrap"]

T = TypeVar("T")

_clock = time.perf_counter
_monotonic = time.monotonic


class _Box:
    """Carries a failure out of an ``except`` block; emptied by whoever takes it, so the
    frame that caught it does not keep it alive."""

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc: BaseException | None = exc

    def take(self) -> BaseException:
        exc, self.exc = self.exc, None
        assert exc is not None
        return exc


def wrap(pipeline: Pipeline, fn: Callable[..., T]) -> Callable[..., T]:
    """``fn`` with every call through the pipeline (the decorator's form)."""
    gates = pipeline.gates
    if len(gates) == 1 and not pipeline.begins and getattr(gates[0], "timed", False):
        return _one_timed_gate(pipeline, fn)
    if not pipeline.begins and not any(getattr(gate, "timed", False) for gate in gates):
        if len(gates) == 1:
            return _one_gate(pipeline, fn)
        if len(gates) == 2:
            return _two_gates(pipeline, fn)
        return _gates(pipeline, fn)

    @functools.wraps(fn)
    def guarded(*args: Any, **kwargs: Any) -> T:
        return run(pipeline, fn, args, kwargs)

    return guarded


def starts_early(pipeline: Pipeline) -> bool:
    """Whether the call's start is read on the happy path: with a deadline, which counts from
    there; otherwise at the first failure (reading the clock costs a quarter of the call)."""
    return pipeline.retrying.deadline is not None


def _one_gate(pipeline: Pipeline, fn: Callable[..., T]) -> Callable[..., T]:
    # The most common shape (a breaker, with or without retries), spelt out: it is what every
    # successful call costs.
    (gate,) = pipeline.gates
    admit, succeeded, cancelled = gate.admit, gate.succeeded, gate.cancelled
    observer = pipeline.observer
    refuse = pipeline.fallback is None  # a refusal then ends the call as it is
    early = starts_early(pipeline)
    count = pipeline.count

    def observed(args: Any, kwargs: Any) -> T:
        # The same for listeners that asked for successes (on_call_end): timed, and every
        # refusal goes through retry(), which tells them how the call ended.
        count()
        start = _monotonic()
        try:
            token = admit()
        except ResilienceError as exc:
            box = _Box(exc)
            return retry(pipeline, fn, args, kwargs, box, None, start)
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - classified, then retried or re-raised
            box = _Box(exc)
        except BaseException:
            cancelled(token)
            _end(observer, "cancelled", 1, start)
            raise
        else:
            succeeded(token, 0.0)
            observer.call_end("success", 1, _monotonic() - start)
            return result
        return retry(pipeline, fn, args, kwargs, box, [token], start, _monotonic() - start)

    @functools.wraps(fn)
    def guarded(*args: Any, **kwargs: Any) -> T:
        if pipeline.chaos is not None:
            return run(pipeline, fn, args, kwargs)
        if observer.end:
            return observed(args, kwargs)
        count()
        start = _monotonic() if early else 0.0
        if refuse:
            token = admit()
        else:
            try:
                token = admit()
            except ResilienceError as exc:
                box = _Box(exc)
                return retry(pipeline, fn, args, kwargs, box, None, start or _monotonic())
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - classified, then retried or re-raised
            box = _Box(exc)
        except BaseException:
            cancelled(token)
            raise
        else:
            succeeded(token, 0.0)
            return result
        return retry(pipeline, fn, args, kwargs, box, [token], start or _monotonic())

    return guarded


def _one_timed_gate(pipeline: Pipeline, fn: Callable[..., T]) -> Callable[..., T]:
    # The same shape with a gate that judges durations (a breaker counting slow calls): each
    # attempt is measured, and nothing else is added.
    (gate,) = pipeline.gates
    admit, succeeded, cancelled = gate.admit, gate.succeeded, gate.cancelled
    observer = pipeline.observer
    refuse = pipeline.fallback is None
    early = starts_early(pipeline)
    count = pipeline.count

    @functools.wraps(fn)
    def guarded(*args: Any, **kwargs: Any) -> T:
        if observer.end or pipeline.chaos is not None:
            return run(pipeline, fn, args, kwargs)  # timed and told, as listeners ask
        count()
        start = _monotonic() if early else 0.0
        if refuse:
            token = admit()
        else:
            try:
                token = admit()
            except ResilienceError as exc:
                box = _Box(exc)
                return retry(pipeline, fn, args, kwargs, box, None, start or _monotonic())
        began = _clock()
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - classified, then retried or re-raised
            duration = _clock() - began
            box = _Box(exc)
        except BaseException:
            cancelled(token)
            raise
        else:
            succeeded(token, _clock() - began)
            return result
        return retry(pipeline, fn, args, kwargs, box, [token], start or _monotonic(), duration)

    return guarded


def _two_gates(pipeline: Pipeline, fn: Callable[..., T]) -> Callable[..., T]:
    # A breaker and a limit (or two limits), spelt out like _one_gate: a loop over the gates
    # would cost more than the limit itself.
    (first, second) = pipeline.gates
    admit1, succeeded1, cancelled1 = first.admit, first.succeeded, first.cancelled
    admit2, succeeded2, cancelled2 = second.admit, second.succeeded, second.cancelled
    observer = pipeline.observer
    refuse = pipeline.fallback is None  # a refusal then ends the call as it is
    early = starts_early(pipeline)
    count = pipeline.count

    @functools.wraps(fn)
    def guarded(*args: Any, **kwargs: Any) -> T:
        if observer.end or pipeline.chaos is not None:
            return run(pipeline, fn, args, kwargs)
        count()
        start = _monotonic() if early else 0.0
        try:
            token1 = admit1()
            try:
                token2 = admit2()
            except BaseException:
                cancelled1(token1)
                raise
        except ResilienceError as exc:
            if refuse:
                raise
            box = _Box(exc)
            return retry(pipeline, fn, args, kwargs, box, None, start or _monotonic())
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - classified, then retried or re-raised
            box = _Box(exc)
        except BaseException:
            cancelled1(token1)
            cancelled2(token2)
            raise
        else:
            succeeded1(token1, 0.0)
            succeeded2(token2, 0.0)
            return result
        return retry(pipeline, fn, args, kwargs, box, [token1, token2], start or _monotonic())

    return guarded


def _gates(pipeline: Pipeline, fn: Callable[..., T]) -> Callable[..., T]:
    # Three gates or more (a breaker and both limits): the same shape, over bound methods.
    gates = pipeline.gates
    admits = tuple(gate.admit for gate in gates)
    successes = tuple(gate.succeeded for gate in gates)
    cancels = tuple(gate.cancelled for gate in gates)
    observer = pipeline.observer
    refuse = pipeline.fallback is None  # a refusal then ends the call as it is
    early = starts_early(pipeline)
    count = pipeline.count

    @functools.wraps(fn)
    def guarded(*args: Any, **kwargs: Any) -> T:
        if observer.end or pipeline.chaos is not None:
            return run(pipeline, fn, args, kwargs)
        count()
        start = _monotonic() if early else 0.0
        tokens: list[Any] = []
        try:
            for admit in admits:
                tokens.append(admit())
        except BaseException as exc:
            for cancel, token in zip(cancels, tokens, strict=False):
                cancel(token)
            if refuse or not isinstance(exc, ResilienceError):
                raise
            box = _Box(exc)
            return retry(pipeline, fn, args, kwargs, box, None, start or _monotonic())
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - classified, then retried or re-raised
            box = _Box(exc)
        except BaseException:
            for cancel, token in zip(cancels, tokens, strict=True):
                cancel(token)
            raise
        else:
            for succeeded, token in zip(successes, tokens, strict=True):
                succeeded(token, 0.0)
            return result
        return retry(pipeline, fn, args, kwargs, box, tokens, start or _monotonic())

    return guarded


def run(pipeline: Pipeline, fn: Callable[..., T], args: Any, kwargs: Any) -> T:
    """Call ``fn(*args, **kwargs)`` through the pipeline."""
    pipeline.count()
    for begin in pipeline.begins:
        begin()
    start = _monotonic()
    result, exc, tokens, duration = attempt(pipeline, fn, args, kwargs, start, 0)
    if exc is None:
        _end(pipeline.observer, "success", 1, start)
        return cast(T, result)
    try:
        if tokens is None and pipeline.fallback is None and not pipeline.observer.end:
            raise exc  # refused, and nothing to fall back to: the refusal is the answer
        return retry(pipeline, fn, args, kwargs, _Box(exc), tokens, start, duration)
    finally:
        exc = None  # no reference cycle through this frame (see the module docstring)


def attempt(
    pipeline: Pipeline, fn: Callable[..., T], args: Any, kwargs: Any, start: float, done: int
) -> tuple[Any, BaseException | None, list[Any] | None, float]:
    """One attempt: ``(result, None, tokens, duration)`` when it succeeded, ``(None, failure,
    tokens, duration)`` when it failed, ``(None, refusal, None, 0.0)`` when a gate refused it.
    ``done`` counts the attempts made before (for the listeners, if it is interrupted)."""
    try:
        tokens = pipeline.admit()
    except ResilienceError as refusal:
        return None, refusal, None, 0.0
    timed = pipeline.timed or pipeline.observer.end
    began = _clock() if timed else 0.0
    try:
        chaos = pipeline.chaos
        if chaos is not None:
            chaos.inject()  # a fault or latency, as if from fn (resilience.testing.chaos)
        result = fn(*args, **kwargs)
    except Exception as failure:  # noqa: BLE001 - classified, then retried or re-raised
        return None, failure, tokens, _clock() - began if timed else 0.0
    except BaseException:
        pipeline.cancelled(tokens)
        _end(pipeline.observer, "cancelled", done + 1, start)
        raise
    duration = _clock() - began if timed else 0.0
    pipeline.succeeded(tokens, duration)
    return result, None, tokens, duration


def retry(
    pipeline: Pipeline,
    fn: Callable[..., T],
    args: Any,
    kwargs: Any,
    box: _Box,
    tokens: list[Any] | None,
    start: float,
    duration: float = 0.0,
) -> T:
    """The rest of a call whose attempt failed (``tokens`` its gates' tokens) or was refused
    by a gate (``tokens`` is ``None``)."""
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
                delay = call.failed(exc, tokens, duration)
                if delay is not None:
                    pause = call.pause(delay)
                    if pause:
                        time.sleep(pause)
                    result, failure, tokens, duration = attempt(
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
            return cast(T, fall_back(call, fallback, args, kwargs, exc, refused))
    finally:
        exc = None  # no reference cycle through this frame (see the module docstring)


def fall_back(
    call: Call,
    fallback: Fallback,
    args: Any,
    kwargs: Any,
    exc: BaseException,
    refused: bool,
) -> Any:
    """Answer with the fallback; a failing fallback raises its own exception, the original
    as its ``__context__``."""
    call.fall_back(exc, refused)
    f_args, f_kwargs = fallback.arguments(args, kwargs, exc)
    try:
        value = fallback.func(*f_args, **f_kwargs)
    except BaseException as fallback_exc:
        if fallback_exc.__context__ is None and fallback_exc is not exc:
            fallback_exc.__context__ = exc
        raise
    _end(call.pipeline.observer, "fallback", call.attempts, call.start)
    return value


def _end(observer: Observer, outcome: Outcome, attempts: int, start: float) -> None:
    if observer.end:
        observer.call_end(outcome, attempts, _monotonic() - start)
