"""Rate limit: at most ``rate`` calls every ``per`` seconds, in bursts of at most ``burst``.

``RateLimit(rate, per=1.0, burst=None, max_wait=0.0, storage=None)`` is a token bucket
(resilience4j's ``RateLimiter``, Polly's token-bucket limiter): ``burst`` tokens, refilled at
``rate / per`` a second, one per attempt. An attempt that finds the bucket empty waits for its
token when that comes within ``max_wait`` seconds (the token is reserved at once, so waiting
calls go in order), else it is refused with :class:`~resilience.RateLimitedError`, carrying
the seconds to wait; the policy never retries it and always hands it to its fallback.

The wait is a sleep like a retry's backoff: ``time.sleep`` or ``asyncio.sleep`` (the event
loop runs on), skipped under :func:`resilience.testing.no_wait`. Every attempt takes a token,
retries included: the limit protects the remote side, which sees each of them.

The bucket lives in this process, or in Redis for a fleet (``storage=RedisStorage(...)``,
:mod:`resilience.stores.redis_limits`), where the limit holds for every process together.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

from resilience._atomic import Counter
from resilience._spec import SpecTypeError, check_fields, checked
from resilience._state import skip_sleeps
from resilience.errors import RateLimitedError
from resilience.stores.buckets import TokenBucket

if TYPE_CHECKING:
    from resilience.categories import Category
    from resilience.observe import Observer
    from resilience.stores.redis import RedisStorage

__all__ = ["RateLimit", "RateLimiter", "WaitingRateLimiter"]


class _Bucket(Protocol):
    @property
    def remote(self) -> bool: ...  # pragma: no cover

    def take(self, max_wait: float) -> float: ...  # pragma: no cover


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimit:
    """How often a policy's attempts may start: a token bucket.

    Args:
        rate: Attempts allowed every ``per`` seconds.
        per: The period, in seconds (or a ``timedelta``).
        burst: Attempts allowed at once after a quiet spell (the bucket's size); ``None``:
            ``rate`` rounded down, at least 1.
        max_wait: Seconds (or a ``timedelta``) an attempt may wait for its token before it
            is refused with ``RateLimitedError``; ``0`` refuses at once.
        storage: ``None`` limits this process; a ``RedisStorage`` limits every process using
            the same namespace and policy name, together.

    Raises:
        TypeError: an argument has the wrong type.
        ValueError: an argument is out of range; the message says what is allowed.
    """

    rate: float = field(
        metadata=checked(
            "number", "Attempts allowed every `per` seconds.", minimum=0, exclusive=True
        ),
    )
    per: float = field(
        default=1.0,
        metadata=checked("seconds", "The period, in seconds.", minimum=0, exclusive=True),
    )
    burst: int | None = field(
        default=None,
        metadata=checked(
            "count",
            "Attempts allowed at once after a quiet spell; null: rate rounded down, at least 1.",
            minimum=1,
            nullable=True,
        ),
    )
    max_wait: float = field(
        default=0.0,
        metadata=checked(
            "seconds",
            "Seconds an attempt may wait for its token before it is refused; 0 refuses at once.",
            minimum=0,
        ),
    )
    storage: RedisStorage | None = field(
        default=None,
        metadata=checked("other", "Where the bucket lives.", nullable=True, yaml=False),
    )

    if TYPE_CHECKING:  # what the constructor accepts: durations as seconds or timedelta

        def __init__(
            self,
            *,
            rate: float,
            per: float | timedelta = ...,
            burst: int | None = ...,
            max_wait: float | timedelta = ...,
            storage: RedisStorage | None = ...,
        ) -> None: ...

    def __post_init__(self) -> None:
        check_fields(self)
        if self.storage is not None:
            from resilience.stores.redis import RedisStorage  # noqa: PLC0415 - only when given

            if not isinstance(self.storage, RedisStorage):
                detail = f"must be None (this process) or a RedisStorage (got {self.storage!r})"
                raise SpecTypeError("RateLimit", "storage", detail)

    @property
    def per_second(self) -> float:
        """Attempts allowed a second."""
        return self.rate / self.per

    @property
    def size(self) -> int:
        """The bucket's size: ``burst``, or ``rate`` rounded down (at least 1)."""
        return self.burst if self.burst is not None else max(1, math.floor(self.rate))

    def replace(self, **changes: Any) -> RateLimit:
        """A copy with some fields changed (and checked again)."""
        return replace(self, **changes)

    def build(self, policy: str, observer: Observer) -> RateLimiter:
        """The live gate of the policy called ``policy``."""
        if self.storage is None:
            bucket: _Bucket = TokenBucket(self.per_second, self.size)
        else:
            from resilience.stores.redis_limits import rate_store  # noqa: PLC0415 - Redis only

            bucket = rate_store(self.storage, policy, self.per_second, self.size)
        kind = WaitingRateLimiter if self.max_wait > 0 else RateLimiter
        return kind(self, policy, bucket, observer)


class RateLimiter:
    """The live rate limit of one policy: a gate taking a token per attempt."""

    __slots__ = ("_observer", "_refused", "_take", "bucket", "local", "max_wait", "policy")

    by = "rate_limit"
    timed = False

    def __init__(self, spec: RateLimit, policy: str, bucket: _Bucket, observer: Observer) -> None:
        self.policy = policy
        self.bucket = bucket
        self.max_wait = spec.max_wait
        self.local = isinstance(bucket, TokenBucket) and spec.max_wait == 0
        self._take = bucket.take
        self._observer = observer
        self._refused = Counter()  # every refusal (policy.stats())

    @property
    def remote(self) -> bool:
        """Whether admitting may block on the network now."""
        return self.bucket.remote

    def admit(self) -> None:
        """Take a token (waiting for it up to ``max_wait``), or refuse the attempt."""
        wait = self._take(self.max_wait)
        if wait:
            if wait < 0:
                self._refuse(-wait)
            if not skip_sleeps():
                time.sleep(wait)

    def refusals(self) -> int:
        """Every attempt refused since the element was built."""
        return self._refused.value

    def _refuse(self, wait: float) -> None:
        self._refused.add()
        observer = self._observer
        if observer.refusals:
            observer.rejected(self.by, wait)
        raise RateLimitedError(self.policy, wait)

    def succeeded(self, token: None, duration: float) -> None:
        """Nothing to record: the token was spent when the attempt started."""

    def failed(self, token: None, category: Category, duration: float) -> None:
        """Nothing to record: the token was spent when the attempt started."""

    def cancelled(self, token: None) -> None:
        """Nothing to give back: the attempt may have reached the remote side."""


class WaitingRateLimiter(RateLimiter):
    """A rate limit whose attempts may wait for their token; async ones await the wait."""

    __slots__ = ()

    async def aadmit(self) -> None:
        """Take a token, awaiting it up to ``max_wait`` (the event loop runs meanwhile)."""
        import asyncio  # noqa: PLC0415 - only async callers get here

        if self.bucket.remote:
            wait = await asyncio.to_thread(self._take, self.max_wait)
        else:
            wait = self._take(self.max_wait)
        if wait:
            if wait < 0:
                self._refuse(-wait)
            if not skip_sleeps():
                await asyncio.sleep(wait)
