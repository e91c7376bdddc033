"""A policy's counters since it was built, read with ``policy.stats()``.

Every counter is an :class:`~resilience._atomic.Counter`: threads bump it without a lock and
without losing counts. The happy path bumps one (``calls``); the rest count failures.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from resilience._atomic import Counter

__all__ = ["Counters", "Stats"]


@dataclass(frozen=True, slots=True)
class Stats:
    """What a policy did since it was built (each counter read once, one after the other:
    under load the figures are each exact, but not one instant's).

    Attributes:
        calls: Calls made through the policy (every form; a retrying block is one call).
        failures: Failed attempts, by category (``"retryable"``, ``"auth"``, ...).
        retries: Retries scheduled.
        gave_up: Calls the policy gave up on, by reason (``"attempts"``, ``"deadline"``,
            ``"budget"``, ``"circuit opened"``, ``"permanent: never retried"``, ...).
        rejected: Attempts refused by the policy's own elements (an open circuit, ...).
        fallbacks: Calls the fallback answered.
    """

    calls: int
    failures: Mapping[str, int]
    retries: int
    gave_up: Mapping[str, int]
    rejected: int
    fallbacks: int


class Counters:
    """The live counters of one policy."""

    __slots__ = ("_calls", "_failures", "_fallbacks", "_gave_up", "_retries", "call")

    def __init__(self) -> None:
        self._calls = Counter()
        self._retries = Counter()
        self._fallbacks = Counter()
        self._failures: dict[str, Counter] = {}
        self._gave_up: dict[str, Counter] = {}
        #: Count one call: bound once, since every call pays for it.
        self.call: Callable[[], object] = self._calls.adder()

    def failure(self, category: str) -> None:
        """Count a failed attempt of ``category``."""
        _keyed(self._failures, category).add()

    def retry(self) -> None:
        """Count a scheduled retry."""
        self._retries.add()

    def give_up(self, reason: str) -> None:
        """Count a call given up on for ``reason``."""
        _keyed(self._gave_up, reason).add()

    def fallback(self) -> None:
        """Count a call the fallback answered."""
        self._fallbacks.add()

    def snapshot(self, rejected: int) -> Stats:
        """The counters now, with the ``rejected`` attempts the policy's elements counted
        (a refusal costs no more for being counted twice)."""
        return Stats(
            calls=self._calls.value,
            failures=_read(self._failures),
            retries=self._retries.value,
            gave_up=_read(self._gave_up),
            rejected=rejected,
            fallbacks=self._fallbacks.value,
        )


def _keyed(counters: dict[str, Counter], key: str) -> Counter:
    counter = counters.get(key)
    if counter is None:
        # setdefault is one atomic step: two threads seeing a new key keep the same counter.
        counter = counters.setdefault(key, Counter())
    return counter


def _read(counters: dict[str, Counter]) -> Mapping[str, int]:
    # sorted() copies the keys in one step (no thread switch), so a key another thread adds
    # meanwhile can't break the iteration.
    return {key: counters[key].value for key in sorted(counters)}
