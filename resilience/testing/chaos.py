"""Chaos: inject faults and latency into a policy's attempts, to test what its fallbacks,
retries, breaker and hedges really do (Polly v8's fault and latency chaos strategies).

::

    with chaos(policy, fault=ConnectionResetError, rate=0.5, seed=7):
        ...  # half of the attempts through `policy` fail, the same half on every run

Nothing happens unless the context is entered, and nothing is left once it is exited.
While it is, each attempt of the policy, after the gates admitted it and before the function
runs, is hit with probability ``rate``: it waits ``latency`` seconds, then raises ``fault``
instead of calling the function. The fault is classified, retried, counted by the breaker and
handed to the fallback exactly as the function's own exception would be. Under a ``seed`` the
draws are the same on every run (in the order attempts are made).

``policy_or_name`` is a :class:`~resilience.Policy`, or the name of policies: every policy of
that name alive when entering, and any built while the context is entered (a policy file
loaded during the test), is hit. Decorated functions, ``call`` and ``acall`` are hit; the
block forms (``guard()``, ``attempts()``) run the caller's own code and are not.

The latency is real time (``time.sleep`` or ``asyncio.sleep``): it is what hedges react to,
and ``no_wait`` leaves it alone. It runs before the attempt, outside ``attempt_timeout``.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any

from resilience._spec import SpecTypeError, SpecValueError, checked

if TYPE_CHECKING:
    from resilience.engine.core import Pipeline
    from resilience.engine.policy import Policy

__all__ = ["Chaos", "chaos"]

_RATE = checked("number", "The share of attempts hit.", minimum=0, maximum=1)["check"]
_LATENCY = checked("seconds", "Seconds each hit attempt waits.", minimum=0, nullable=True)["check"]

Fault = type[Exception] | Callable[[], Exception]


def chaos(
    policy_or_name: Policy | str,
    *,
    fault: Fault | None = None,
    rate: float = 1.0,
    latency: float | timedelta | None = None,
    seed: int | None = None,
) -> Chaos:
    """Inject ``fault`` and/or ``latency`` into a share of a policy's attempts while entered.

    Args:
        policy_or_name: A Policy, or the name of the policies to hit.
        fault: An exception class (raised with a message naming the policy), or a function
            returning the exception to raise (a new one each time). ``None``: no fault.
        rate: The share of attempts hit, from 0 to 1 (each attempt draws once).
        latency: Seconds (or a ``timedelta``) each hit attempt waits before it runs or
            fails. ``None``: no latency.
        seed: Makes the draws the same on every run.

    Returns:
        A context manager (``with`` and ``async with``); it counts what it did in
        :attr:`Chaos.hits`.

    Raises:
        TypeError, ValueError: an argument is malformed; the message says which.
    """
    return Chaos(policy_or_name, fault=fault, rate=rate, latency=latency, seed=seed)


class Chaos:
    """A chaos context (see :func:`chaos`): enter it to hit the policy's attempts.

    Attributes:
        hits: Attempts hit so far (delayed, failed, or both).
        attempts: Attempts that drew, hit or not.
    """

    __slots__ = (
        "_lock",
        "_make",
        "_random",
        "_saved",
        "attempts",
        "fault",
        "hits",
        "latency",
        "name",
        "rate",
        "target",
    )

    def __init__(
        self,
        policy_or_name: Policy | str,
        *,
        fault: Fault | None,
        rate: float,
        latency: float | timedelta | None,
        seed: int | None,
    ) -> None:
        from resilience.engine.policy import Policy  # noqa: PLC0415 - testing needs no engine

        self.target: Policy | None
        if isinstance(policy_or_name, Policy):
            self.name, self.target = policy_or_name.name, policy_or_name
        elif isinstance(policy_or_name, str) and policy_or_name.strip():
            self.name, self.target = policy_or_name, None
        else:
            detail = f"must be a Policy or a policy name (got {policy_or_name!r})"
            raise SpecTypeError("chaos", "policy_or_name", detail)
        self.rate: float = _RATE.apply(rate, "chaos", "rate")
        self.latency: float | None = _LATENCY.apply(latency, "chaos", "latency")
        self.fault = fault
        self._make = _maker(fault, self.name)
        if self._make is None and not self.latency:
            detail = "nothing to inject: give a fault, a latency > 0, or both"
            raise SpecValueError("chaos", "fault", detail)
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._saved: list[tuple[Pipeline, Any]] = []
        self.hits = 0
        self.attempts = 0

    def __repr__(self) -> str:
        return (
            f"<chaos on policy {self.name!r}: rate={self.rate:g}, fault={self.fault!r}, "
            f"latency={self.latency!r}, hits={self.hits}/{self.attempts}>"
        )

    # -- entering and leaving -------------------------------------------------------------

    def __enter__(self) -> Chaos:
        from resilience.engine.core import chaos_by_name, pipelines_named  # noqa: PLC0415

        if self.target is not None:
            pipelines = [self.target._pipeline]
        else:
            chaos_by_name(self.name, self, entered=True)
            pipelines = pipelines_named(self.name)
        for pipeline in pipelines:
            self._saved.append((pipeline, pipeline.chaos))
            pipeline.chaos = self
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        from resilience.engine.core import chaos_by_name, pipelines_named  # noqa: PLC0415

        for pipeline, previous in reversed(self._saved):
            if pipeline.chaos is self:
                pipeline.chaos = previous
        self._saved.clear()
        if self.target is None:
            chaos_by_name(self.name, self, entered=False)
            for pipeline in pipelines_named(self.name):  # built while it was entered
                if pipeline.chaos is self:
                    pipeline.chaos = None

    async def __aenter__(self) -> Chaos:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    # -- what the drivers call, before each attempt ------------------------------------------

    def _draw(self) -> bool:
        with self._lock:
            self.attempts += 1
            hit = self._random.random() < self.rate
            if hit:
                self.hits += 1
            return hit

    def inject(self) -> None:
        """Before a sync attempt: maybe wait, then maybe raise the fault."""
        if not self._draw():
            return
        if self.latency:
            import time  # noqa: PLC0415

            time.sleep(self.latency)
        if self._make is not None:
            raise self._make()

    async def ainject(self) -> None:
        """Before an async attempt: maybe wait (the event loop runs on), then maybe raise."""
        if not self._draw():
            return
        if self.latency:
            import asyncio  # noqa: PLC0415

            await asyncio.sleep(self.latency)
        if self._make is not None:
            raise self._make()


def _maker(fault: object, name: str) -> Callable[[], Exception] | None:
    """A function making the fault's exception, checked now where it can be."""
    if fault is None:
        return None
    if isinstance(fault, type) and issubclass(fault, Exception):
        message = f"chaos: fault injected into an attempt of policy {name!r}"
        return lambda: fault(message)
    if isinstance(fault, BaseException):
        detail = (
            f"must be an exception class or a function returning a new exception (got the "
            f"instance {fault!r}: raising one instance again and again chains its tracebacks)"
        )
        raise SpecTypeError("chaos", "fault", detail)
    if isinstance(fault, type) or not callable(fault):
        detail = f"must be an Exception subclass or a function returning one (got {fault!r})"
        raise SpecTypeError("chaos", "fault", detail)
    maker: Callable[[], object] = fault

    def make() -> Exception:
        made = maker()
        if not isinstance(made, Exception):
            msg = f"chaos fault {maker!r} must return an Exception, returned {made!r}"
            raise TypeError(msg)
        return made

    return make
