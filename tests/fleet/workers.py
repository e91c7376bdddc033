"""Worker processes of the fleet tests: each builds its own policy and obeys commands.

Started fresh (forkserver, not forked from pytest), as a fleet's workers are separate
programs; this module is what they import, so it stays small.
"""

from __future__ import annotations

from typing import Any

from resilience import Breaker, CircuitOpenError, Policy, RedisStorage


def work(
    index: int,
    url: str,
    namespace: str,
    half_open_calls: int,
    commands: Any,
    results: Any,
    go: Any,
) -> None:
    """Run commands until ``"stop"``: ``"fail"``, ``"ok"``, ``"wait"`` (a call that waits
    for ``go``), or ``"refresh"`` or ``"state"``; report ``(index, outcome, whether the service was
    reached)``."""
    storage = RedisStorage(url=url, namespace=namespace)
    breaker = Breaker(fail_max=3, reset_timeout=30.0, half_open_calls=half_open_calls)
    policy = Policy("fleet", breaker=breaker.replace(storage=storage))
    results.put((index, "ready", False))
    while (command := commands.get()) != "stop":
        if command == "refresh":  # re-read Redis now (the test edited it by hand)
            storage.link().refresh()
            results.put((index, "refreshed", False))
            continue
        if command == "state":  # as this process knows it; and whether it listens
            results.put((index, policy.breaker_state, storage.link().watch.synced))
            continue
        reached: list[bool] = []

        def service(command: str = command, reached: list[bool] = reached) -> str:
            reached.append(True)
            if command == "fail":
                raise ConnectionRefusedError("the service is down")
            if command == "wait":
                go.wait(10)
            return "ok"

        try:
            outcome = policy.call(service)
        except CircuitOpenError:
            outcome = "refused"
        except ConnectionError:
            outcome = "failed"
        results.put((index, outcome, bool(reached)))
