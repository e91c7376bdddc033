"""Catalogs: one plain table of data per client library, with that library's own readers.

A catalog is a tuple of :class:`Entry` rows. Each row names an exception class by its qualified
name (``module.QualName``, as ``type(exc).__module__ + "." + type(exc).__qualname__`` spells
it), so `resilience` never imports the libraries it knows about. A row may narrow the class to
one error code or one HTTP status (``503`` or a family such as ``"5xx"``); a row whose category
is ``None`` says the class is decided by its code and status rules alone, and the walk goes on
up the class's MRO when none of them matches. A class row that ``defers`` is a generic wrapper:
a more specific verdict along the exception's cause chain decides before it.

A catalog also carries :class:`Reader` objects: how to read a family of exceptions (a class and
its subclasses) for the codes, HTTP status, server hint and inner error the rows are matched
against. Readers use :mod:`resilience.catalogs._read`, so they never raise or warn.

Built-in catalogs are modules of this package (:data:`BUILTIN`); other packages add theirs
through the ``resilience.catalogs`` entry point group (:func:`installed`). A catalog for a new
library is one module with a ``CATALOG``.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass

from resilience.categories import Category

__all__ = [
    "BUILTIN",
    "ENTRY_POINT_GROUP",
    "Catalog",
    "Entry",
    "Reader",
    "Reading",
    "by_class",
    "by_code",
    "by_status",
    "http_statuses",
    "installed",
    "installed_errors",
    "load",
    "load_all",
]

#: The built-in catalogs, by name, in the order a classifier consults them.
BUILTIN: tuple[str, ...] = (
    "builtins",
    "awsiot",
    "aiomqtt",
    "botocore",
    "devopsagent",
    "engineio",
    "requests",
    "urllib3",
    "httpx",
    "aiohttp",
    "grpc",
    "redis",
    "websockets",
    "refusals",
)

#: The entry point group third-party packages register their catalogs in.
ENTRY_POINT_GROUP = "resilience.catalogs"

Code = str | int
Status = int | str

#: What a reader finds in an exception: the codes to try against code rows, most specific
#: first, and the HTTP status, if any.
Reading = tuple[tuple[Code, ...], int | None]


@dataclass(frozen=True, slots=True)
class Entry:
    """One row of a catalog: an exception class, optionally narrowed to a code or a status."""

    target: str
    category: Category | None
    reason: str
    code: Code | None = None
    status: Status | None = None
    #: A generic wrapper: a more specific verdict along its cause chain decides first.
    defers: bool = False

    @property
    def rule(self) -> str:
        """The row as `explain` shows it: ``botocore.exceptions.ClientError code=Throttling``."""
        if self.code is not None:
            return f"{self.target} code={self.code}"
        if self.status is not None:
            return f"{self.target} status={self.status}"
        return self.target


@dataclass(frozen=True, slots=True)
class Reader:
    """How to read one family of exceptions: ``family`` (a qualified class name) and its
    subclasses.

    Attributes:
        family: The root class of the family.
        read: Codes and HTTP status of an exception (see :data:`Reading`).
        hint: Seconds the server asked to wait (``Retry-After``...), or ``None``.
        inner: The exception this one wraps when the library keeps it somewhere other than
            ``__cause__``/``__context__`` (botocore's ``kwargs["error"]``), or ``None``.
        key: A cheap memo key for :meth:`Classifier.classify`: reads the raw values ``read``
            depends on, with their types, and raises on anything unusual.
        reads: The attributes ``key`` reads on the exception; ``key`` is only used for types
            on which reading them runs no untrusted code.
        spell: Rule keys for a code typed by a person (``resilience explain --code 111``
            -> ``("ECONNREFUSED", 111)``); by default the text, and its number if it is one.
    """

    family: str
    read: Callable[[BaseException], Reading]
    hint: Callable[[BaseException], float | None] | None = None
    inner: Callable[[BaseException], BaseException | None] | None = None
    key: Callable[[BaseException], Hashable] | None = None
    reads: tuple[str, ...] = ()
    spell: Callable[[str], tuple[Code, ...]] | None = None


@dataclass(frozen=True, slots=True)
class Catalog:
    """A named table of :class:`Entry` rows, and the readers of the families it knows.

    ``packages`` are the top-level packages whose code the readers may call (a property, a
    ``headers.get``); the packages the rows name are trusted without saying.
    """

    name: str
    description: str
    entries: tuple[Entry, ...]
    readers: tuple[Reader, ...] = ()
    packages: tuple[str, ...] = ()

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def trusted_packages(self) -> frozenset[str]:
        """Top-level packages named by the rows, plus :attr:`packages`."""
        named = {entry.target.split(".", 1)[0] for entry in self.entries}
        return frozenset(named | set(self.packages))


def by_class(target: str, category: Category | None, reason: str, *, defers: bool = False) -> Entry:
    """A row for a whole class (``category=None``: decided by its code and status rows).

    ``defers=True`` marks a generic wrapper: a more specific verdict along the exception's
    cause chain (``__cause__``, ``__context__``, or what its reader finds) decides first.
    """
    return Entry(target, category, reason, defers=defers)


def by_code(target: str, code: Code, category: Category, reason: str) -> Entry:
    """A row for one error code of a class (``ClientError`` code, MQTT ``rc``, errno name)."""
    return Entry(target, category, reason, code=code)


def by_status(target: str, status: Status, category: Category, reason: str) -> Entry:
    """A row for one HTTP status (``503``) or status family (``"5xx"``) of a class."""
    return Entry(target, category, reason, status=status)


def http_statuses(target: str, what: str = "the server") -> tuple[Entry, ...]:
    """The status rows every HTTP client shares, for ``target``, a class decided by the status
    of the response it carries: throttling, timeouts and 5xx retryable (as urllib3's
    ``Retry(status_forcelist=...)`` and botocore's standard mode retry 429 and 500-504), a
    refusal of credentials auth, any other 4xx, 501 and 505 permanent."""
    R, A, P = Category.RETRYABLE, Category.AUTH, Category.PERMANENT
    return (
        by_status(target, 408, R, f"HTTP 408: {what} timed out waiting for the request"),
        by_status(target, 425, R, "HTTP 425: too early, a replay was refused; send it again"),
        by_status(target, 429, R, "HTTP 429: too many requests, throttled; back off"),
        by_status(target, 401, A, "HTTP 401: unauthenticated; retrying sends the same credentials"),
        by_status(target, 403, A, "HTTP 403: forbidden"),
        by_status(target, 407, A, "HTTP 407: the proxy wants credentials"),
        by_status(target, 511, A, "HTTP 511: the network wants authentication (captive portal)"),
        by_status(target, 501, P, "HTTP 501: not implemented, and it won't be on a retry"),
        by_status(target, 505, P, "HTTP 505: the HTTP version is not supported"),
        by_status(target, "5xx", R, f"HTTP 5xx: {what} failed; it may recover"),
        by_status(target, "4xx", P, "HTTP 4xx: the request is wrong; fix it"),
    )


def load(name: str) -> Catalog:
    """Return the catalog called ``name``: a built-in one, or one installed by a package.

    Raises:
        ValueError: there is no catalog of that name.
    """
    if name in BUILTIN:
        module = importlib.import_module(f"resilience.catalogs.{name}")
        catalog: Catalog = module.CATALOG
        return catalog
    for catalog in installed():
        if catalog.name == name:
            return catalog
    names = ", ".join((*BUILTIN, *(c.name for c in installed())))
    msg = f"no catalog {name!r}; the catalogs are {names}"
    raise ValueError(msg)


def load_all() -> tuple[Catalog, ...]:
    """Every built-in catalog in :data:`BUILTIN` order, then every installed one by name."""
    return (*(load(name) for name in BUILTIN), *installed())


# --- the entry point registry -----------------------------------------------------------------

_registry_lock = threading.Lock()
_installed: tuple[Catalog, ...] | None = None
_errors: tuple[str, ...] = ()


def installed() -> tuple[Catalog, ...]:
    """The catalogs other packages register in the ``resilience.catalogs`` entry point group.

    Each entry point names a :class:`Catalog` or a module with a ``CATALOG``. They are read
    once per process, sorted by name; one that fails to load, is not a catalog, or reuses a
    taken name is left out, and :func:`installed_errors` says why (a broken plugin must not
    break every policy of the process).
    """
    global _installed, _errors
    if _installed is None:
        with _registry_lock:
            if _installed is None:
                _installed, _errors = _discover()
    return _installed


def installed_errors() -> tuple[str, ...]:
    """Why an installed catalog was left out, one line each (empty when none was)."""
    installed()
    return _errors


def _discover() -> tuple[tuple[Catalog, ...], tuple[str, ...]]:
    from importlib.metadata import entry_points  # noqa: PLC0415 - only when asked

    found: dict[str, Catalog] = {}
    errors: list[str] = []
    try:
        points = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda p: (p.name, p.value))
    except Exception as exc:  # noqa: BLE001 - broken metadata leaves the built-in catalogs
        return (), (f"reading the {ENTRY_POINT_GROUP!r} entry points failed: {exc!r}",)
    for point in points:
        where = f"entry point {point.name!r} ({point.value})"
        try:
            value = point.load()
        except Exception as exc:  # noqa: BLE001 - a plugin that can't load is reported
            errors.append(f"{where}: failed to load: {exc!r}")
            continue
        catalog = getattr(value, "CATALOG", value)
        if not isinstance(catalog, Catalog):
            errors.append(f"{where}: expected a Catalog, got {type(catalog).__name__}")
        elif catalog.name in BUILTIN or catalog.name in found:
            errors.append(f"{where}: the catalog name {catalog.name!r} is taken")
        else:
            found[catalog.name] = catalog
    return tuple(found[name] for name in sorted(found)), tuple(errors)
