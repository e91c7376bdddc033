"""Circuit breaking: the ``Breaker`` spec and the per-policy circuit built from it.

The circuit stands on pybreaker: its storages hold the state (``CircuitMemoryStorage`` in
process, ``CircuitRedisStorage`` for a fleet) and its ``CircuitBreaker`` performs the
transitions (``open``, ``half_open``, ``close``), with pybreaker's wall clock
(``datetime.now(UTC)``) for the open time, so freezegun moves it. Admission is ours, because
pybreaker's ``call`` holds a lock for the whole call (serializing threads), records an async
function's success before its coroutine runs, and lets every caller through while half-open.
Here a closed circuit costs two reads of the storage; the lock is only taken on failures and
transitions; half-open admits at most ``half_open_calls`` trial calls at a time (fleet-wide
with a storage that leases trial slots, such as ``RedisStorage``'s).

A storage that talks to a server (Redis) blocks; async callers use ``aenter``/``asuccess``/
``afailure``/``acancel``, which run those calls in a worker thread, so the event loop never
waits on Redis. With memory storage they run inline, as the sync methods.

Only retryable failures count. Any other failure means the remote side answered, so, as with
pybreaker's ``exclude``, it counts as a success and resets the run of consecutive failures.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

import pybreaker

from resilience import events
from resilience._validate import check_int, check_seconds
from resilience.categories import Category
from resilience.errors import CircuitOpenError

__all__ = ["Breaker", "Circuit", "SharedTrials", "StorageFactory"]

CLOSED = pybreaker.STATE_CLOSED
OPEN = pybreaker.STATE_OPEN
HALF_OPEN = pybreaker.STATE_HALF_OPEN


@runtime_checkable
class StorageFactory(Protocol):
    """Makes the pybreaker storage of one policy's circuit (e.g. Redis, by namespace)."""

    def create(self, name: str) -> pybreaker.CircuitBreakerStorage:
        """A storage for the circuit of the policy called ``name``."""
        ...  # pragma: no cover


@runtime_checkable
class SharedTrials(Protocol):
    """A storage that admits half-open trial calls itself, for every process sharing it."""

    def take_trial(self, limit: int, lease: float) -> bool:
        """Take one of ``limit`` trial slots (held at most ``lease`` seconds), if one is free."""
        ...  # pragma: no cover

    def release_trial(self, limit: int) -> None:
        """Give back a slot taken by :meth:`take_trial`."""
        ...  # pragma: no cover

    def needs_io(self) -> bool:
        """Whether the next operation would block on the network."""
        ...  # pragma: no cover


def _always() -> bool:
    return True


@dataclass(frozen=True, slots=True, kw_only=True)
class Breaker:
    """When to stop calling a failing remote side, and when to try it again.

    Args:
        fail_max: Consecutive retryable failures that open the circuit.
        reset_timeout: Seconds (or a ``timedelta``) the circuit stays open before it lets
            trial calls through (half-open).
        half_open_calls: Trial calls allowed at a time while half-open; that many trial
            successes in a row close the circuit, one retryable trial failure opens it again.
        storage: Where the state lives; ``None`` keeps it in this process (each Policy
            object owns its circuit). A :class:`StorageFactory` such as
            ``RedisStorage`` shares it across processes.

    Raises:
        TypeError: an argument has the wrong type.
        ValueError: an argument is out of range; the message says what is allowed.
    """

    fail_max: int = 5
    reset_timeout: float = 30.0
    half_open_calls: int = 1
    storage: StorageFactory | None = None

    def __post_init__(self) -> None:
        check_int(self.fail_max, "Breaker.fail_max")
        timeout = check_seconds(self.reset_timeout, "Breaker.reset_timeout", allow_zero=False)
        check_int(self.half_open_calls, "Breaker.half_open_calls")
        if self.storage is not None and not isinstance(self.storage, StorageFactory):
            msg = (
                "Breaker.storage must be None (memory) or a storage factory such as "
                f"RedisStorage (got {self.storage!r})"
            )
            raise TypeError(msg)
        object.__setattr__(self, "reset_timeout", timeout)

    def replace(self, **changes: Any) -> Breaker:
        """A copy with some fields changed (and checked again)."""
        return replace(self, **changes)

    def build(self, policy: str) -> Circuit:
        """The live circuit of the policy called ``policy``."""
        if self.storage is None:
            storage: pybreaker.CircuitBreakerStorage = pybreaker.CircuitMemoryStorage(CLOSED)
        else:
            storage = self.storage.create(policy)
        return Circuit(self, policy, storage)


