"""The block forms of a policy: ``guard()`` (one attempt) and ``attempts()`` (a retrying
block), sync and async, on the same core and driver helpers as the decorator."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from types import TracebackType
from typing import Any

from resilience.engine.core import Call, Pipeline

__all__ = ["Attempt", "Attempts", "Guard"]

# The async forms import the async driver (and asyncio) when they are first used, so sync code
# never pays for it.

_clock = time.perf_counter


def _record(pipeline: Pipeline, tokens: list[Any], exc: BaseException | None, began: float) -> None:
    """Record the outcome of a block run once (``guard()``)."""
    duration = _clock() - began
    if exc is None:
        pipeline.succeeded(tokens, duration)
    elif isinstance(exc, Exception):
        category = pipeline.classify(exc)[0]
        pipeline.failed(tokens, category, duration)
        pipeline.observer.attempt_failed(1, category, exc, duration)
    else:
        pipeline.cancelled(tokens)


class Guard:
    """One attempt through a policy's gates: ``with policy.guard():`` (or ``async with``).

    The block runs once. A failure is classified and recorded by the breaker, then propagates
    unchanged; a refusal (an open circuit) raises on entry. No retry, no fallback: a block has
    no value to replace.
    """

    __slots__ = ("_began", "_pipeline", "_tokens")

    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline
        self._tokens: list[Any] = []
        self._began = 0.0

    def __enter__(self) -> Guard:
        self._pipeline.count()
        for begin in self._pipeline.begins:
            begin()
        self._tokens = self._pipeline.admit()
        self._began = _clock()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _record(self._pipeline, self._tokens, exc, self._began)

    async def __aenter__(self) -> Guard:
        from resilience.engine import aio  # noqa: PLC0415

        self._pipeline.count()
        for begin in self._pipeline.begins:
            begin()
        self._tokens = await aio.admit(self._pipeline)
        self._began = _clock()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        import asyncio  # noqa: PLC0415

        from resilience.engine import aio  # noqa: PLC0415

        pipeline = self._pipeline
        if isinstance(exc, Exception) and aio.cancelling():
            await aio.cancelled(pipeline, self._tokens)  # not a failure of the block
        elif pipeline.remote_now(failure=exc is not None):
            await asyncio.to_thread(_record, pipeline, self._tokens, exc, self._began)
        else:
            _record(pipeline, self._tokens, exc, self._began)


class Attempt:
    """One attempt of a retrying block; use it as ``with attempt:`` (or ``async with``)."""

    __slots__ = ("_began", "_call", "_delay", "_tokens", "number")

    def __init__(self, call: Call, number: int) -> None:
        self._call = call
        self.number = number
        self._tokens: list[Any] = []
        self._delay: float | None = None
        self._began = 0.0

    def __repr__(self) -> str:
        return f"<Attempt {self.number} of policy {self._call.pipeline.name!r}>"

    def __enter__(self) -> Attempt:
        self._tokens = self._call.pipeline.admit()
        self._began = _clock()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        call, tokens = self._call, self._tokens
        pipeline = call.pipeline
        duration = _clock() - self._began
        if exc is None:
            pipeline.succeeded(tokens, duration)
            return False
        if not isinstance(exc, Exception):
            pipeline.cancelled(tokens)
            return False
        delay = call.failed(exc, tokens, duration)
        if delay is None:
            call.give_up(exc)
            return False
        self._delay = delay
        return True  # swallowed: the next attempt follows after the wait

    async def __aenter__(self) -> Attempt:
        from resilience.engine import aio  # noqa: PLC0415

        self._tokens = await aio.admit(self._call.pipeline)
        self._began = _clock()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        import asyncio  # noqa: PLC0415

        from resilience.engine import aio  # noqa: PLC0415

        call = self._call
        pipeline = call.pipeline
        if isinstance(exc, Exception) and aio.cancelling():
            await aio.cancelled(pipeline, self._tokens)
            return False  # never retried while the task is being cancelled
        if pipeline.remote_now(failure=exc is not None):
            swallowed: bool = await asyncio.to_thread(self.__exit__, exc_type, exc, tb)
            return swallowed
        return self.__exit__(exc_type, exc, tb)


class Attempts:
    """The attempts of a retrying block: ``for attempt in policy.attempts():`` (or
    ``async for``). A failed attempt that the policy retries is swallowed and the next one
    follows after the backoff; when the policy gives up, the failure propagates with a note.
    Fallbacks do not apply here: a block has no value to replace."""

    __slots__ = ("_pipeline",)

    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline

    def __iter__(self) -> Iterator[Attempt]:
        self._pipeline.count()
        for begin in self._pipeline.begins:
            begin()
        call = Call(self._pipeline, time.monotonic())
        number = 0
        while True:
            number += 1
            attempt = Attempt(call, number)
            yield attempt
            if attempt._delay is None:
                return
            pause = call.pause(attempt._delay)
            if pause:
                time.sleep(pause)

    async def __aiter__(self) -> AsyncIterator[Attempt]:
        import asyncio  # noqa: PLC0415

        self._pipeline.count()
        for begin in self._pipeline.begins:
            begin()
        call = Call(self._pipeline, time.monotonic())
        number = 0
        while True:
            number += 1
            attempt = Attempt(call, number)
            yield attempt
            if attempt._delay is None:
                return
            await asyncio.sleep(call.pause(attempt._delay))
