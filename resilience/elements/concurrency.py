"""Concurrency (a bulkhead): at most ``limit`` calls of a policy in flight at once.

``Concurrency(limit, max_wait=0.0)`` is resilience4j's ``Bulkhead`` (``maxConcurrentCalls``,
``maxWaitDuration``) and Polly's concurrency limiter without its queue: a call that finds
every slot taken waits up to ``max_wait`` seconds for one to free, then is refused with
:class:`~resilience.ConcurrencyLimitError`, which the policy never retries and always hands
to its fallback.

One attempt holds one slot, from admission to its outcome; a retry waits for a slot again,
and the backoff sleep holds none. Sync calls wait on a condition (a thread blocks, as it
would in the client's own pool); async calls wait on a future of their event loop, which
never blocks. Sync and async calls through one policy share its slots. Without a wait the
gate is a lock and a count: the limit is exact under threads and tasks alike.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from resilience._atomic import Counter
from resilience._spec import check_fields, checked
from resilience.errors import ConcurrencyLimitError

if TYPE_CHECKING:
    import asyncio

    from resilience.categories import Category
    from resilience.observe import Observer

__all__ = ["Bulkhead", "Concurrency", "WaitingBulkhead"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Concurrency:
    """How many calls of a policy may run at once (a bulkhead).

    Args:
        limit: Attempts in flight at once.
        max_wait: Seconds (or a ``timedelta``) a call waits for a free slot before it is
            refused with ``ConcurrencyLimitError``; ``0`` refuses at once.

    Raises:
        TypeError: an argument has the wrong type.
        ValueError: an argument is out of range; the message says what is allowed.
    """

    limit: int = field(metadata=checked("count", "Attempts in flight at once.", minimum=1))
    max_wait: float = field(
        default=0.0,
        metadata=checked(
            "seconds",
            "Seconds a call waits for a free slot before it is refused; 0 refuses at once.",
            minimum=0,
        ),
    )

    if TYPE_CHECKING:  # what the constructor accepts: durations as seconds or timedelta

        def __init__(self, *, limit: int, max_wait: float | timedelta = ...) -> None: ...

    def __post_init__(self) -> None:
        check_fields(self)

    def replace(self, **changes: Any) -> Concurrency:
        """A copy with some fields changed (and checked again)."""
        return replace(self, **changes)

    def build(self, policy: str, observer: Observer) -> Bulkhead:
        """The live gate of the policy called ``policy``."""
        kind = WaitingBulkhead if self.max_wait > 0 else Bulkhead
        return kind(self, policy, observer)


class Bulkhead:
    """The live bulkhead of one policy: a gate holding one slot per attempt. Thread-safe.

    The free slots are items of a ``queue.SimpleQueue``: taking one (``get_nowait``) and
    giving it back (``put``) are single atomic C calls, cheaper than a lock and a count, and
    a thread that may wait blocks in ``get(timeout=...)`` until one is put back.
    """

    __slots__ = ("_observer", "_refused", "_slots", "limit", "max_wait", "policy")

    by = "concurrency"
    remote = False
    timed = False
    local = True

    def __init__(self, spec: Concurrency, policy: str, observer: Observer) -> None:
        self.policy = policy
        self.limit = spec.limit
        self.max_wait = spec.max_wait
        self._slots: queue.SimpleQueue[None] = queue.SimpleQueue()
        for _ in range(spec.limit):
            self._slots.put(None)
        self._observer = observer
        self._refused = Counter()  # every refusal (policy.stats())

    @property
    def in_flight(self) -> int:
        """Attempts holding a slot now."""
        return self.limit - self._slots.qsize()

    def admit(self) -> None:
        """Take a slot, or refuse the call."""
        try:
            self._slots.get_nowait()
        except queue.Empty:
            self._refuse()

    def refusals(self) -> int:
        """Every attempt refused since the element was built."""
        return self._refused.value

    def _refuse(self) -> None:
        self._refused.add()
        observer = self._observer
        if observer.refusals:
            observer.rejected(self.by, 0.0)
        raise ConcurrencyLimitError(self.policy, self.limit, self.max_wait)

    def release(self) -> None:
        """Give a slot back."""
        self._slots.put(None)

    def succeeded(self, token: None, duration: float) -> None:
        """The attempt ended: its slot is free."""
        self._slots.put(None)

    def failed(self, token: None, category: Category, duration: float) -> None:
        """The attempt ended: its slot is free."""
        self._slots.put(None)

    def cancelled(self, token: None) -> None:
        """The attempt ended: its slot is free."""
        self._slots.put(None)


class WaitingBulkhead(Bulkhead):
    """A bulkhead whose calls wait up to ``max_wait`` for a slot: threads block in the slot
    queue's ``get``, tasks wait on a future of their own event loop, woken from whichever
    thread frees a slot."""

    __slots__ = ("_lock", "_tasks")

    local = False  # async admission may wait: the driver awaits ``aadmit``

    def __init__(self, spec: Concurrency, policy: str, observer: Observer) -> None:
        super().__init__(spec, policy, observer)
        self._lock = threading.Lock()
        self._tasks: deque[asyncio.Future[None]] = deque()

    def admit(self) -> None:
        """Take a slot, waiting up to ``max_wait`` seconds for one, or refuse the call."""
        try:
            self._slots.get(timeout=self.max_wait)
        except queue.Empty:
            self._refuse()

    async def aadmit(self) -> None:
        """Take a slot, waiting up to ``max_wait`` seconds without blocking the event loop."""
        import asyncio  # noqa: PLC0415 - only async callers get here

        slots = self._slots
        try:
            slots.get_nowait()
        except queue.Empty:
            pass
        else:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait
        while True:
            future: asyncio.Future[None] = loop.create_future()
            with self._lock:
                self._tasks.append(future)
            # Registered first, then looked again: a slot freed in between is seen here, or
            # its release sees this waiter and wakes it.
            try:
                slots.get_nowait()
            except queue.Empty:
                pass
            else:
                self._leave(future)
                return
            try:
                async with asyncio.timeout_at(deadline):
                    await future
            except TimeoutError:
                self._leave(future)
                break  # the wait ran out: refused below
            except BaseException:
                self._leave(future)
                raise
            try:
                slots.get_nowait()
            except queue.Empty:
                continue  # another caller took it first: wait again, up to the deadline
            return
        self._refuse()

    def _leave(self, future: asyncio.Future[None]) -> None:
        """A task stops waiting (served, refused or cancelled)."""
        # (ValueError: already taken off by the wake-up that woke it)
        with self._lock, contextlib.suppress(ValueError):
            self._tasks.remove(future)
        if future.done() and not future.cancelled():
            self._wake()  # woken, but not by this slot: the wake-up goes to the next waiter

    def release(self) -> None:
        """Give a slot back, and wake one waiting task (threads wake by themselves)."""
        self._slots.put(None)
        if self._tasks:
            self._wake()

    def succeeded(self, token: None, duration: float) -> None:
        """The attempt ended: its slot is free."""
        self.release()

    def failed(self, token: None, category: Category, duration: float) -> None:
        """The attempt ended: its slot is free."""
        self.release()

    def cancelled(self, token: None) -> None:
        """The attempt ended: its slot is free."""
        self.release()

    def _wake(self) -> None:
        with self._lock:
            if not self._tasks:
                return
            future = self._tasks.popleft()
        future.get_loop().call_soon_threadsafe(self._deliver, future)

    def _deliver(self, future: asyncio.Future[None]) -> None:
        """Wake the task waiting on ``future`` (on its loop); if it left meanwhile, the
        next waiter."""
        if future.done():
            self._wake()
        else:
            future.set_result(None)
