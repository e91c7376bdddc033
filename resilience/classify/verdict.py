"""The answer of a classification, and the qualified names rules are written in."""

from __future__ import annotations

from dataclasses import dataclass

from resilience.categories import Category

__all__ = ["Verdict", "format_via", "qualified_name", "verdict_lines"]

_TYPE_MODULE = type.__dict__["__module__"].__get__
_TYPE_QUALNAME = type.__dict__["__qualname__"].__get__


def qualified_name(cls: type) -> str:
    """``module.QualName`` of a class, the form every rule uses.

    Read without running a metaclass's code; a class whose ``__module__`` was deleted or is
    not a string gets ``"?"`` for it, which no rule names.
    """
    try:
        module = _TYPE_MODULE(cls)
    except Exception:  # noqa: BLE001 - `del cls.__module__` leaves it unreadable
        module = None
    try:
        qualname = _TYPE_QUALNAME(cls)
    except Exception:  # noqa: BLE001 - not a real class
        qualname = "?"
    return f"{module if type(module) is str else '?'}.{qualname}"


def format_via(via: tuple[str, ...]) -> str:
    """A cause chain as one line, outermost first: ``A -> B -> C`` (empty for none)."""
    return " -> ".join(via)


@dataclass(frozen=True, slots=True)
class Verdict:
    """Why an exception got its category.

    Attributes:
        category: The answer.
        rule: The rule that matched, e.g. ``botocore.exceptions.ClientError code=Throttling``;
            ``"default"`` when none did.
        catalog: The catalog the rule came from (``"botocore"``), ``"user"`` for the
            classifier's own ``rules``, ``None`` for the default.
        reason: One line on why that rule says so.
        hint: Seconds the server asked the client to wait before trying again (HTTP
            ``Retry-After``, gRPC ``grpc-retry-pushback-ms``), or ``None``.
        via: When a generic wrapper deferred to its cause chain: the qualified class names of
            the chain from the exception itself to the one that decided, outermost first.
            Empty when the exception decided on its own.
    """

    category: Category
    rule: str
    catalog: str | None
    reason: str
    hint: float | None = None
    via: tuple[str, ...] = ()

    @property
    def chain(self) -> str:
        """:attr:`via` as one line, ``A -> B -> C``; empty when the exception decided alone."""
        return format_via(self.via)


def verdict_lines(verdict: Verdict) -> list[str]:
    """The verdict as ``resilience explain`` prints it, one ``label: value`` line each."""
    lines = [
        f"category: {verdict.category.value}",
        f"rule:     {verdict.rule}",
        f"catalog:  {verdict.catalog or '-'}",
        f"reason:   {verdict.reason}",
    ]
    if verdict.via:
        lines.append(f"via:      {verdict.chain}")
    if verdict.hint is not None:
        lines.append(f"hint:     wait {verdict.hint:g} s (the server's Retry-After or pushback)")
    return lines
