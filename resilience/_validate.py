"""Argument checks shared by every spec, so Python and YAML get the same messages."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

__all__ = ["check_choice", "check_int", "check_number", "check_seconds", "seconds"]


def seconds(value: float | timedelta) -> float:
    """A duration as seconds: ``float`` as is, ``timedelta`` converted."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


def check_seconds(
    value: Any, name: str, *, allow_zero: bool = True, allow_none: bool = False
) -> float | None:
    """Check a duration (a number of seconds or a ``timedelta``) and return it as seconds.

    Raises:
        TypeError: not a number or ``timedelta``.
        ValueError: negative, zero where not allowed, NaN or infinite.
    """
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | timedelta):
        kind = "a number of seconds or a timedelta" + (", or None" if allow_none else "")
        msg = f"{name} must be {kind} (got {value!r})"
        raise TypeError(msg)
    number = seconds(value)
    if math.isnan(number) or math.isinf(number):
        msg = f"{name} must be a finite number of seconds (got {value!r})"
        raise ValueError(msg)
    if number < 0 or (number == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        msg = f"{name} must be {bound} (got {value!r})"
        raise ValueError(msg)
    return number


def check_int(value: Any, name: str, *, minimum: int = 1) -> int:
    """Check an integer count.

    Raises:
        TypeError: not an integer.
        ValueError: below ``minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"{name} must be an integer >= {minimum} (got {value!r})"
        raise TypeError(msg)
    if value < minimum:
        msg = f"{name} must be >= {minimum} (got {value!r})"
        raise ValueError(msg)
    return value


def check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    """Check that ``value`` is one of ``choices``.

    Raises:
        ValueError: it is not; the message lists what is allowed.
    """
    if not isinstance(value, str) or value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        msg = f"{name} must be one of {allowed} (got {value!r})"
        raise ValueError(msg)
    return value


def check_number(value: Any, name: str) -> float:
    """Check a finite number (not a bool) and return it as a float.

    Raises:
        TypeError: not a number.
        ValueError: NaN or infinite.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"{name} must be a number (got {value!r})"
        raise TypeError(msg)
    number = float(value)
    if not math.isfinite(number):
        msg = f"{name} must be a finite number (got {value!r})"
        raise ValueError(msg)
    return number
