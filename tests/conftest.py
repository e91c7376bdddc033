"""Shared fixtures: every test starts with no process-wide switch left on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog

from resilience import _state, config


@pytest.fixture(autouse=True)
def _reset_process_state() -> Iterator[None]:
    yield
    while _state.skip_sleeps():
        _state.set_no_wait(False)
    config.reset()


@pytest.fixture(name="events")
def _events() -> Iterator[list[dict[str, object]]]:
    """Every structlog event logged during the test."""
    with structlog.testing.capture_logs() as logs:
        yield logs
