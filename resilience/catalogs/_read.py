"""The readers' toolbox: read foreign exceptions without ever raising or warning.

Classifying happens on the failure path of the caller's code, so it must never replace the
caller's exception with one of its own, nor print a warning (under ``-W error`` a warning *is*
an exception). Every read of a foreign object goes through here:

- :func:`attr` reads an attribute. When the attribute (or the ``__getattr__`` that would
  produce it) is defined by a *trusted* package (the standard library, or a package a catalog
  names) it is read directly; otherwise (a property of a test double, a class made at run
  time) it is read with warnings silenced. Any exception gives ``None``.
- :func:`as_int`, :func:`as_str`, :func:`as_status` take a value only of the exact type
  expected (a subclass is copied down to the plain type, without running its code), so an
  odd value (unhashable, a ``str`` subclass with its own ``__hash__``) is never looked up.
- :func:`header` finds an HTTP header in any of the mappings clients use, :func:`retry_after`
  reads a ``Retry-After`` value (seconds or an HTTP-date).

Attributes are never tested with ``isinstance`` on a foreign object (which may read its
``__class__``): ``issubclass(type(value), ...)`` instead.
"""

from __future__ import annotations

import contextlib
import math
import re
import sys
import threading
import time
import warnings
from collections.abc import Callable
from datetime import UTC
from typing import Any, TypeVar

from resilience.catalogs import Reader, Reading

__all__ = [
    "GENERIC",
    "as_int",
    "as_status",
    "as_str",
    "attr",
    "call",
    "cause_or_context",
    "first_exception",
    "header",
    "http_status",
    "plain",
    "quiet",
    "response_hint",
    "response_status",
    "retry_after",
    "trust",
    "trusted",
    "trusted_type",
]

T = TypeVar("T")

#: Top-level packages whose code readers may run unguarded: the standard library, and every
#: package a loaded catalog names (added by :func:`trust`).
_TRUSTED: set[str] = {*sys.stdlib_module_names, "builtins"}

#: (type, attribute) -> whether reading it runs trusted code only. Bounded: cleared when full.
_PLAIN: dict[tuple[type, str], bool] = {}
_PLAIN_SIZE = 4096

_quiet_lock = threading.RLock()
_TYPE_DICT = type.__dict__["__dict__"].__get__  # bypasses a metaclass's own __dict__
_TYPE_MRO = type.__dict__["__mro__"].__get__
_TYPE_MODULE = type.__dict__["__module__"].__get__


def trust(packages: frozenset[str] | set[str] | tuple[str, ...]) -> None:
    """Trust the code of these top-level packages (a catalog's library)."""
    _TRUSTED.update(packages)


def _module_of(cls: type) -> str:
    try:
        module = _TYPE_MODULE(cls)
    except Exception:  # noqa: BLE001 - a class whose __module__ was deleted
        return ""
    return module if type(module) is str else ""


def trusted(cls: type) -> bool:
    """Whether ``cls`` was defined by a trusted package."""
    return _module_of(cls).partition(".")[0] in _TRUSTED


def _owner(kind: type, name: str) -> type | None:
    """The class along ``kind``'s MRO whose own namespace defines ``name`` (no code runs)."""
    for cls in _TYPE_MRO(kind):
        if name in _TYPE_DICT(cls):
            return cls  # type: ignore[no-any-return]
    return None


def _check_plain(kind: type, name: str) -> bool:
    getattribute = _owner(kind, "__getattribute__")
    if getattribute is not None and not trusted(getattribute):
        return False
    owner = _owner(kind, name)
    if owner is not None:
        return trusted(owner)
    getattr_hook = _owner(kind, "__getattr__")
    return getattr_hook is None or trusted(getattr_hook)


def plain(kind: type, name: str) -> bool:
    """Whether reading ``name`` on an instance of ``kind`` runs trusted code only."""
    try:
        key = (kind, name)
        found = _PLAIN.get(key)
        if found is None:
            found = _check_plain(kind, name)
            if len(_PLAIN) >= _PLAIN_SIZE:
                _PLAIN.clear()
            _PLAIN[key] = found
    except Exception:  # noqa: BLE001 - a metaclass whose __hash__ fails: treat as foreign
        return False
    return found


def quiet(function: Callable[..., T], *args: Any) -> T | None:
    """``function(*args)`` with warnings silenced; ``None`` if it raises.

    For foreign code only (a test double's property): warnings filters are process-wide, so
    the calls are serialised, and trusted code is called directly instead.
    """
    try:
        with _quiet_lock, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return function(*args)
    except Exception:  # noqa: BLE001 - whatever foreign code raises means "not there"
        return None


def attr(obj: object, name: str) -> Any:
    """``obj.name``, or ``None`` when it is missing or reading it fails; never warns."""
    try:
        if plain(type(obj), name):
            return getattr(obj, name, None)
    except Exception:  # noqa: BLE001 - a trusted property that fails: no value
        return None
    return quiet(getattr, obj, name, None)


def trusted_type(kind: type) -> bool:
    """Whether every class of ``kind``'s MRO was defined by a trusted package."""
    return all(trusted(cls) for cls in _TYPE_MRO(kind))


