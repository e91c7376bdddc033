"""Shared fixtures: every test starts with no process-wide switch left on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog

from resilience import _state
from resilience.config import process


@pytest.fixture(autouse=True)
def _reset_process_state() -> Iterator[None]:
    yield
    while _state.skip_sleeps():
        _state.set_no_wait(False)
    process.reset()


@pytest.fixture(name="events")
def _events() -> Iterator[list[dict[str, object]]]:
    """Every event logged during the test (capturing configures structlog, so the events go
    through it); structlog is put back as it was, unconfigured if it was."""
    was_configured = structlog.is_configured()
    with structlog.testing.capture_logs() as logs:
        yield logs
    if not was_configured:
        structlog.reset_defaults()
