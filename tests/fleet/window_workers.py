"""Worker processes of the shared failure-rate window tests: each builds its own policy."""

from __future__ import annotations

from typing import Any

from resilience import Breaker, CircuitOpenError, Policy, RedisStorage


def work(index: int, url: str, namespace: str, commands: Any, results: Any) -> None:
    """Run commands until ``"stop"``: ``"fail"``, ``"ok"`` (one call each), ``"flush"``
    (send the counted outcomes to Redis); report ``(index, outcome, state)``."""
    storage = RedisStorage(url=url, namespace=namespace)
    breaker = Breaker(failure_rate=0.5, window=1000, min_calls=30, storage=storage)
    policy = Policy("fleet-rate", breaker=breaker)
    results.put((index, "ready", policy.breaker_state))
    while (command := commands.get()) != "stop":
        if command == "flush":
            policy._breaker.store.flush()  # type: ignore[union-attr]
            results.put((index, "flushed", policy.breaker_state))
            continue

        def service(command: str = command) -> str:
            if command == "fail":
                raise ConnectionRefusedError("the service is down")
            return "ok"

        try:
            outcome = policy.call(service)
        except CircuitOpenError:
            outcome = "refused"
        except ConnectionError:
            outcome = "failed"
        results.put((index, outcome, policy.breaker_state))
