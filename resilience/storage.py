"""Where breaker state lives beyond one process: Redis, through pybreaker's storage."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pybreaker

__all__ = ["RedisStorage", "mask_url"]

_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@]*:)(?P<secret>[^@]*)(?P<tail>@)", re.I)


def mask_url(url: str) -> str:
    """``redis://user:secret@host/0`` -> ``redis://user:***@host/0``: never log a password."""
    return _PASSWORD.sub(r"\g<head>***\g<tail>", url)


@dataclass(frozen=True, slots=True, kw_only=True)
class RedisStorage:
    """Breaker state in Redis, shared by every process using the same namespace.

    Args:
        url: ``redis://[user:password@]host:port/db``.
        namespace: Prefix of the keys; each policy's circuit lives under
            ``<namespace>:<policy name>``.
    """

    url: str
    namespace: str = "resilience"

    def __post_init__(self) -> None:
        if not isinstance(self.url, str) or "://" not in self.url:
            msg = f"RedisStorage.url must be a redis:// URL (got {self.url!r})"
            raise ValueError(msg)
        if not isinstance(self.namespace, str) or not self.namespace:
            msg = f"RedisStorage.namespace must be a non-empty string (got {self.namespace!r})"
            raise ValueError(msg)

    def __repr__(self) -> str:
        return f"RedisStorage(url={mask_url(self.url)!r}, namespace={self.namespace!r})"

    def create(self, name: str) -> pybreaker.CircuitBreakerStorage:
        """A pybreaker Redis storage for the circuit of the policy called ``name``."""
        import redis  # noqa: PLC0415 - optional dependency, only needed with Redis storage

        client: Any = redis.Redis.from_url(self.url)
        return pybreaker.CircuitRedisStorage(
            pybreaker.STATE_CLOSED, client, namespace=f"{self.namespace}:{name}"
        )
