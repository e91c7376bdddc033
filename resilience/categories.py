"""The four answers to "should this failure be retried?"."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Category"]


class Category(StrEnum):
    """What a failure means for the caller, and so what a policy does with it.

    Only ``RETRYABLE`` failures say something about the health of the remote side, so only
    they are retried on the main backoff and only they count toward a circuit breaker.
    """

    RETRYABLE = "retryable"
    """Transient: timeouts, throttling, connection loss, 5xx. Retried with backoff."""

    AUTH = "auth"
    """Authentication or authorization refused. Never retried: the answer won't change."""

    QUEUE = "queue"
    """A client-side queue is full or disabled. Handled by the policy's ``queue.action``."""

    PERMANENT = "permanent"
    """Anything else that retrying cannot fix: bad input, missing resources, misconfiguration."""

    @classmethod
    def parse(cls, value: object, *, where: str = "category") -> Category:
        """Turn a ``Category`` or its string value into a ``Category``.

        Args:
            value: A ``Category`` or one of ``"retryable"``, ``"auth"``, ``"queue"``,
                ``"permanent"`` (any case).
            where: What is being parsed, for the error message.

        Raises:
            ValueError: ``value`` names no category.
        """
        if isinstance(value, Category):
            return value
        if isinstance(value, str):
            try:
                return cls(value.strip().lower())
            except ValueError:
                pass
        allowed = ", ".join(repr(c.value) for c in cls)
        msg = f"{where}: expected one of {allowed}, got {value!r}"
        raise ValueError(msg)
