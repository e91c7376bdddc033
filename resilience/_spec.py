"""Spec fields, declared once: the checks Python and YAML share, and the JSON Schema.

Every spec (``Retry``, ``Backoff``, ``Breaker``, ...) is a frozen dataclass whose fields carry
a :class:`Check` in their metadata (:func:`checked`): the kind of value, its bounds and a line of
documentation. ``check_fields`` runs those checks when a spec is built, so a Python caller
and a policy file get the same message; the YAML loader reads the same declarations to know
which keys a section has, and ``resilience schema`` turns them into the JSON Schema. A bound
is written in one place only.

A failed check raises :class:`SpecTypeError` (a ``TypeError``) or :class:`SpecValueError`
(a ``ValueError``). Both say ``Retry.attempts must be >= 1 (got 0)`` and carry ``spec``,
``field`` and ``detail`` (``must be >= 1 (got 0)``) as attributes, so the YAML loader reports
the key at fault from the error itself, never by reading its text.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

__all__ = [
    "Check",
    "SpecError",
    "SpecTypeError",
    "SpecValueError",
    "check_fields",
    "checked",
    "checks",
    "seconds",
]

Kind = Literal["count", "number", "seconds", "choice", "choices", "flag", "text", "spec", "other"]


class SpecError(Exception):
    """A spec argument is wrong: ``<spec>.<field> <detail>``.

    Attributes:
        spec: The spec's name, e.g. ``"Retry"``.
        field: The field at fault, e.g. ``"attempts"``.
        detail: What is wrong, without the spec and field: ``must be >= 1 (got 0)``.
        choices: The values allowed, when the field is a choice (for "did you mean").
    """

    def __init__(self, spec: str, field: str, detail: str, choices: tuple[str, ...] = ()) -> None:
        super().__init__(f"{spec}.{field} {detail}")
        self.spec = spec
        self.field = field
        self.detail = detail
        self.choices = choices


class SpecTypeError(SpecError, TypeError):
    """A spec argument has the wrong type."""


class SpecValueError(SpecError, ValueError):
    """A spec argument has the right type but a value out of range."""


def seconds(value: float | timedelta) -> float:
    """A duration as seconds: a number as is, a ``timedelta`` converted."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class Check:
    """What one spec field accepts.

    Attributes:
        kind: ``count`` (an int), ``number`` (a finite float), ``seconds`` (a number of
            seconds or a ``timedelta``, stored as float seconds), ``choice`` (one of
            ``choices``), ``choices`` (a list of them, at least one), ``flag`` (a bool),
            ``text`` (a non-empty str), ``spec`` (an instance of ``of``), ``other``
            (checked by the spec itself).
        doc: One line for the documentation and the JSON Schema.
        minimum: The bound, inclusive unless ``exclusive``.
        maximum: The upper bound, inclusive.
        nullable: ``None`` is allowed.
        choices: The values a choice may take.
        of: The class a ``spec`` field holds.
        yaml: Whether the field is a key of its YAML section.
        phrase: Says the bounds in words, replacing ``>= minimum`` in messages; for a list
            of choices, what the list holds (``categories``).
        item: For a list of choices, one of them in words (``category``).
    """

    kind: Kind
    doc: str
    minimum: float | None = None
    exclusive: bool = False
    maximum: float | None = None
    nullable: bool = False
    choices: tuple[str, ...] = ()
    of: type | None = None
    yaml: bool = True
    phrase: str = ""
    item: str = ""

    def bound(self) -> str:
        """The bounds, as a message says them: ``>= 1``, ``> 0``, ``from 0 to 1``."""
        if self.phrase:
            return self.phrase
        if self.minimum is not None and self.maximum is not None:
            return f"from {self.minimum:g} to {self.maximum:g}"
        if self.minimum is not None:
            return f"{'>' if self.exclusive else '>='} {self.minimum:g}"
        if self.maximum is not None:
            return f"<= {self.maximum:g}"
        return ""

    def apply(self, value: Any, spec: str, name: str) -> Any:
        """Check ``value`` for the field ``spec.name``; return it as stored.

        Raises:
            SpecTypeError: the value has the wrong type.
            SpecValueError: the value is out of range.
        """
        if value is None and self.nullable:
            return None
        handler = _HANDLERS[self.kind]
        return handler(self, value, spec, name)

    def _type_error(self, spec: str, name: str, expected: str, value: Any) -> SpecTypeError:
        nullable = ", or None" if self.nullable else ""
        return SpecTypeError(spec, name, f"must be {expected}{nullable} (got {value!r})")

    def _in_range(self, number: float) -> bool:
        if self.minimum is not None:
            if self.exclusive and not number > self.minimum:
                return False
            if not self.exclusive and not number >= self.minimum:
                return False
        return self.maximum is None or number <= self.maximum


