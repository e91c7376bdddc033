"""Where events go: structlog once the application configured it (an assembled logger reused
only while that configuration stays the same), else the standard ``logging`` logger."""

from __future__ import annotations

import logging
from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from resilience.observe import events


@pytest.fixture(autouse=True)
def _restore_structlog() -> Iterator[None]:
    was_configured = structlog.is_configured()
    saved = structlog.get_config()
    yield
    if was_configured:
        structlog.configure(**saved)
    else:
        structlog.reset_defaults()


def _recorder(into: list[str]) -> Any:
    def record(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> Any:
        into.append(event_dict["event"])
        return event_dict

    return record


def _configure(into: list[str], level: int = logging.DEBUG) -> None:
    structlog.configure(
        processors=[_recorder(into), structlog.processors.KeyValueRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.ReturnLoggerFactory(),
        cache_logger_on_first_use=True,
    )


def test_a_cached_logger_follows_every_reconfiguration() -> None:
    first: list[str] = []
    _configure(first)
    events.emit(logging.INFO, "breaker.closed", policy="p")
    events.emit(logging.INFO, "breaker.closed", policy="p")
    assert first == ["breaker.closed", "breaker.closed"]

    with capture_logs() as captured:
        events.emit(logging.INFO, "breaker.half_opened", policy="p")
    assert [e["event"] for e in captured] == ["breaker.half_opened"]
    assert first == ["breaker.closed", "breaker.closed"]

    events.emit(logging.INFO, "breaker.closed", policy="p")
    assert first[-1] == "breaker.closed"
    assert len(first) == 3

    second: list[str] = []
    _configure(second, level=logging.WARNING)
    events.emit(
        logging.INFO, "breaker.closed", policy="p"
    )  # info: filtered by the new wrapper class
    events.emit(logging.WARNING, "retry.scheduled", policy="p", attempt=1)
    assert second == ["retry.scheduled"]
    assert len(first) == 3


def test_capture_logs_sees_events_logged_before_and_after() -> None:
    seen: list[str] = []
    _configure(seen)
    events.emit(logging.INFO, "breaker.closed", policy="p")
    for _ in range(2):
        with capture_logs() as captured:
            events.rejected("p", 3)
        assert captured == [
            {"event": "breaker.rejected", "policy": "p", "rejected": 3, "log_level": "warning"}
        ]
    assert seen == ["breaker.closed"]


def test_without_structlog_configured_events_go_to_logging(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    structlog.reset_defaults()
    with caplog.at_level(logging.INFO, logger="resilience"):
        events.emit(logging.INFO, "breaker.closed", policy="orders api")
        events.emit(logging.DEBUG, "breaker.debug", policy="p")  # below the level: dropped
    (record,) = caplog.records
    assert record.name == "resilience"
    assert record.levelno == logging.INFO
    assert record.getMessage() == "breaker.closed policy='orders api'"
    assert record.resilience == {"event": "breaker.closed", "policy": "orders api"}  # type: ignore[attr-defined]
    assert capsys.readouterr().out == ""  # never stdout
