"""Process-wide switches, in one small locked place (testing mode)."""

from __future__ import annotations

import threading

__all__ = ["set_no_wait", "skip_sleeps"]

_lock = threading.Lock()
_no_wait_depth = 0


def skip_sleeps() -> bool:
    """Whether policies skip their sleeps (``resilience.testing.no_wait()`` is active)."""
    return _no_wait_depth > 0


def set_no_wait(active: bool) -> None:
    """Enter (``True``) or leave (``False``) one level of no-wait mode."""
    global _no_wait_depth  # noqa: PLW0603 - the one process-wide switch, behind a lock
    with _lock:
        _no_wait_depth = max(0, _no_wait_depth + (1 if active else -1))
