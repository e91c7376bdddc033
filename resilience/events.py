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
    "retry_budget_exhausted",
    "retry_gave_up",
    "retry_scheduled",
    "storage_restored",
    "storage_unavailable",
]

LOGGER_NAME = "resilience"


#: The assembled logger, after the configuration it was assembled from (by identity).
_cached: tuple[Any, Any, Any, Any, Any] | None = None


def _log() -> Any:
    # Read the configuration at each event, never at import: the application may configure
    # structlog after importing us, and tests capture logs by reconfiguring it. Assembling
    # a logger costs more than many a filtered event, so when the application lets structlog
    # cache loggers (cache_logger_on_first_use), keep the one assembled for the current
    # configuration; any configure() (or capture_logs()) that swaps a piece makes a new one.
    global _cached  # noqa: PLW0603 - a cache, keyed on the configuration it depends on
    config = structlog.get_config()
    if not config["cache_logger_on_first_use"]:
        return structlog.get_logger(LOGGER_NAME)
    processors = config["processors"]
    wrapper = config["wrapper_class"]
    context = config["context_class"]
    factory = config["logger_factory"]
    cached = _cached
    if (
        cached is not None
        and cached[0] is processors
        and cached[1] is wrapper
        and cached[2] is context
        and cached[3] is factory
    ):
        return cached[4]
    logger = structlog.get_logger(LOGGER_NAME).bind()
    _cached = (processors, wrapper, context, factory, logger)
    return logger


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
    """A call was refused by the open (or busy half-open) circuit.

    At debug level: during an outage every call is refused, and a line per call would flood
    the log when it matters most (and cost more than the refusal). ``breaker.opened`` says
    the circuit is open and for how long; each caller gets a ``CircuitOpenError``.
    """
    _log().debug("breaker.rejected", policy=policy, remaining=round(remaining, 3))


def fallback_used(policy: str, category: str, exc: BaseException) -> None:
    """The fallback ran in place of the call."""
    _log().warning("fallback.used", policy=policy, category=category, **_error(exc))


def retry_budget_exhausted(
    policy: str, attempt: int, category: str, exc: BaseException, ratio: float
) -> None:
    """A retry was refused: retries already take the policy's share of recent calls."""
    _log().warning(
        "retry.budget_exhausted",
        policy=policy,
        attempt=attempt,
        category=category,
        ratio=ratio,
        **_error(exc),
    )


def storage_unavailable(
    policy: str, component: str, storage: str, error: str, message: str, retry_in: float
) -> None:
    """Redis can't be used; noticed by ``component`` (``breaker``, ``budget``) of ``policy``.

    Every policy using it goes on in process until it answers again. ``storage`` is the
    masked URL and ``message`` the scrubbed error: no password.
    """
    _log().warning(
        "breaker.storage_unavailable",
        policy=policy,
        component=component,
        storage=storage,
        error=error,
        error_message=message[:500],
        retry_in=round(retry_in, 3),
    )


def storage_restored(policy: str, component: str, storage: str) -> None:
    """Redis answers again: breakers and budgets go back to the state shared there."""
    _log().info("breaker.storage_restored", policy=policy, component=component, storage=storage)
