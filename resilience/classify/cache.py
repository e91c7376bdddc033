"""The classifier's per-type cache, bounded so that classes made at run time can't grow it.

What the classifier works out for an exception type (its :class:`~resilience.classify.plan.Plan`)
depends only on the type, so it is kept per type. Reads are plain ``dict`` lookups, with no
lock and no bookkeeping (the cost of ``classify`` for a type seen before is one lookup).
Writes happen once per type, under a lock; when the cache holds :data:`SIZE` types the oldest
quarter is forgotten (first in, first out: a hot type forgotten is worked out again in a few
microseconds, and keeping no usage order keeps reads free). Each type's memo of answers per
code is bounded too (:data:`MEMO_SIZE`), so a classifier holds at most ``SIZE`` types and
``SIZE * MEMO_SIZE`` remembered codes, however many classes or codes it meets.
"""

from __future__ import annotations

import itertools
import threading
from typing import Generic, TypeVar

__all__ = ["MEMO_SIZE", "SIZE", "TypeCache"]

#: Exception types one classifier remembers.
SIZE = 1024
#: Answers per raw code (and status) remembered for one type.
MEMO_SIZE = 256

P = TypeVar("P")


class TypeCache(Generic[P]):
    """Per-type plans."""

    __slots__ = ("_lock", "plans", "size")

    def __init__(self, size: int = SIZE) -> None:
        self.size = size
        #: type -> plan; read without a lock.
        self.plans: dict[type, P] = {}
        self._lock = threading.Lock()

    def put(self, kind: type, plan: P) -> None:
        """Remember ``plan`` for ``kind``, forgetting the oldest quarter when full."""
        with self._lock:
            if kind not in self.plans and len(self.plans) >= self.size:
                for old in list(itertools.islice(self.plans, max(1, self.size // 4))):
                    del self.plans[old]
            self.plans[kind] = plan

    def clear(self) -> None:
        """Forget every type (rules changed meaning, e.g. an alias resolved)."""
        with self._lock:
            self.plans.clear()

    def __len__(self) -> int:
        return len(self.plans)
