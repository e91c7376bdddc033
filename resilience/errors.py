"""The exceptions `resilience` raises itself.

::

    Exception
    └── ResilienceError
        ├── ConfigError            a policy file or rule is wrong (names file, line, key path)
        └── CircuitOpenError       also a pybreaker.CircuitBreakerError: a call was refused
                                   because the circuit is open; never retried

Failures of the functions a policy wraps are never wrapped: when retries run out, the original
exception propagates with a note saying which policy gave up, after how many attempts.
"""

from __future__ import annotations

from typing import cast

import pybreaker

__all__ = ["CircuitOpenError", "ConfigError", "ResilienceError"]


class ResilienceError(Exception):
    """Base class of every exception `resilience` raises itself."""


class ConfigError(ResilienceError):
    """A policy file, or a rule in it, is wrong.

    The message names the file, the line and the key path, what was expected and what was
    found: ``policies.iot-publish.retry.attempts: expected a positive integer, got 'three'
    (policies.yaml, line 14)``.

    Attributes:
        path: The key path, e.g. ``policies.iot-publish.retry.attempts`` (``""`` for the
            whole document).
        source: The file name, or ``"<string>"``.
        line: The 1-based line, when known.
    """

    def __init__(
        self, message: str, *, path: str = "", source: str | None = None, line: int | None = None
    ) -> None:
        self.path = path
        self.source = source
        self.line = line
        self.detail = message
        where = []
        if source:
            where.append(source)
        if line is not None:
            where.append(f"line {line}")
        text = f"{path}: {message}" if path else message
        if where:
            text += f" ({', '.join(where)})"
        super().__init__(text)


class CircuitOpenError(ResilienceError, pybreaker.CircuitBreakerError):
    """A call was refused because the policy's circuit is open (or its half-open trial
    calls are all in flight). Never retried; always handed to the fallback when there is one.

    Attributes:
        policy: The name of the policy whose circuit refused the call.
        remaining: Seconds until the circuit half-opens (0 while half-open).
    """

    def __init__(self, policy: str, remaining: float) -> None:
        # Kept in ``args`` alone, and the message written when read: during an outage every
        # call is refused, and an instance dict and a formatted float would cost more than
        # the rest of the refusal.
        super().__init__(policy, remaining if remaining > 0 else 0.0)

    @property
    def policy(self) -> str:
        """The name of the policy whose circuit refused the call."""
        return cast(str, self.args[0])

    @property
    def remaining(self) -> float:
        """Seconds until the circuit half-opens (0 while half-open)."""
        return cast(float, self.args[1])

    def __str__(self) -> str:
        if self.remaining > 0:
            return (
                f"circuit of policy {self.policy!r} is open; "
                f"it half-opens in {self.remaining:.1f} s"
            )
        return f"circuit of policy {self.policy!r} is half-open and its trial calls are in flight"

    def __reduce__(self) -> tuple[type[CircuitOpenError], tuple[str, float]]:
        return (type(self), (self.policy, self.remaining))
