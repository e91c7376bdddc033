"""User rules: how they are written, checked, and matched to the classes they name.

A rule names a class three ways: the class object itself, its qualified name
(``"botocore.exceptions.ReadTimeoutError"``, ``"tests.test_x.test_it.<locals>.Boom"`` for a
class defined in a function), or any public alias it is importable as
(``"aiohttp.ClientResponseError"`` for ``aiohttp.client_exceptions.ClientResponseError``).
Class objects become their qualified names at once; aliases are resolved lazily, from the
modules already imported (:func:`resolve_loaded`), so building a classifier imports nothing.
"""

from __future__ import annotations

import difflib
import importlib
import sys
from collections.abc import Mapping
from typing import Any

from resilience.catalogs import Entry, Status
from resilience.categories import Category
from resilience.classify.verdict import qualified_name

__all__ = ["RuleSpec", "check_name", "resolve_loaded", "rule_entries", "rule_warnings"]

#: A user rule: a category (or its value), or ``{"codes": {...}, "statuses": {...}}``.
RuleSpec = Category | str | Mapping[str, Mapping[Any, Category | str]]

_RULE_KEYS = ("codes", "statuses")
_LOCALS = "<locals>"
_TYPE_DICT = type.__dict__["__dict__"].__get__


class RuleError(Exception):
    """A user rule is wrong. ``path`` locates the entry at fault inside the rules mapping
    (``(name,)``, ``(name, "codes")``, ``(name, "codes", code)``); ``detail`` says what is
    wrong, without the place. The YAML loader turns ``path`` into the key and line at fault.
    """

    def __init__(self, where: str, path: tuple[Any, ...], detail: str) -> None:
        place = ".".join((where, *(str(part) for part in path)))
        super().__init__(f"{place}: {detail}")
        self.path = path
        self.detail = detail


class RuleTypeError(RuleError, TypeError):
    """A rule has the wrong shape."""


class RuleValueError(RuleError, ValueError):
    """A rule's name, code, status or category is not valid."""


def _name_problem(name: object) -> tuple[type[RuleError], str] | None:
    if isinstance(name, type):
        return None
    if not isinstance(name, str):
        return RuleTypeError, (
            f"a rule names a class by the class itself or its qualified name (a str), got {name!r}"
        )
    parts = name.split(".")
    if (
        len(parts) < 2
        or not parts[0].isidentifier()
        or not all(part.isidentifier() or part == _LOCALS for part in parts)
        or parts[-1] == _LOCALS
    ):
        return RuleValueError, (
            f"{name!r} is not a qualified class name; "
            "write it as module.ClassName, e.g. 'botocore.exceptions.ClientError'"
        )
    return None


def check_name(name: object, where: str) -> str:
    """A rule's class as the qualified name it is matched by.

    Raises:
        RuleTypeError: ``name`` is neither a class nor a string.
        RuleValueError: the string is not a dotted class name.
    """
    problem = _name_problem(name)
    if problem is not None:
        error, detail = problem
        raise error(where, (), detail)
    return qualified_name(name) if isinstance(name, type) else str(name)


def _status(key: object) -> Status | None:
    if isinstance(key, str):
        text = key.strip().lower()
        if len(text) == 3 and text[0] in "12345" and text[1:] == "xx":
            return text
        if text.isdigit():
            key = int(text)
    if isinstance(key, int) and not isinstance(key, bool) and 100 <= key <= 599:
        return key
    return None


def _category(value: object, where: str, path: tuple[Any, ...]) -> Category:
    if isinstance(value, Category):
        return value
    if isinstance(value, str):
        try:
            return Category(value.strip().lower())
        except ValueError:
            pass
    allowed = ", ".join(repr(c.value) for c in Category)
    raise RuleValueError(where, path, f"expected one of {allowed}, got {value!r}")


def _table_entries(target: str, kind: str, table: object, where: str, reason: str) -> list[Entry]:
    """The rows of one rule's ``codes`` or ``statuses`` table."""
    if not isinstance(table, Mapping):
        detail = f"expected a mapping to categories, got {type(table).__name__}"
        raise RuleTypeError(where, (target, kind), detail)
    entries: list[Entry] = []
    for key, value in table.items():
        at = (target, kind, key)
        category = _category(value, where, at)
        if kind == "codes":
            if isinstance(key, bool) or not isinstance(key, str | int) or key == "":
                detail = f"expected an error code (a non-empty string or an integer), got {key!r}"
                raise RuleValueError(where, at, detail)
            entries.append(Entry(target, category, reason, code=key))
            continue
        status = _status(key)
        if status is None:
            detail = f"expected an HTTP status (100-599) or a family such as '5xx', got {key!r}"
            raise RuleValueError(where, at, detail)
        entries.append(Entry(target, category, reason, status=status))
    return entries


