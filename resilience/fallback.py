"""Fallback: what to return when the call can't succeed."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from resilience.categories import Category

__all__ = ["Fallback"]

_ALL = tuple(Category)


def _takes_exception(func: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(func).parameters
    except (TypeError, ValueError):  # builtins without a signature take no such keyword
        return False
    return "exception" in parameters


@dataclass(frozen=True, slots=True)
class Fallback:
    """Call ``func`` instead when a call fails for good.

    ``func`` receives the call's own arguments, and, if it has a parameter named
    ``exception``, the failure too. It runs after retries run out, at once for failures
    that are never retried, and whenever an open circuit refuses the call (whatever ``on``
    says). An async policy awaits ``func`` when it is a coroutine function. A failing
    fallback raises its own exception, with the original as its ``__context__``.

    Args:
        func: The fallback.
        on: The categories it applies to; every category when omitted.

    Raises:
        TypeError: ``func`` is not callable, or ``on`` is not an iterable of categories.
        ValueError: ``on`` names an unknown category or is empty.
    """

    func: Callable[..., Any]
    on: Collection[Category | str] = field(default=_ALL, kw_only=True)
    takes_exception: bool = field(init=False, repr=False, compare=False)
    is_async: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not callable(self.func):
            msg = f"Fallback.func must be callable (got {self.func!r})"
            raise TypeError(msg)
        on: Any = self.on
        if isinstance(on, str | Category) or not isinstance(on, Iterable):
            msg = f"Fallback.on must be a list of categories (got {on!r})"
            raise TypeError(msg)
        categories = tuple(dict.fromkeys(Category.parse(c, where="Fallback.on") for c in on))
        if not categories:
            msg = "Fallback.on must name at least one category (omit it for all of them)"
            raise ValueError(msg)
        object.__setattr__(self, "on", categories)
        object.__setattr__(self, "takes_exception", _takes_exception(self.func))
        object.__setattr__(self, "is_async", inspect.iscoroutinefunction(inspect.unwrap(self.func)))

    def replace(self, **changes: Any) -> Fallback:
        """A copy with some fields changed (and checked again)."""
        return replace(self, **changes)

    def applies(self, category: Category) -> bool:
        """Whether this fallback handles failures of ``category``."""
        return category in self.on

    def arguments(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], exception: BaseException
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The arguments ``func`` is called with."""
        if self.takes_exception:
            return args, {**kwargs, "exception": exception}
        return args, kwargs
