"""Retry: how often to try, how long to wait, and what to do with queue-related failures.

The specs are ``Retry`` and ``Queue``; :class:`Retrying` is the live element a policy builds
from them. After each failed attempt the engine asks it for a plan: retry after so many
seconds, or give up and why (``attempts``, ``deadline``, ``auth: never retried``, ...).
Queue-related failures follow the policy's ``Queue`` (its own attempts and backoff when its
action is ``retry``); retryable ones follow ``Retry``. A server's hint (``Retry-After``)
lengthens the wait, up to ``max_hint``, never past the deadline.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal, get_args

from resilience._spec import check_fields, checked
from resilience.categories import Category
from resilience.elements.backoff import Backoff
from resilience.elements.budget import Budget

if TYPE_CHECKING:
    from resilience.engine.core import Call

__all__ = ["QUEUE_ACTIONS", "Queue", "QueueAction", "Retry", "Retrying"]

QueueAction = Literal["fallback", "retry", "raise"]
QUEUE_ACTIONS: tuple[str, ...] = get_args(QueueAction)


@dataclass(frozen=True, slots=True, kw_only=True)
class Retry:
    """How a policy retries retryable failures.

    Args:
        attempts: Calls in all, the first included: ``attempts=1`` never retries.
        deadline: Seconds (or a ``timedelta``) the whole call may take, counted from its
            start (the first attempt included); no sleep is started that would end past it.
            ``None``: no deadline.
        attempt_timeout: Seconds one attempt of an async function may run before it is
            cancelled and treated as a retryable ``TimeoutError``. Sync code sets its client's
            own timeouts. ``None``: no timeout.
        backoff: The waits between attempts.
        budget: A :class:`Budget` capping retries at a share of the policy's recent calls;
            when it is spent the policy gives up as when attempts run out. ``None``: no cap.
        hints: Wait at least as long as the server asked (``Retry-After``, gRPC pushback),
            when the classifier finds such a hint.
        max_hint: The longest wait a server's hint may ask for, in seconds.

    Raises:
        TypeError: an argument has the wrong type.
        ValueError: an argument is out of range; the message says what is allowed.
    """

    attempts: int = field(
        default=3,
        metadata=checked("count", "Calls in all, the first included: 1 never retries.", minimum=1),
    )
    deadline: float | None = field(
        default=None,
        metadata=checked(
            "seconds",
            "Seconds the whole call may take, from its start; no sleep is started that would "
            "end past it. null: no deadline.",
            minimum=0,
            exclusive=True,
            nullable=True,
        ),
    )
    attempt_timeout: float | None = field(
        default=None,
        metadata=checked(
            "seconds",
            "Seconds one attempt of an async function may run before it is cancelled and "
            "treated as a retryable TimeoutError. null: no timeout.",
            minimum=0,
            exclusive=True,
            nullable=True,
        ),
    )
    backoff: Backoff = field(
        default_factory=Backoff, metadata=checked("spec", "The waits between attempts.", of=Backoff)
    )
    budget: Budget | None = field(
        default=None,
        metadata=checked(
            "spec",
            "Caps retries at a share of recent calls; none without it.",
            of=Budget,
            nullable=True,
        ),
    )
    hints: bool = field(
        default=True,
        metadata=checked(
            "flag", "Wait at least as long as the server asked (Retry-After, gRPC pushback)."
        ),
    )
    max_hint: float = field(
        default=60.0,
        metadata=checked(
            "seconds", "The longest wait a server's hint may ask for.", minimum=0, exclusive=True
        ),
    )

    if TYPE_CHECKING:  # what the constructor accepts: durations as seconds or timedelta

        def __init__(
            self,
            *,
            attempts: int = ...,
            deadline: float | timedelta | None = ...,
            attempt_timeout: float | timedelta | None = ...,
            backoff: Backoff = ...,
            budget: Budget | None = ...,
            hints: bool = ...,
            max_hint: float | timedelta = ...,
        ) -> None: ...

    def __post_init__(self) -> None:
        check_fields(self)

    def replace(self, **changes: Any) -> Retry:
        """A copy with some fields changed (and checked again)."""
        return replace(self, **changes)


def _queue_backoff() -> Backoff:
    return Backoff(initial=0.5, maximum=5.0, jitter="equal")


@dataclass(frozen=True, slots=True, kw_only=True)
class Queue:
    """What a policy does with queue-related failures (a client's offline queue is full or
    disabled).

    Args:
        action: ``"fallback"`` (default: use the policy's fallback, or raise without one),
            ``"retry"`` (retry on this spec's own ``attempts`` and ``backoff``, giving the
            queue time to drain) or ``"raise"`` (fail at once).
        attempts: Calls in all for a queue-related failure when ``action="retry"``.
        backoff: The waits between those calls.

    Raises:
        TypeError, ValueError: as :class:`Retry`.
    """

    action: QueueAction = field(
        default="fallback",
        metadata=checked(
            "choice",
            "fallback: use the policy's fallback (raise without one); retry: retry on this "
            "section's attempts and backoff; raise: fail at once.",
            choices=QUEUE_ACTIONS,
        ),
    )
    attempts: int = field(
        default=3,
        metadata=checked("count", "Calls in all for a queue-related failure (retry).", minimum=1),
    )
    backoff: Backoff = field(
        default_factory=_queue_backoff,
        metadata=checked("spec", "The waits between them.", of=Backoff),
    )

    def __post_init__(self) -> None:
        check_fields(self)

    def replace(self, **changes: int | str | Backoff) -> Queue:
        """A copy with some fields changed (and checked again)."""
        return replace(self, **changes)  # type: ignore[arg-type]


_ONCE = Retry(attempts=1)
_QUEUE = Queue()


class Retrying:
    """The live retry element of one policy: plans the next attempt after a failure."""

    __slots__ = ("deadline", "queue", "retry")

    def __init__(self, retry: Retry | None, queue: Queue | None) -> None:
        self.retry = retry or _ONCE
        self.queue = queue or _QUEUE
        self.deadline = self.retry.deadline

    def limit(self, category: Category) -> int:
        """Calls in all the policy allows for failures of ``category``."""
        if category is Category.RETRYABLE:
            return self.retry.attempts
        if category is Category.QUEUE and self.queue.action == "retry":
            return self.queue.attempts
        return 1

    def plan(self, call: Call, category: Category, hint: float | None) -> float | None:
        """The seconds to wait before the next attempt, or ``None`` (``call.why`` says why)."""
        if category is Category.RETRYABLE:
            backoff = self.retry.backoff
        elif category is Category.QUEUE and self.queue.action == "retry":
            backoff = self.queue.backoff
        elif category is Category.QUEUE:
            call.why = f"queue-related: {self.queue.action}"
            return None
        else:
            call.why = f"{category.value}: never retried"
            return None
        if call.attempts >= self.limit(category):
            call.why = "attempts"
            return None
        retries = call.retries[category] = call.retries.get(category, 0) + 1
        delay = backoff.delay(retries, call.previous.get(category))
        call.previous[category] = delay
        if hint is not None and self.retry.hints:
            delay = max(delay, min(hint, self.retry.max_hint))
        deadline = self.deadline
        if deadline is not None and call.elapsed() + delay > deadline:
            call.why = "deadline"
            return None
        return delay
