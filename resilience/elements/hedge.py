"""Hedging (async functions only): when an attempt is slow, start another; the first success
wins and the others are cancelled.

``Hedge(delay, max_extra=1)`` is Polly v8's hedging strategy in its latency mode: after
``delay`` seconds without an answer a hedged attempt starts beside the first, up to
``max_extra`` of them; an attempt that fails while others run starts the next one at once
(Polly does the same). The first success is the answer, and every attempt still running is
cancelled (an HTTP client closes its connection, so the server sees it). When all of them
fail, the call goes on as after any failed attempt: the retry decides, the last failure
being the one classified and propagated (the others are recorded by the breaker all the
same).

Hedging sits between the retry and the breaker: each hedged attempt goes through the breaker
(which counts its outcome), the bulkhead and the rate limit, and each extra attempt spends
the retry budget when there is one (an extra attempt is extra load, like a retry; a spent
budget starts no hedge). A refused extra attempt is simply not made.

Sync functions are refused when decorated (``TypeError``): a thread can't be cancelled, so a
loser would run to its end. The hedge ``delay`` is real time, not a backoff: ``no_wait``
leaves it alone. Blocks (``guard()``, ``attempts()``) run once and are not hedged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from resilience._spec import check_fields, checked

__all__ = ["Hedge", "Hedging"]

T = TypeVar("T")

#: The most hedged attempts one call may add (Polly caps its MaxHedgedAttempts at 10 too).
MAX_EXTRA = 10


@dataclass(frozen=True, slots=True, kw_only=True)
class Hedge:
    """When to start another attempt of a slow async call.

    Args:
        delay: Seconds (or a ``timedelta``) without an answer after which another attempt
            starts; ``0`` starts them all at once.
        max_extra: Attempts a call may add to the first, from 1 to 10.

    Raises:
        TypeError: an argument has the wrong type.
        ValueError: an argument is out of range; the message says what is allowed.
    """

    delay: float = field(
        metadata=checked(
            "seconds",
            "Seconds without an answer after which another attempt starts; 0: all at once.",
            minimum=0,
        )
    )
    max_extra: int = field(
        default=1,
        metadata=checked(
            "count", "Attempts a call may add to the first.", minimum=1, maximum=MAX_EXTRA
        ),
    )

    if TYPE_CHECKING:  # what the constructor accepts: durations as seconds or timedelta

        def __init__(self, *, delay: float | timedelta, max_extra: int = ...) -> None: ...

    def __post_init__(self) -> None:
        check_fields(self)

    def replace(self, **changes: Any) -> Hedge:
        """A copy with some fields changed (and checked again)."""
        return replace(self, **changes)

    def build(self) -> Hedging:
        """The live element."""
        return Hedging(self.delay, self.max_extra)


class Hedging:
    """The live hedge of one policy: races attempts that the async driver makes.

    :meth:`race` knows nothing of gates or classification: it is given a function making
    one attempt (which reports its outcome as a value and never raises but for
    cancellation), what counts as a success, and whether one more attempt may start.
    """

    __slots__ = ("delay", "max_extra")

    def __init__(self, delay: float, max_extra: int) -> None:
        self.delay = delay
        self.max_extra = max_extra

    async def race(
        self,
        attempt: Callable[[], Awaitable[T]],
        won: Callable[[T], bool],
        may_start: Callable[[T | None], Awaitable[bool]],
        lost: Callable[[T], Awaitable[None]],
    ) -> T:
        """Run ``attempt`` and its hedges; the first outcome ``won`` accepts, else the last.

        Args:
            attempt: Makes one attempt; returns its outcome (it raises only when cancelled).
            won: Whether an outcome ends the race (a success, or a failure no other attempt
                would change).
            may_start: Whether one more attempt may start now (given the failed outcome that
                asks for it, or ``None`` when the delay ran out); it may spend a budget.
                ``attempt`` is called right after it says yes.
            lost: Told of each finished outcome that is not the one returned, as it
                finishes (so a breaker sees outcomes in the order they came).

        Returns:
            The winning outcome, or the last failed one when every attempt failed.

        Raises:
            asyncio.CancelledError: the call was cancelled; every attempt is, and has ended.
        """
        import asyncio  # noqa: PLC0415 - hedging is for async functions only

        running: set[asyncio.Future[T]] = {asyncio.ensure_future(attempt())}
        extra = 0
        try:
            while True:  # `running` is never empty here
                hedging = extra < self.max_extra
                done, running = await asyncio.wait(
                    running,
                    timeout=self.delay if hedging else None,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if not done:  # no answer within the delay: hedge
                    if await may_start(None):
                        running.add(asyncio.ensure_future(attempt()))
                        extra += 1
                    else:
                        extra = self.max_extra  # no more hedges for this call
                    continue
                outcomes = [task.result() for task in done]
                winner = next((o for o in outcomes if won(o)), None)
                if winner is None and extra < self.max_extra and await may_start(outcomes[-1]):
                    running.add(asyncio.ensure_future(attempt()))  # failed: the next at once
                    extra += 1
                final = winner if winner is not None or running else outcomes[-1]
                for outcome in outcomes:
                    if outcome is not final:
                        await lost(outcome)
                if final is not None:
                    return final
        finally:
            await _cancel(running)


async def _cancel(running: set[Any]) -> None:
    """Cancel the attempts still running, and wait until they have ended (they give their
    gates' tokens back as they do), even if the call is cancelled meanwhile."""
    import asyncio  # noqa: PLC0415

    if not running:
        return
    for task in running:
        task.cancel()
    await asyncio.shield(asyncio.gather(*running, return_exceptions=True))
