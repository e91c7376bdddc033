"""The retry specs: how often to try, for how long, and what to do with queue-related errors."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, Literal, get_args

from resilience._validate import check_choice, check_int, check_seconds
from resilience.backoff import Backoff
from resilience.budget import Budget

__all__ = ["Queue", "QueueAction", "Retry"]

QueueAction = Literal["fallback", "retry", "raise"]
QUEUE_ACTIONS: tuple[str, ...] = get_args(QueueAction)


def _check_backoff(value: Any, name: str) -> None:
    if not isinstance(value, Backoff):
        msg = f"{name} must be a Backoff (got {type(value).__name__})"
        raise TypeError(msg)


@dataclass(frozen=True, slots=True, kw_only=True)
class Retry:
    """How a policy retries retryable failures.

    Args:
        attempts: Calls in all, the first included: ``attempts=1`` never retries.
        deadline: Seconds (or a ``timedelta``) the whole loop may take; no sleep is started
            that would end past it. ``None``: no deadline.
        attempt_timeout: Seconds one attempt of an async function may run before it is
            cancelled and treated as a retryable ``TimeoutError``. Sync code sets its client's
            own timeouts. ``None``: no timeout.
        backoff: The waits between attempts.
        budget: A :class:`Budget` capping retries at a share of the policy's recent calls;
            when it is spent the policy gives up as when attempts run out. ``None``: no cap.

    Raises:
        TypeError: an argument has the wrong type.
        ValueError: an argument is out of range; the message says what is allowed.
    """

    attempts: int = 3
    deadline: float | None = None
    attempt_timeout: float | None = None
    backoff: Backoff = field(default_factory=Backoff)
    budget: Budget | None = None

    def __post_init__(self) -> None:
        check_int(self.attempts, "Retry.attempts")
        deadline = check_seconds(self.deadline, "Retry.deadline", allow_zero=False, allow_none=True)
        timeout = check_seconds(
            self.attempt_timeout, "Retry.attempt_timeout", allow_zero=False, allow_none=True
        )
        _check_backoff(self.backoff, "Retry.backoff")
        if self.budget is not None and not isinstance(self.budget, Budget):
            msg = f"Retry.budget must be a Budget or None (got {type(self.budget).__name__})"
            raise TypeError(msg)
        object.__setattr__(self, "deadline", deadline)
        object.__setattr__(self, "attempt_timeout", timeout)

    def replace(self, **changes: int | float | timedelta | Backoff | Budget | None) -> Retry:
        """A copy with some fields changed (and checked again)."""
        return replace(self, **changes)  # type: ignore[arg-type]


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

    action: QueueAction = "fallback"
    attempts: int = 3
    backoff: Backoff = field(default_factory=_queue_backoff)

    def __post_init__(self) -> None:
        check_choice(self.action, "Queue.action", QUEUE_ACTIONS)
        check_int(self.attempts, "Queue.attempts")
        _check_backoff(self.backoff, "Queue.backoff")

    def replace(self, **changes: int | str | Backoff) -> Queue:
        """A copy with some fields changed (and checked again)."""
        return replace(self, **changes)  # type: ignore[arg-type]
