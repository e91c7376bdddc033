"""Every event `resilience` logs, in one place.

structlog, logger name ``resilience``, one event per fact, always with ``policy=``. Fields are
flat and JSON-safe: ``attempt``, ``wait`` (rounded), ``category`` (the plain string value),
``error`` (the exception's type name), ``error_message``. The library never configures
structlog; it only asks it for the ``resilience`` logger, so the application's configuration,
and ``structlog.testing.capture_logs()``, see every event.
"""

from __future__ import annotations

from typing import Any

import structlog

__all__ = [
    "breaker_closed",
    "breaker_half_opened",
    "breaker_opened",
    "breaker_rejected",
    "fallback_used",
    "retry_gave_up",
    "retry_scheduled",
]

LOGGER_NAME = "resilience"


def _log() -> Any:
    # Asked for at each event, never at import: the application may configure structlog
    # after importing us, and tests capture logs by reconfiguring it.
    return structlog.get_logger(LOGGER_NAME)


def _error(exc: BaseException) -> dict[str, str]:
    message = str(exc) or str(getattr(exc, "message", "") or "")
    return {"error": type(exc).__name__, "error_message": message[:500]}


def retry_scheduled(
    policy: str, attempt: int, wait: float, category: str, exc: BaseException
) -> None:
    """Attempt ``attempt`` failed; the next one starts after ``wait`` seconds."""
    _log().warning(
        "retry.scheduled",
        policy=policy,
        attempt=attempt,
        wait=round(wait, 3),
        category=category,
        **_error(exc),
    )


def retry_gave_up(
    policy: str, attempts: int, elapsed: float, category: str, exc: BaseException, why: str
) -> None:
    """The policy stopped retrying; ``why`` says what ended it."""
    _log().error(
        "retry.gave_up",
        policy=policy,
        attempts=attempts,
        elapsed=round(elapsed, 3),
        category=category,
        reason=why,
        **_error(exc),
    )


def breaker_opened(
    policy: str, reset_timeout: float, *, failures: int | None = None, trial: bool = False
) -> None:
    """The circuit opened: after ``failures`` in a row, or a failed half-open trial."""
    _log().error(
        "breaker.opened",
        policy=policy,
        failures=failures,
        trial=trial,
        reset_timeout=reset_timeout,
    )


def breaker_half_opened(policy: str) -> None:
    """The open circuit's timeout elapsed; trial calls may go through."""
    _log().info("breaker.half_opened", policy=policy)


def breaker_closed(policy: str) -> None:
    """Enough trial calls succeeded; the circuit is closed again."""
    _log().info("breaker.closed", policy=policy)


def breaker_rejected(policy: str, remaining: float) -> None:
    """A call was refused by the open (or busy half-open) circuit."""
    _log().info("breaker.rejected", policy=policy, remaining=round(remaining, 3))


def fallback_used(policy: str, category: str, exc: BaseException) -> None:
    """The fallback ran in place of the call."""
    _log().warning("fallback.used", policy=policy, category=category, **_error(exc))
