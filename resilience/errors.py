"""The exceptions `resilience` raises itself.

::

    Exception
    └── ResilienceError
        ├── ConfigError            a policy file or rule is wrong (names file, line, key path)
        ├── CircuitOpenError       also a pybreaker.CircuitBreakerError: a call was refused
        │                          because the circuit is open
        ├── ConcurrencyLimitError  a call was refused because ``Concurrency.limit`` calls
        │                          were in flight for ``max_wait`` seconds
        └── RateLimitedError       a call was refused by the rate limit; carries the seconds
                                   to wait (``retry_after``)

The three refusals are never retried by the policy that refused them and always handed to
its fallback when it has one. A refusal by a policy nested inside another one's function is,
for the outer policy, a failure like any other (see :mod:`resilience.catalogs.refusals`).

Failures of the functions a policy wraps are never wrapped: when retries run out, the original
exception propagates with a note saying which policy gave up, after how many attempts. (An
attempt that runs longer than ``Retry.attempt_timeout`` fails with ``AttemptTimeout``, a
``TimeoutError``, see :mod:`resilience.elements.timeout`.)

``CircuitOpenError`` is made at its first use: it subclasses pybreaker's error, and importing
pybreaker imports redis whenever redis is installed, which would cost every
``import resilience`` a tenth of a second.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

__all__ = [
    "CircuitOpenError",
    "ConcurrencyLimitError",
    "ConfigError",
    "RateLimitedError",
    "ResilienceError",
    "circuit_open_error",
]


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


class ConcurrencyLimitError(ResilienceError):
    """A call was refused because the policy's ``Concurrency.limit`` calls were in flight and
    none ended within ``max_wait`` seconds. Never retried by that policy; always handed to its
    fallback when there is one.

    Built as ``ConcurrencyLimitError(policy, limit, max_wait)``; the message is written when
    read (a refusal is on the path of every call refused under load).

    Attributes:
        policy: The name of the policy that refused the call.
        limit: The calls allowed at once.
        max_wait: The seconds the call waited for a slot.
    """

    @property
    def policy(self) -> str:
        """The name of the policy that refused the call."""
        return cast(str, self.args[0])

    @property
    def limit(self) -> int:
        """The calls allowed at once."""
        return cast(int, self.args[1])

    @property
    def max_wait(self) -> float:
        """The seconds the call waited for a slot."""
        return cast(float, self.args[2])

    def __str__(self) -> str:
        waited = f" for {self.max_wait:g} s" if self.max_wait > 0 else ""
        return (
            f"policy {self.policy!r} refused the call: its {self.limit} concurrent calls were "
            f"all in flight{waited}"
        )


class RateLimitedError(ResilienceError):
    """A call was refused by the policy's rate limit. Never retried by that policy; always
    handed to its fallback when there is one.

    Built as ``RateLimitedError(policy, retry_after)``; the message is written when read.

    Attributes:
        policy: The name of the policy that refused the call.
        retry_after: Seconds until the limit lets a call through again.
    """

    @property
    def policy(self) -> str:
        """The name of the policy that refused the call."""
        return cast(str, self.args[0])

    @property
    def retry_after(self) -> float:
        """Seconds until the limit lets a call through again."""
        return max(0.0, cast(float, self.args[1]))

    def __str__(self) -> str:
        return (
            f"policy {self.policy!r} is rate limited; the next call may go through in "
            f"{self.retry_after:.3g} s"
        )


_made: list[type[Any]] = []


def circuit_open_error() -> type[CircuitOpenError]:
    """The :class:`CircuitOpenError` class (made, with pybreaker imported, at first use)."""
    if not _made:
        import pybreaker  # noqa: PLC0415 - see the module docstring

        namespace = {"__doc__": _CircuitOpen.__doc__, "__module__": __name__}
        bases = (_CircuitOpen, pybreaker.CircuitBreakerError)
        _made.append(type("CircuitOpenError", bases, namespace))
    made: type[CircuitOpenError] = _made[0]
    return made


def __getattr__(name: str) -> Any:
    if name == "CircuitOpenError":
        return circuit_open_error()
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


class _CircuitOpen(ResilienceError):
    """A call was refused because the policy's circuit is open (or its half-open trial
    calls are all in flight). Never retried by that policy; always handed to its fallback
    when there is one.

    Built as ``CircuitOpenError(policy, remaining)``; both stay in ``args`` alone, and the
    message is written when read: during an outage every call is refused, and an instance
    dict or a formatted float would cost more than the rest of the refusal.

    Attributes:
        policy: The name of the policy whose circuit refused the call.
        remaining: Seconds until the circuit half-opens (0 while half-open).
    """

    @property
    def policy(self) -> str:
        """The name of the policy whose circuit refused the call."""
        return cast(str, self.args[0])

    @property
    def remaining(self) -> float:
        """Seconds until the circuit half-opens (0 while half-open)."""
        return max(0.0, cast(float, self.args[1]))

    def __str__(self) -> str:
        if self.remaining > 0:
            return (
                f"circuit of policy {self.policy!r} is open; "
                f"it half-opens in {self.remaining:.1f} s"
            )
        return f"circuit of policy {self.policy!r} is half-open and its trial calls are in flight"


if TYPE_CHECKING:
    import pybreaker

    class CircuitOpenError(_CircuitOpen, pybreaker.CircuitBreakerError):
        """A call was refused because the policy's circuit is open."""
