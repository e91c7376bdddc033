"""Built-in catalogs: one plain table of data per client library.

A catalog is a tuple of :class:`Entry` rows. Each row names an exception class by its qualified
name (``module.QualName``, as ``type(exc).__module__ + "." + type(exc).__qualname__`` spells
it), so `resilience` never imports the libraries it knows about. A row may narrow the class to
one error code or one HTTP status (``503`` or a family such as ``"5xx"``); a row whose category
is ``None`` says the class is decided by its code and status rules alone, and the walk goes on
up the class's MRO when none of them matches.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass

from resilience.categories import Category

__all__ = [
    "BUILTIN",
    "Catalog",
    "Entry",
    "by_class",
    "by_code",
    "by_status",
    "load",
    "load_all",
]

#: The built-in catalogs, by name, in the order a classifier consults them.
BUILTIN: tuple[str, ...] = ("builtins", "awsiot", "aiomqtt", "botocore", "devopsagent", "engineio")

Code = str | int
Status = int | str


@dataclass(frozen=True, slots=True)
class Entry:
    """One row of a catalog: an exception class, optionally narrowed to a code or a status."""

    target: str
    category: Category | None
    reason: str
    code: Code | None = None
    status: Status | None = None

    @property
    def rule(self) -> str:
        """The row as `explain` shows it: ``botocore.exceptions.ClientError code=Throttling``."""
        if self.code is not None:
            return f"{self.target} code={self.code}"
        if self.status is not None:
            return f"{self.target} status={self.status}"
        return self.target


@dataclass(frozen=True, slots=True)
class Catalog:
    """A named table of :class:`Entry` rows."""

    name: str
    description: str
    entries: tuple[Entry, ...]

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)


def by_class(target: str, category: Category | None, reason: str) -> Entry:
    """A row for a whole class (``category=None``: decided by its code and status rows)."""
    return Entry(target, category, reason)


def by_code(target: str, code: Code, category: Category, reason: str) -> Entry:
    """A row for one error code of a class (``ClientError`` code, MQTT ``rc``, errno name)."""
    return Entry(target, category, reason, code=code)


def by_status(target: str, status: Status, category: Category, reason: str) -> Entry:
    """A row for one HTTP status (``503``) or status family (``"5xx"``) of a class."""
    return Entry(target, category, reason, status=status)


def load(name: str) -> Catalog:
    """Return the built-in catalog called ``name``.

    Raises:
        ValueError: there is no built-in catalog of that name.
    """
    if name not in BUILTIN:
        msg = f"no built-in catalog {name!r}; the built-in catalogs are {', '.join(BUILTIN)}"
        raise ValueError(msg)
    module = importlib.import_module(f"resilience.catalogs.{name}")
    catalog: Catalog = module.CATALOG
    return catalog


def load_all() -> tuple[Catalog, ...]:
    """Return every built-in catalog, in :data:`BUILTIN` order."""
    return tuple(load(name) for name in BUILTIN)