def rule_entries(rules: Mapping[Any, RuleSpec], *, where: str = "rules") -> tuple[Entry, ...]:
    """Check user rules and turn them into catalog rows.

    Raises:
        RuleTypeError: a rule has the wrong shape (a ``TypeError``).
        RuleValueError: a name, code, status or category is not valid (a ``ValueError``);
            both name the entry at fault, in the message and as ``path``.
    """
    if not isinstance(rules, Mapping):
        detail = f"expected a mapping of class name to category, got {type(rules).__name__}"
        raise RuleTypeError(where, (), detail)
    entries: list[Entry] = []
    for name, spec in rules.items():
        problem = _name_problem(name)
        if problem is not None:
            error, detail = problem
            raise error(where, (name,), detail)
        target = qualified_name(name) if isinstance(name, type) else str(name)
        reason = "a rule of this classifier"
        if isinstance(spec, Category | str):
            entries.append(Entry(target, _category(spec, where, (target,)), reason))
            continue
        if not isinstance(spec, Mapping):
            detail = (
                "expected a category or a mapping with 'codes' and/or 'statuses', "
                f"got {type(spec).__name__}"
            )
            raise RuleTypeError(where, (target,), detail)
        unknown = sorted(str(k) for k in spec if k not in _RULE_KEYS)
        if unknown or not spec:
            detail = f"expected the keys 'codes' and/or 'statuses', got {unknown or 'none'}"
            raise RuleValueError(where, (target,), detail)
        for kind in _RULE_KEYS:
            table = spec.get(kind)
            if table is not None:
                entries.extend(_table_entries(target, kind, table, where, reason))
    return tuple(entries)


def normalize_rules(rules: Mapping[Any, RuleSpec]) -> dict[str, RuleSpec]:
    """The rules keyed by qualified name (class objects replaced), later keys winning."""
    return {check_name(name, "rules"): spec for name, spec in rules.items()}


# --- aliases ---------------------------------------------------------------------------------


def _walk(root: object, path: list[str]) -> object | None:
    """``root.a.b``, read from namespaces only (no module ``__getattr__``, no property)."""
    obj = root
    for part in path:
        try:
            namespace = _TYPE_DICT(obj) if isinstance(obj, type) else vars(obj)
        except TypeError:
            return None
        obj = namespace.get(part)
        if obj is None:
            return None
    return obj


def resolve_loaded(name: str) -> tuple[bool, type | None]:
    """The class ``name`` denotes, looked up in modules already imported (never importing).

    Returns ``(settled, cls)``: ``settled`` is false while no module of the name's prefixes is
    imported (ask again later); ``cls`` is the class, or ``None`` when the name denotes none
    (a ``<locals>`` name, or a class of a module that does not define it).
    """
    if _LOCALS in name:
        return True, None
    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        module = sys.modules.get(".".join(parts[:cut]))
        if module is None:
            continue
        found = _walk(module, parts[cut:])
        return True, found if isinstance(found, type) else None
    return False, None


def _import_prefix(name: str) -> tuple[str, object] | None:
    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            return module_name, importlib.import_module(module_name)
        except Exception:  # noqa: BLE001, S112 - not importable here: try a shorter prefix
            continue
    return None


def rule_warnings(rules: Mapping[Any, Any], *, where: str = "classify") -> list[str]:
    """Warnings about rules that name a class their module does not define.

    Imports each rule's module (the longest importable prefix of the name), as
    ``resilience check`` does; a name whose module does not import is not judged (the
    library may not be installed where the file is checked), nor is a ``<locals>`` name.
    """
    lines: list[str] = []
    for key in rules:
        if not isinstance(key, str) or _LOCALS in key:
            continue
        found = _import_prefix(key)
        if found is None:
            continue
        module_name, module = found
        rest = key[len(module_name) + 1 :].split(".")
        container = _walk(module, rest[:-1])
        if container is None:
            continue  # the class's own module does not import here: not judged
        obj = _walk(container, rest[-1:])
        if isinstance(obj, type) and issubclass(obj, BaseException):
            continue
        if obj is None:
            try:
                names = [n for n in vars(container) if not n.startswith("_")]
            except TypeError:
                names = []
            close = difflib.get_close_matches(rest[-1], names, n=1)
            where_in = ".".join((module_name, *rest[:-1]))
            hint = f"; did you mean {where_in}.{close[0]}?" if close else ""
            lines.append(
                f"{where}.{key}: module {module_name} has no class {'.'.join(rest)}{hint} "
                "(the rule never matches)"
            )
        else:
            lines.append(
                f"{where}.{key}: {key} is a {type(obj).__name__}, not an exception class "
                "(the rule never matches)"
            )
    return lines
