"""Fallbacks named by examples/policies.yaml (``myapp.fallbacks:...``).

A fallback receives the arguments of the call it replaces, and the failure too when it has a
parameter named ``exception``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["cached_incidents", "connect_direct", "store_for_later"]

_OUTBOX: list[tuple[str, bytes]] = []


def connect_direct(
    thing_name: str, *args: Any, exception: BaseException, **kwargs: Any
) -> dict[str, Any]:
    """Greengrass discovery failed for good: connect straight to the AWS IoT endpoint."""
    return {"thing": thing_name, "endpoint": "direct", "reason": type(exception).__name__}


def store_for_later(topic: str, payload: bytes, *args: Any, **kwargs: Any) -> None:
    """The client's offline queue is full or the broker is away: keep the message here."""
    _OUTBOX.append((topic, payload))


def cached_incidents(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """The DevOps Agent API is unavailable: answer from the last known state (none here)."""
    return []
