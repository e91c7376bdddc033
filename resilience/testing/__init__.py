"""Testing support: make policies skip their sleeps, keeping their attempt counts; inject
faults and latency into a policy's attempts (:func:`chaos`).

``resilience.testing.no_wait()`` is a context manager (``with`` and ``async with``). The pytest
plugin :mod:`resilience.testing.pytest_plugin`, registered through the ``pytest11`` entry
point so it is there as soon as `resilience` is installed, offers a fixture of the same name::

    def test_gives_up(no_wait):
        ...  # every policy retries at once

The switch is read when a policy is about to sleep, not when it is built, so policies made at
import time obey it too. Breaker time is wall-clock time and moves with freezegun's ``tick``.
"""

from __future__ import annotations

from resilience._state import set_no_wait, skip_sleeps
from resilience.testing.chaos import Chaos, chaos

__all__ = ["Chaos", "chaos", "no_wait", "no_wait_active"]


def no_wait() -> _NoWait:
    """Within this context every policy skips its sleeps but keeps its attempt counts."""
    return _NoWait()


class _NoWait:
    """Context manager (sync and async) behind :func:`no_wait`."""

    def __enter__(self) -> None:
        set_no_wait(True)

    def __exit__(self, *exc: object) -> None:
        set_no_wait(False)

    async def __aenter__(self) -> None:
        set_no_wait(True)

    async def __aexit__(self, *exc: object) -> None:
        set_no_wait(False)


def no_wait_active() -> bool:
    """Whether :func:`no_wait` is in force."""
    return skip_sleeps()
