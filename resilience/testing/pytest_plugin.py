"""The pytest plugin of `resilience` (entry point ``pytest11``): the ``no_wait`` fixture."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from resilience.testing import no_wait as _no_wait

__all__ = ["no_wait"]


@pytest.fixture
def no_wait() -> Iterator[None]:
    """Every policy skips its sleeps (keeping its attempt counts) during the test."""
    with _no_wait():
        yield
