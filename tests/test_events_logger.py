"""Events reuse an assembled logger only while structlog's configuration stays the same."""

from __future__ import annotations

import logging
from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from resilience import events


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
    events.breaker_closed("p")
    events.breaker_closed("p")
    assert first == ["breaker.closed", "breaker.closed"]

    with capture_logs() as captured:
        events.breaker_half_opened("p")
    assert [e["event"] for e in captured] == ["breaker.half_opened"]
    assert first == ["breaker.closed", "breaker.closed"]

    events.breaker_closed("p")
    assert first[-1] == "breaker.closed"
    assert len(first) == 3

    second: list[str] = []
    _configure(second, level=logging.WARNING)
    events.breaker_closed("p")  # info: filtered by the new wrapper class
    events.retry_scheduled("p", 1, 0.5, "retryable", ConnectionError("reset"))
    assert second == ["retry.scheduled"]
    assert len(first) == 3


def test_capture_logs_sees_events_logged_before_and_after() -> None:
    seen: list[str] = []
    _configure(seen)
    events.breaker_closed("p")
    for _ in range(2):
        with capture_logs() as captured:
            events.breaker_rejected("p", 1.23456)
        assert captured == [
            {"event": "breaker.rejected", "policy": "p", "remaining": 1.235, "log_level": "debug"}
        ]
    assert seen == ["breaker.closed"]


def test_without_caching_every_event_uses_the_current_output(
    capsys: pytest.CaptureFixture[str],
) -> None:
    structlog.reset_defaults()  # prints to the sys.stdout of the moment; nothing is cached
    events.breaker_closed("first")
    assert "breaker.closed" in capsys.readouterr().out
    events.breaker_closed("second")
    assert "second" in capsys.readouterr().out
