"""Worker processes of the shared rate limit test: each builds its own policy on one Redis.

Started fresh (forkserver), as a fleet's workers are separate programs; kept small, since
it is what they import.
"""

from __future__ import annotations

import time
from typing import Any

from resilience import Policy, RateLimit, RateLimitedError, RedisStorage


def hammer(url: str, namespace: str, rate: float, burst: int, go: Any, until: Any) -> int:
    """Once ``go`` is set, try a call every millisecond until the wall-clock time ``until``
    holds; return how many the shared limit let through."""
    storage = RedisStorage(url=url, namespace=namespace)
    policy = Policy("shared", rate_limit=RateLimit(rate=rate, burst=burst, storage=storage))
    call = policy(lambda: None)
    go.wait(30)
    end = until.value
    passed = 0
    while time.time() < end:
        try:
            call()
            passed += 1
        except RateLimitedError:
            pass
        time.sleep(0.001)  # a caller's pace, not a spin: the machine is shared
    return passed
