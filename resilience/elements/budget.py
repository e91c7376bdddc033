"""Retry budgets: retries may only take a share of recent calls, so an outage isn't multiplied.

``Budget(ratio=0.1, min_per_second=1.0, window=10.0)`` lets a policy retry while the retries
of the last ``window`` seconds stay under ``ratio`` times the calls of that window, plus a
small reserve (``min_per_second * window``) so that a quiet policy can still retry at all.
This is Finagle's ``RetryBudget`` (a percentage of requests over a TTL, with a minimum per
second) and the ratio Envoy's retry budgets keep; it is not botocore's retry quota, a bucket
of 500 tokens that successes refill: that one lets a fixed burst through whatever the
traffic, then nothing until calls succeed again, whereas a ratio adapts to traffic, bounds
an outage's extra load to ``ratio`` however long it lasts, and adds up across a fleet (every
worker held to 10 % of its own calls holds the fleet to 10 % of its calls).

Only retryable failures spend the budget: queue-related retries wait on the client's own
queue, not on the remote side. The window lives in a store: this process's memory, or Redis
(``storage=RedisStorage(...)``), shared by the fleet.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from resilience._spec import SpecTypeError, check_fields, checked
from resilience.observe import events
from resilience.stores.base import BudgetStorage, BudgetStore
from resilience.stores.memory import MemoryBudgetStore

__all__ = ["Budget", "Budgeting"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Budget:
    """How many retries a policy may make: a share of its recent calls.

    Args:
        ratio: Retries allowed per call over the window, from 0 to 1 (``0.1``: at most one
            retry for ten calls).
        min_per_second: Retries per second allowed whatever the traffic, so that a policy
            called rarely may still retry (``min_per_second * window`` per window).
        window: Seconds (or a ``timedelta``) of history the ratio is taken over.
        storage: ``None`` counts in this process; a ``RedisStorage`` shares the budget with
            every process using the same namespace and policy name.

    Raises:
        TypeError: an argument has the wrong type.
        ValueError: an argument is out of range; the message says what is allowed.
    """

    ratio: float = field(
        default=0.1,
        metadata=checked(
            "number",
            "Retries allowed per call over the window (0.1: one retry for ten calls).",
            minimum=0,
            maximum=1,
            phrase="from 0 to 1, a share of calls",
        ),
    )
    min_per_second: float = field(
        default=1.0,
        metadata=checked(
            "number",
            "Retries per second allowed whatever the traffic, so quiet policies retry.",
            minimum=0,
        ),
    )
    window: float = field(
        default=10.0,
        metadata=checked(
            "seconds", "Seconds of history the ratio is taken over.", minimum=0, exclusive=True
        ),
    )
    storage: BudgetStorage | None = field(
        default=None,
        metadata=checked("other", "Where the window lives.", nullable=True, yaml=False),
    )

    if TYPE_CHECKING:  # what the constructor accepts: durations as seconds or timedelta

        def __init__(
            self,
            *,
            ratio: float = ...,
            min_per_second: float = ...,
            window: float | timedelta = ...,
            storage: BudgetStorage | None = ...,
        ) -> None: ...

    def __post_init__(self) -> None:
        check_fields(self)
        if self.storage is not None and not isinstance(self.storage, BudgetStorage):
            detail = f"must be None (this process) or a RedisStorage (got {self.storage!r})"
            raise SpecTypeError("Budget", "storage", detail)

    def replace(self, **changes: Any) -> Budget:
        """A copy with some fields changed (and checked again)."""
        return replace(self, **changes)

    def build(self, policy: str) -> Budgeting:
        """The live budget of the policy called ``policy``."""
        reserve = self.min_per_second * self.window
        if self.storage is None:
            store: BudgetStore = MemoryBudgetStore(self.ratio, reserve, self.window)
        else:
            store = self.storage.budget_store(policy, self.ratio, reserve, self.window)
        return Budgeting(self, policy, store)


class Budgeting:
    """The live budget of one policy: counts its calls, allows or refuses its retries."""

    __slots__ = ("policy", "request", "spec", "store")

    def __init__(self, spec: Budget, policy: str, store: BudgetStore) -> None:
        self.spec = spec
        self.policy = policy
        self.store = store
        self.request = store.request  # on every call's path: bound once

    @property
    def remote(self) -> bool:
        """Whether deciding a retry may block on the network."""
        return self.store.remote

    def allow(self, attempt: int, exc: BaseException) -> bool:
        """Spend one retry, or say the budget is exhausted (and log it)."""
        if self.store.try_retry():
            return True
        events.budget_exhausted(self.policy, attempt, self.spec.ratio, exc)
        return False
