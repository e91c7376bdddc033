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
from typing import TYPE_CHECKING, Any, Generic, TypeVar

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
        race = _Race(self, attempt, won, may_start, lost)
        try:
            return await race.run()
        finally:
            await _cancel(race.tasks())


class _Race(Generic[T]):
    """One call's attempts and hedges. A hedge's admission (``may_start``) runs beside the
    attempts, so an answer that comes while the bulkhead or a remote gate is still deciding
    ends the race at once."""

    def __init__(
        self,
        hedge: Hedging,
        attempt: Callable[[], Awaitable[T]],
        won: Callable[[T], bool],
        may_start: Callable[[T | None], Awaitable[bool]],
        lost: Callable[[T], Awaitable[None]],
    ) -> None:
        import asyncio  # noqa: PLC0415 - hedging is for async functions only

        self.hedge = hedge
        self.attempt, self.won, self.may_start, self.lost = attempt, won, may_start, lost
        self.running: set[asyncio.Future[T]] = set()
        self.starting: asyncio.Future[bool] | None = None
        self.extra = 0  # hedges started or being admitted
        self.last: T | None = None  # the latest failure, not yet told to `lost`

    def tasks(self) -> set[Any]:
        """What is still running: attempts, and a hedge being admitted."""
        return self.running | ({self.starting} if self.starting is not None else set())

    def _admit_hedge(self, outcome: T | None) -> None:
        import asyncio  # noqa: PLC0415

        self.extra += 1
        self.starting = asyncio.ensure_future(self.may_start(outcome))

    async def run(self) -> T:
        import asyncio  # noqa: PLC0415

        self.running.add(asyncio.ensure_future(self.attempt()))
        while True:
            hedging = self.extra < self.hedge.max_extra and self.starting is None
            done, _ = await asyncio.wait(
                self.tasks(),
                timeout=self.hedge.delay if hedging else None,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if not done:  # no answer within the delay: hedge
                self._admit_hedge(None)
                continue
            finished = [task for task in done if task in self.running]
            self.running.difference_update(finished)
            # The attempts first: an answer that came as a hedge was admitted ends the race,
            # and the hedge is not made.
            answer = await self._settle([task.result() for task in finished])
            if answer is not None:
                return answer
            starting = self.starting
            if starting is None or not starting.done():
                continue
            self.starting = None
            if starting.result():
                if self.last is not None:  # a newer attempt starts: not the answer
                    await self.lost(self.last)
                    self.last = None
                self.running.add(asyncio.ensure_future(self.attempt()))
                continue
            self.extra = self.hedge.max_extra  # no more hedges for this call
            if not self.running:
                assert self.last is not None  # the hedge was asked for after a failure
                return self.last

    async def _settle(self, outcomes: list[T]) -> T | None:
        """Take the finished attempts' outcomes: the answer, if the race is over."""
        winner = next((o for o in outcomes if self.won(o)), None)
        if winner is not None:
            for other in outcomes:
                if other is not winner:
                    await self.lost(other)
            if self.last is not None:
                await self.lost(self.last)
            return winner
        for outcome in outcomes:
            if self.last is not None:
                await self.lost(self.last)
            self.last = outcome
        if outcomes and self.extra < self.hedge.max_extra and self.starting is None:
            self._admit_hedge(self.last)  # a failure: the next hedge at once
        if self.running:  # a later outcome is the answer: this failure is told now
            if self.last is not None:
                await self.lost(self.last)
                self.last = None
            return None
        if self.starting is not None:
            return None  # the answer unless the hedge being admitted starts
        return self.last


async def _cancel(running: set[Any]) -> None:
    """Cancel the attempts still running, and wait until they have ended (they give their
    gates' tokens back as they do), even if the call is cancelled meanwhile."""
    import asyncio  # noqa: PLC0415

    if not running:
        return
    for task in running:
        task.cancel()
    await asyncio.shield(asyncio.gather(*running, return_exceptions=True))