def _count(check: Check, value: Any, spec: str, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise check._type_error(spec, name, f"an integer {check.bound()}".rstrip(), value)
    if not check._in_range(value):
        raise SpecValueError(spec, name, f"must be {check.bound()} (got {value!r})")
    return value


def _number(check: Check, value: Any, spec: str, name: str) -> float:
    if not _is_number(value):
        raise check._type_error(spec, name, "a number", value)
    number = float(value)
    if not math.isfinite(number):
        raise SpecValueError(spec, name, f"must be a finite number (got {value!r})")
    if not check._in_range(number):
        raise SpecValueError(spec, name, f"must be {check.bound()} (got {value!r})")
    return number


def _seconds(check: Check, value: Any, spec: str, name: str) -> float:
    if not (_is_number(value) or isinstance(value, timedelta)):
        raise check._type_error(spec, name, "a number of seconds or a timedelta", value)
    number = seconds(value)
    if not math.isfinite(number):
        raise SpecValueError(spec, name, f"must be a finite number of seconds (got {value!r})")
    if not check._in_range(number):
        raise SpecValueError(spec, name, f"must be {check.bound()} (got {value!r})")
    return number


def _allowed(check: Check) -> str:
    return ", ".join(repr(choice) for choice in check.choices)


def _choice(check: Check, value: Any, spec: str, name: str) -> str:
    if not isinstance(value, str) or value not in check.choices:
        detail = f"must be one of {_allowed(check)} (got {value!r})"
        raise SpecValueError(spec, name, detail, check.choices)
    return value


def _choices(check: Check, value: Any, spec: str, name: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple | set | frozenset):
        raise check._type_error(spec, name, "a list of " + (check.phrase or _allowed(check)), value)
    found: list[str] = []
    for item in value:
        text = item.strip().lower() if isinstance(item, str) else item
        if not isinstance(text, str) or text not in check.choices:
            detail = f"must be one of {_allowed(check)} (got {item!r})"
            raise SpecValueError(spec, name, detail, check.choices)
        if text not in found:
            found.append(text)
    if not found:
        what = f" {check.item}" if check.item else ""
        raise SpecValueError(spec, name, f"must name at least one{what} (omit it for all of them)")
    return tuple(found)


def _flag(check: Check, value: Any, spec: str, name: str) -> bool:
    if not isinstance(value, bool):
        raise check._type_error(spec, name, "true or false", value)
    return value


def _text(check: Check, value: Any, spec: str, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SpecValueError(spec, name, f"must be a non-empty string (got {value!r})")
    return value


def _spec(check: Check, value: Any, spec: str, name: str) -> Any:
    assert check.of is not None
    if not isinstance(value, check.of):
        article = "an" if check.of.__name__[0] in "AEIOU" else "a"
        nullable = " or None" if check.nullable else ""
        detail = f"must be {article} {check.of.__name__}{nullable} (got {type(value).__name__})"
        raise SpecTypeError(spec, name, detail)
    return value


def _other(check: Check, value: Any, spec: str, name: str) -> Any:
    return value


_HANDLERS: dict[Kind, Callable[[Check, Any, str, str], Any]] = {
    "count": _count,
    "number": _number,
    "seconds": _seconds,
    "choice": _choice,
    "choices": _choices,
    "flag": _flag,
    "text": _text,
    "spec": _spec,
    "other": _other,
}


def checked(kind: Kind, doc: str, **options: Any) -> dict[str, Check]:
    """The metadata of a checked spec field:
    ``field(default=3, metadata=checked("count", "...", minimum=1))``."""
    return {"check": Check(kind, doc, **options)}


def checks(cls: type) -> dict[str, Check]:
    """The checked fields of a spec class, in declaration order."""
    found: dict[str, Check] = {}
    for item in dataclasses.fields(cls):
        check = item.metadata.get("check")
        if isinstance(check, Check):
            found[item.name] = check
    return found


def check_fields(spec: Any, name: str | None = None) -> None:
    """Check every declared field of a spec instance, storing converted values.

    Raises:
        SpecTypeError, SpecValueError: the first field at fault, in declaration order.
    """
    owner = name or type(spec).__name__
    for field_name, check in checks(type(spec)).items():
        value = getattr(spec, field_name)
        stored = check.apply(value, owner, field_name)
        if stored is not value:
            object.__setattr__(spec, field_name, stored)
