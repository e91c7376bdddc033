"""The default listener: every event as one log line, through structlog or ``logging``.

Where the lines go is decided at each event, never at import: when the application has
configured structlog (``structlog.is_configured()``), through
``structlog.get_logger("resilience")``, so its processors and ``capture_logs()`` see them;
otherwise through the standard ``logging`` logger ``resilience``, so the application's
``logging`` configuration decides (levels, handlers; with none, Python's own last-resort
handler prints warnings and errors on stderr). The library never writes to stdout and never
configures either.

Events (always with ``policy=``; fields flat and JSON-safe, no secrets): ``retry.scheduled``,
``retry.gave_up``, ``breaker.opened``, ``breaker.half_opened``, ``breaker.closed``,
``breaker.rejected``, ``fallback.used``, ``budget.exhausted``, ``storage.unavailable``,
``storage.restored``, ``listener.failed``. ``error`` is the exception's type name and
``error_message`` its message (at most 500 characters).

Refused calls are counted, not logged one by one: ``breaker.rejected`` (``rejected=N``) comes
when the circuit leaves the open state, and at most once a minute while it stays open.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from resilience.categories import Category
    from resilience.observe import StateChanged

__all__ = [
    "LOGGER_NAME",
    "budget_exhausted",
    "emit",
    "enabled",
    "fallback_used",
    "gave_up",
    "listener_failed",
    "rejected",
    "retry_scheduled",
    "state_changed",
    "storage_restored",
    "storage_unavailable",
]

#: Give-up reasons that end a retrying loop (the others say a failure is never retried).
_RETRY_ENDS = ("attempts", "deadline", "budget", "circuit opened")

LOGGER_NAME = "resilience"

# The standard logging levels, without importing logging until an event needs it.
DEBUG, INFO, WARNING, ERROR = 10, 20, 30, 40
_NAMES = {DEBUG: "debug", INFO: "info", WARNING: "warning", ERROR: "error"}

#: The standard ``logging`` logger, looked up at the first event that goes there.
_loggers: list[Any] = []


def _standard() -> Any:
    if not _loggers:
        import logging  # noqa: PLC0415 - see above

        _loggers.append(logging.getLogger(LOGGER_NAME))
    return _loggers[0]


#: The assembled structlog logger, after the configuration it was assembled from.
_cached: tuple[Any, Any, Any, Any, Any] | None = None


def _structlog() -> Any:
    """The ``resilience`` structlog logger when the application configured structlog."""
    module = sys.modules.get("structlog")  # never imported here: an application that did
    if module is None or not module.is_configured():  # not import it did not configure it
        return None
    global _cached  # noqa: PLW0603 - a cache, keyed on the configuration it depends on
    config = module.get_config()
    if not config["cache_logger_on_first_use"]:
        return module.get_logger(LOGGER_NAME)
    # Assembling a logger costs more than a filtered event: keep the one assembled for the
    # current configuration; any configure() that swaps a piece makes a new one.
    pieces = (
        config["processors"],
        config["wrapper_class"],
        config["context_class"],
        config["logger_factory"],
    )
    cached = _cached
    if cached is not None and all(a is b for a, b in zip(cached[:4], pieces, strict=True)):
        return cached[4]
    logger = module.get_logger(LOGGER_NAME).bind()
    _cached = (*pieces, logger)
    return logger


def enabled(level: int) -> bool:
    """Whether an event at ``level`` would be logged (so its fields are worth building)."""
    structured = _structlog()
    if structured is not None:
        check = getattr(structured, "is_enabled_for", None)
        return True if check is None else bool(check(level))
    return bool(_standard().isEnabledFor(level))


def _text(value: object) -> str:
    return repr(value) if isinstance(value, str) and (" " in value or not value) else str(value)


def emit(level: int, event: str, **fields: Any) -> None:
    """Log ``event`` with its fields at ``level`` (a ``logging`` level)."""
    structured = _structlog()
    if structured is not None:
        getattr(structured, _NAMES[level])(event, **fields)
        return
    logger = _standard()
    if not logger.isEnabledFor(level):
        return
    line = " ".join(f"{key}={_text(value)}" for key, value in fields.items())
    logger.log(level, "%s %s", event, line, extra={"resilience": {"event": event, **fields}})


def _error(exc: BaseException) -> dict[str, str]:
    try:
        message = str(exc) or str(getattr(exc, "message", "") or "")
    except Exception:  # noqa: BLE001 - a foreign __str__ that fails must not break a call
        message = "<unprintable>"
    return {"error": type(exc).__name__, "error_message": message[:500]}


def retry_scheduled(
    policy: str, attempt: int, wait: float, category: Category, exc: BaseException
) -> None:
    """Attempt ``attempt`` failed; the next one starts after ``wait`` seconds. At debug
    level: during an outage every call retries, and a line per retry would flood the log
    (count retries with ``policy.stats()`` or the OpenTelemetry listener)."""
    if enabled(DEBUG):
        emit(
            DEBUG,
            "retry.scheduled",
            policy=policy,
            attempt=attempt,
            wait=round(wait, 3),
            category=category.value,
            **_error(exc),
        )


def gave_up(
    policy: str,
    attempts: int,
    elapsed: float,
    category: Category,
    exc: BaseException,
    reason: str,
    retrying: bool,
) -> None:
    """A retrying policy stopped retrying a call (attempts, deadline, budget, circuit)."""
    # A policy that never retries gives up on every failure, and a failure that is never
    # retried says it all itself: neither is news.
    if retrying and reason in _RETRY_ENDS and enabled(ERROR):
        emit(
            ERROR,
            "retry.gave_up",
            policy=policy,
            attempts=attempts,
            elapsed=round(elapsed, 3),
            category=category.value,
            reason=reason,
            **_error(exc),
        )


def state_changed(event: StateChanged) -> None:
    """A circuit changed state: ``breaker.opened``, ``.half_opened`` or ``.closed`` (with the
    refusals counted while it was open, as ``breaker.rejected``, first)."""
    if event.new == "open":
        fields: dict[str, Any] = {"reset_timeout": event.reset_timeout}
        if event.trial:
            fields["cause"] = "half-open trial failed"
        else:
            fields["failures"] = event.failures
        if event.failure_rate is not None:
            fields["failure_rate"] = round(event.failure_rate, 4)
        if event.slow_call_rate is not None:
            fields["slow_call_rate"] = round(event.slow_call_rate, 4)
        emit(ERROR, "breaker.opened", policy=event.policy, **fields)
        return
    if event.rejected:
        rejected(event.policy, event.rejected)
    name = "breaker.half_opened" if event.new == "half-open" else "breaker.closed"
    emit(INFO, name, policy=event.policy)


def fallback_used(policy: str, category: Category | None, exc: BaseException) -> None:
    """The fallback answered in place of the call (``category`` ``None``: it was refused)."""
    if enabled(WARNING):
        emit(
            WARNING,
            "fallback.used",
            policy=policy,
            category=category.value if category is not None else "refused",
            **_error(exc),
        )


def rejected(policy: str, count: int) -> None:
    """``count`` calls were refused since the last such event."""
    emit(WARNING, "breaker.rejected", policy=policy, rejected=count)


def budget_exhausted(policy: str, attempt: int, ratio: float, exc: BaseException) -> None:
    """A retry was refused: retries already take the policy's share of recent calls."""
    emit(
        WARNING,
        "budget.exhausted",
        policy=policy,
        attempt=attempt,
        category="retryable",  # only retryable failures spend a budget
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
    emit(
        WARNING,
        "storage.unavailable",
        policy=policy,
        component=component,
        storage=storage,
        error=error,
        error_message=message[:500],
        retry_in=round(retry_in, 3),
    )


def storage_restored(policy: str, component: str, storage: str) -> None:
    """Redis answers again: breakers and budgets go back to the state shared there."""
    emit(INFO, "storage.restored", policy=policy, component=component, storage=storage)


def listener_failed(listener: str, method: str, exc: Exception) -> None:
    """A listener raised (reported once per listener; the call went on)."""
    emit(ERROR, "listener.failed", listener=listener, method=method, **_error(exc))
