"""Wall-clock time for breakers: seconds since the epoch.

``time.time()``, unless freezegun has replaced it: freezegun hands ``time.time()`` callers
the real time whenever the call comes from a worker thread (its ignore list names
``threading``), and async callers ask Redis-backed breakers from worker threads, whereas its
``datetime.now()`` is frozen everywhere. A breaker's open time must be the same clock
wherever it is read, so under freezegun it comes from ``datetime``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

__all__ = ["wall"]

#: The real ``time.time``, out of freezegun's reach (it replaces module attributes only).
_REAL = (time.time,)


def wall() -> float:
    """Now, in seconds since the epoch."""
    real = _REAL[0]
    if time.time is real:
        return real()
    return datetime.now(UTC).timestamp()