def call(obj: object, name: str, *args: Any) -> Any:
    """``obj.name(*args)``, or ``None`` when there is no such method or it fails.

    Called directly only when every class of ``obj``'s type is trusted: an inherited method
    such as ``Mapping.get`` runs the subclass's own ``__getitem__``.
    """
    try:
        if trusted_type(type(obj)):
            method = getattr(obj, name, None)
            return method(*args) if callable(method) else None
    except Exception:  # noqa: BLE001 - a trusted method that fails: no value
        return None

    def invoke() -> Any:
        method = getattr(obj, name, None)
        return method(*args) if callable(method) else None

    return quiet(invoke)


def as_int(value: object) -> int | None:
    """``value`` as a plain ``int`` if it is one (``bool`` is not), else ``None``."""
    kind = type(value)
    if kind is int:
        return value  # type: ignore[return-value]
    if kind is bool or not issubclass(kind, int):
        return None
    return int.__int__(value)  # type: ignore[arg-type] # an IntEnum: its plain value, no code


def as_str(value: object) -> str | None:
    """``value`` as a plain ``str`` if it is one, else ``None``."""
    kind = type(value)
    if kind is str:
        return value  # type: ignore[return-value]
    if issubclass(kind, str):
        return str.__str__(value)  # a StrEnum: its plain text
    return None


def as_status(value: object) -> int | None:
    """``value`` if it is an HTTP status (an int from 100 to 599), else ``None``."""
    number = as_int(value)
    return number if number is not None and 100 <= number <= 599 else None


def http_status(exc: BaseException) -> int | None:
    """The HTTP status an exception carries, wherever common client libraries put it."""
    for name in ("status_code", "status", "http_status_code", "code"):
        status = as_status(attr(exc, name))
        if status is not None:
            return status
    response = attr(exc, "response")
    if response is not None and type(response) is not dict:
        for name in ("status_code", "status"):
            status = as_status(attr(response, name))
            if status is not None:
                return status
    return None


def header(headers: object, name: str) -> str | None:
    """The value of header ``name`` (lower case) in any mapping HTTP clients use, or ``None``.

    A plain ``dict`` (botocore's ``HTTPHeaders``) is searched by lower-cased key; anything
    else is asked ``headers.get(name)``, which every client's header mapping answers without
    regard to case.
    """
    if headers is None:
        return None
    if type(headers) is dict:
        value = headers.get(name)
        if value is None:
            for key, item in headers.items():
                if type(key) is str and key.lower() == name:
                    value = item
                    break
    else:
        value = call(headers, "get", name)
    if type(value) is bytes:
        return value.decode("latin-1")
    if type(value) is list and value:  # a raw multi-valued header: the first one
        value = value[0]
    return as_str(value)


_SECONDS = re.compile(r"\s*(\d{1,12}(?:\.\d{1,6})?)\s*")


def retry_after(value: object, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delay-seconds or an HTTP-date.

    As urllib3's ``Retry.parse_retry_after``: a date in the past means 0. Unlike it, a decimal
    (``"1.5"``, which some servers send) is accepted, and anything unreadable gives ``None``
    rather than an error.
    """
    text = as_str(value)
    if text is None:
        return None
    found = _SECONDS.fullmatch(text)
    if found:
        return float(found.group(1))
    if len(text) > 64:
        return None
    with contextlib.suppress(Exception):
        import email.utils  # noqa: PLC0415 - only for a Retry-After that is a date

        when = email.utils.parsedate_to_datetime(text)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - now()
        if math.isfinite(seconds):
            return max(0.0, seconds)
    return None


_CAUSE = BaseException.__dict__["__cause__"].__get__
_CONTEXT = BaseException.__dict__["__context__"].__get__


def cause_or_context(exc: BaseException) -> BaseException | None:
    """``exc.__cause__``, else ``exc.__context__`` even under ``raise ... from None``: for a
    library that converts errors that way and so hides what they were."""
    found: BaseException | None = _CAUSE(exc)
    if found is None:
        found = _CONTEXT(exc)
    return found


def _generic(exc: BaseException) -> Reading:
    codes: list[str | int] = []
    for name in ("error_code", "code"):
        value = as_str(attr(exc, name))
        if value:
            codes.append(value)
    return tuple(codes), http_status(exc)


def _generic_hint(exc: BaseException) -> float | None:
    response = attr(exc, "response")
    if response is not None and type(response) is not dict:
        return response_hint(response)
    return None


#: How an exception of a family no catalog reads is read: string ``error_code``/``code``
#: attributes, an HTTP status wherever common clients put it, and the ``Retry-After`` of a
#: ``response`` it carries (a urllib3 ``HTTPResponse`` an application attached, say).
GENERIC = Reader("builtins.BaseException", _generic, hint=_generic_hint)


def response_status(response: object) -> int | None:
    """The status of an HTTP response object of any client (``status_code`` or ``status``)."""
    if response is None:
        return None
    status = as_status(attr(response, "status_code"))
    return status if status is not None else as_status(attr(response, "status"))


def response_hint(response: object) -> float | None:
    """The ``Retry-After`` of an HTTP response object of any client, in seconds."""
    if response is None:
        return None
    return retry_after(header(attr(response, "headers"), "retry-after"))


def first_exception(values: object) -> BaseException | None:
    """The first exception in a tuple (``exc.args``), for wrappers that keep it there."""
    if type(values) is not tuple:
        return None
    for value in values[:4]:
        if issubclass(type(value), BaseException):
            return value  # type: ignore[no-any-return]
    return None
