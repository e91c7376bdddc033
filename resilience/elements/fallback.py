"""Fallback: what to return when a call can't succeed.

The fallback gets the call's own arguments (and the failure, if it has a parameter named
``exception``). It applies to every failure a rule classified, and to every refusal by the
policy's own elements (an open circuit, ...), whatever ``on`` says. A failure that only fell
to the classifier's default category (a bug such as ``NameError`` or ``KeyError`` in the
caller's own code, which no rule knows) propagates, unless ``on`` names that category
explicitly: a fallback must not hide a bug.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from typing import Any

from resilience._spec import Check, SpecTypeError
from resilience.categories import Category

__all__ = ["CATEGORIES", "ON", "Fallback", "is_async_callable"]

CATEGORIES: tuple[str, ...] = tuple(c.value for c in Category)
#: ``Fallback.on``, for Python and YAML alike.
ON = Check(
    "choices",
    "The categories of failure it handles (every category when omitted).",
    choices=CATEGORIES,
    phrase="categories",
    item="category",
)


def is_async_callable(func: object) -> bool:
    """Whether calling ``func`` gives an awaitable: a coroutine function, a partial or a
    method of one, or an object whose ``__call__`` is one."""
    target = inspect.unwrap(func) if callable(func) else func
    while True:
        if isinstance(target, staticmethod | classmethod):
            target = target.__func__
        elif hasattr(target, "func") and type(target).__name__ == "partial":
            target = target.func
        else:
            break
    if inspect.iscoroutinefunction(target):
        return True
    if inspect.isfunction(target) or inspect.ismethod(target) or isinstance(target, type):
        return False
    call = getattr(type(target), "__call__", None)  # noqa: B004 - the type's, not the object's
    return call is not None and inspect.iscoroutinefunction(call)


def _signature(func: Callable[..., Any]) -> inspect.Signature | None:
    try:
        return inspect.signature(func)
    except (TypeError, ValueError):  # builtins and C callables may have none
        return None


@dataclass(frozen=True, slots=True)
class Fallback:
    """Call ``func`` instead when a call fails for good.

    ``func`` receives the call's own arguments, and, if it has a parameter named
    ``exception``, the failure too (unless the call itself passes ``exception=``). It runs
    after retries run out, at once for failures that are never retried, and whenever one of
    the policy's own elements refuses the call (whatever ``on`` says). An async policy awaits
    ``func`` when it returns an awaitable. A failing fallback raises its own exception, with
    the original as its ``__context__``.

    Args:
        func: The fallback.
        on: The categories it applies to. Omitted: every failure a rule classified (not
            those that only fell to the classifier's default category).

    Raises:
        TypeError: ``func`` is not callable, or ``on`` is not a list of categories.
        ValueError: ``on`` names an unknown category or is empty.
    """

    func: Callable[..., Any]
    on: Collection[Category | str] = field(default=CATEGORIES, kw_only=True)
    explicit: bool = field(init=False, repr=False, compare=False)
    takes_exception: bool = field(init=False, repr=False, compare=False)
    #: Where ``exception`` stands among the positional parameters (a call that passes that
    #: many arguments fills it itself), or ``None``.
    exception_at: int | None = field(init=False, repr=False, compare=False)
    is_async: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not callable(self.func):
            raise SpecTypeError("Fallback", "func", f"must be callable (got {self.func!r})")
        explicit = self.on is not CATEGORIES
        names = ON.apply(self.on, "Fallback", "on")
        object.__setattr__(self, "on", tuple(Category(name) for name in names))
        object.__setattr__(self, "explicit", explicit)
        signature = _signature(self.func)
        takes = signature is not None and "exception" in signature.parameters
        object.__setattr__(self, "takes_exception", takes)
        at = None
        if signature is not None:
            positional = [p.name for p in signature.parameters.values() if p.kind in _POSITIONAL]
            at = positional.index("exception") if "exception" in positional else None
        object.__setattr__(self, "exception_at", at)
        object.__setattr__(self, "is_async", is_async_callable(self.func))

    def replace(self, **changes: Any) -> Fallback:
        """A copy with some fields changed (and checked again)."""
        return replace(self, **changes)

    def applies(self, category: Category, defaulted: bool = False) -> bool:
        """Whether this fallback handles a failure of ``category`` (``defaulted``: no rule
        decided it, only the classifier's default)."""
        if category not in self.on:
            return False
        return not defaulted or self.explicit

    def arguments(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], exception: BaseException
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The arguments ``func`` is called with: the call's own, and the failure as
        ``exception=`` unless the call gave an ``exception`` itself (by keyword or position)."""
        if not self.takes_exception or "exception" in kwargs:
            return args, kwargs
        if self.exception_at is not None and len(args) > self.exception_at:
            return args, kwargs
        return args, {**kwargs, "exception": exception}

    def check_against(self, fn: Callable[..., Any], where: str) -> None:
        """Refuse a fallback that can't take the arguments of every call of ``fn``.

        Raises:
            TypeError: it can't; the message names both and the parameter at fault.
        """
        mine, theirs = _signature(self.func), _signature(fn)
        if mine is None or theirs is None:
            return
        problem = _cannot_take(mine, theirs, self.takes_exception)
        if problem:
            name = getattr(self.func, "__qualname__", repr(self.func))
            msg = (
                f"{where}: the fallback {name}{mine} can't take the arguments of "
                f"{getattr(fn, '__qualname__', repr(fn))}{theirs}: {problem}"
            )
            raise TypeError(msg)


_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _cannot_take(
    fallback: inspect.Signature, fn: inspect.Signature, takes_exception: bool
) -> str | None:
    """What stops ``fallback`` from taking a call of ``fn``, or ``None``.

    Two calls are tried: every parameter of ``fn`` passed, and only its required ones
    (the others keep their defaults): the fallback must bind both.
    """
    every: tuple[list[Any], dict[str, Any]] = ([], {})
    required: tuple[list[Any], dict[str, Any]] = ([], {})
    for parameter in fn.parameters.values():
        if parameter.kind in _POSITIONAL:
            every[0].append(parameter.name)
            if parameter.default is inspect.Parameter.empty:  # required ones come first
                required[0].append(parameter.name)
        elif parameter.kind is inspect.Parameter.KEYWORD_ONLY:
            every[1][parameter.name] = parameter.name
            if parameter.default is inspect.Parameter.empty:
                required[1][parameter.name] = parameter.name
    for args, kwargs in (every, required):
        # The failure is added unless the call passes an `exception` of its own.
        own = "exception" in args or "exception" in kwargs
        extra = {"exception": None} if takes_exception and not own else {}
        try:
            fallback.bind(*args, **kwargs, **extra)
        except TypeError as exc:
            return str(exc)
    return None