class Circuit:
    """The live breaker of one policy. Thread-safe; async callers use the same methods."""

    __slots__ = (
        "_cb",
        "_io",
        "_lock",
        "_reset",
        "_shared",
        "_spec",
        "_storage",
        "_trials",
        "policy",
    )

    def __init__(
        self, spec: Breaker, policy: str, storage: pybreaker.CircuitBreakerStorage
    ) -> None:
        self._spec = spec
        self.policy = policy
        self._storage = storage
        self._reset = timedelta(seconds=spec.reset_timeout)
        self._cb = pybreaker.CircuitBreaker(
            fail_max=spec.fail_max,
            reset_timeout=spec.reset_timeout,
            success_threshold=spec.half_open_calls,
            state_storage=storage,
            name=policy,
            throw_new_error_on_trip=False,
        )
        self._lock = threading.Lock()
        self._trials = 0
        self._shared = storage if isinstance(storage, SharedTrials) else None
        self._io: Callable[[], bool] | None
        if isinstance(storage, pybreaker.CircuitMemoryStorage):
            self._io = None
        else:
            self._io = self._shared.needs_io if self._shared is not None else _always

    @property
    def remote(self) -> bool:
        """Whether the state lives outside this process (async callers use ``a*`` methods)."""
        return self._io is not None

    @property
    def state(self) -> str:
        """``"closed"``, ``"open"`` or ``"half-open"`` ("open" until the first call after
        ``reset_timeout``)."""
        return str(self._storage.state)

    @property
    def failures(self) -> int:
        """Consecutive retryable failures counted so far."""
        return int(self._storage.counter)

    def remaining(self) -> float:
        """Seconds until an open circuit half-opens (0 when it may already)."""
        opened_at = self._storage.opened_at
        if opened_at is None:
            return 0.0
        return max(0.0, (opened_at + self._reset - datetime.now(UTC)).total_seconds())

    def enter(self) -> bool:
        """Admit one call, or raise :class:`CircuitOpenError`. Returns whether it is a trial."""
        state = self._storage.state
        if state == CLOSED:
            return False
        if state == OPEN:
            # _refuse_if_open(), inline: during an outage every call comes this way, and a
            # refusal should cost no more than pybreaker's (benchmarks/run.py).
            opened_at = self._storage.opened_at
            if opened_at is not None:
                remaining = (opened_at + self._reset - datetime.now(UTC)).total_seconds()
                if remaining > 0:
                    events.breaker_rejected(self.policy, remaining)
                    raise CircuitOpenError(self.policy, remaining)
        return self._enter_slow()

    def _enter_slow(self) -> bool:
        if self._storage.state == OPEN:
            self._refuse_if_open()
            with self._lock:
                if self._storage.state == OPEN:
                    self._cb.half_open()
                    events.breaker_half_opened(self.policy)
        with self._lock:
            state = self._storage.state
            if state == CLOSED:
                return False
            if state != OPEN and self._take_trial():
                return True
        self._refuse_if_open()  # reopened meanwhile by a failed trial
        events.breaker_rejected(self.policy, 0.0)
        raise CircuitOpenError(self.policy, 0.0)

    def _take_trial(self) -> bool:
        limit = self._spec.half_open_calls
        if self._shared is not None:
            return self._shared.take_trial(limit, self._spec.reset_timeout)
        if self._trials >= limit:
            return False
        self._trials += 1
        return True

    def _release_trial(self) -> None:
        if self._shared is not None:
            self._shared.release_trial(self._spec.half_open_calls)
        else:
            self._trials -= 1

    def _refuse_if_open(self) -> None:
        opened_at = self._storage.opened_at  # remaining(), inline
        if opened_at is None:
            return
        remaining = (opened_at + self._reset - datetime.now(UTC)).total_seconds()
        if remaining > 0:
            events.breaker_rejected(self.policy, remaining)
            raise CircuitOpenError(self.policy, remaining)

    def success(self, trial: bool) -> None:
        """Record that an admitted call succeeded (or failed without blaming the remote)."""
        if trial:
            with self._lock:
                self._release_trial()
                if self._storage.state != HALF_OPEN:
                    return
                self._storage.increment_success_counter()
                if self._storage.success_counter >= self._spec.half_open_calls:
                    self._cb.close()
                    events.breaker_closed(self.policy)
            return
        if self._storage.counter:
            with self._lock:
                self._storage.reset_counter()

    def cancel(self, trial: bool) -> None:
        """Release an admitted call that ended without an outcome (cancelled, interrupted)."""
        if trial:
            with self._lock:
                self._release_trial()

    def failure(self, category: Category, trial: bool) -> None:
        """Record that an admitted call failed with an exception of ``category``."""
        if category is not Category.RETRYABLE:
            self.success(trial)
            return
        with self._lock:
            if trial:
                self._release_trial()
                if self._storage.state == HALF_OPEN:
                    self._cb.open()
                    events.breaker_opened(self.policy, self._spec.reset_timeout, trial=True)
                return
            self._storage.increment_counter()
            if self._storage.state == CLOSED and self._storage.counter >= self._spec.fail_max:
                failures = self._storage.counter
                self._cb.open()
                events.breaker_opened(self.policy, self._spec.reset_timeout, failures=failures)

    # -- async: never block the event loop on a remote storage -----------------------------

    async def aenter(self) -> bool:
        """:meth:`enter`, in a worker thread when the storage would block."""
        if self._io is None or not self._io():
            return self.enter()
        admitted = asyncio.ensure_future(asyncio.to_thread(self.enter))
        try:
            return await asyncio.shield(admitted)
        except asyncio.CancelledError:
            admitted.add_done_callback(self._abandon)
            raise

    def _abandon(self, admitted: asyncio.Future[bool]) -> None:
        # The caller was cancelled while the thread admitted it: give the trial slot back.
        if not admitted.cancelled() and admitted.exception() is None and admitted.result():
            asyncio.get_running_loop().run_in_executor(None, self.cancel, True)

    async def asuccess(self, trial: bool) -> None:
        """:meth:`success`, in a worker thread when the storage would block."""
        if self._io is None or not self._io():
            self.success(trial)
        else:
            await asyncio.to_thread(self.success, trial)

    async def afailure(self, category: Category, trial: bool) -> None:
        """:meth:`failure`, in a worker thread when the storage would block."""
        if self._io is None or not self._io():
            self.failure(category, trial)
        else:
            await asyncio.to_thread(self.failure, category, trial)

    async def acancel(self, trial: bool) -> None:
        """:meth:`cancel`, in a worker thread when the storage would block."""
        if self._io is None or not self._io():
            self.cancel(trial)
        else:
            await asyncio.to_thread(self.cancel, trial)
