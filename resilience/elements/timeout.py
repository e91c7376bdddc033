"""Attempt timeout (async functions only): an attempt that runs too long is cancelled.

The attempt then fails with :class:`AttemptTimeout`, a ``TimeoutError`` that is always
retryable, whatever the classifier says of other timeouts. Sync code can't be cancelled
from outside; it sets its client's own timeouts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

__all__ = ["AttemptTimeout", "Timeout"]

T = TypeVar("T")


class AttemptTimeout(TimeoutError):
    """An attempt of an async function ran longer than ``Retry.attempt_timeout`` and was
    cancelled. Always retryable, whatever the classifier says of other timeouts."""


class Timeout:
    """The live attempt timeout of one policy: wraps each attempt of an async function."""

    __slots__ = ("policy", "seconds")

    def __init__(self, seconds: float, policy: str) -> None:
        self.seconds = seconds
        self.policy = policy

    def wrap_async(self, fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
        """``fn``, each of whose calls is cancelled after ``seconds`` (as AttemptTimeout)."""
        import asyncio  # noqa: PLC0415 - only async functions have attempt timeouts

        seconds, policy = self.seconds, self.policy

        async def attempt(*args: Any, **kwargs: Any) -> T:
            deadline = asyncio.timeout(seconds)
            try:
                async with deadline:
                    return await fn(*args, **kwargs)
            except TimeoutError as exc:
                if not deadline.expired():
                    raise  # the function's own timeout, not ours
                msg = f"attempt of policy {policy!r} ran longer than {seconds} s and was cancelled"
                raise AttemptTimeout(msg) from exc

        return attempt
