"""Rule matching: the rules of a layer indexed by class, and the plan compiled for one type.

For an exception type the classifier walks its MRO, most specific class first, through the
user layer and then the catalog layer; at each class a code rule, then a status rule (exact,
then its ``"5xx"`` family), then the class rule. The classes that have rules, in that order,
are the type's *plan*, compiled once: matching an exception is then a few dict lookups with
the codes and status its family's :class:`~resilience.catalogs.Reader` reads.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field

from resilience.catalogs import Catalog, Code, Entry, Reader, Status
from resilience.categories import Category
from resilience.classify.verdict import Verdict

__all__ = ["Plan", "Rule", "Step", "Table"]


@dataclass(frozen=True, slots=True)
class Rule:
    """A verdict as matched: with whether it defers to a cause, or is only the default."""

    verdict: Verdict
    category: Category
    defers: bool = False
    default: bool = False
    #: A specific verdict: not a wrapper's, not the default.
    decides: bool = True

    @classmethod
    def of(cls, verdict: Verdict, *, defers: bool = False, default: bool = False) -> Rule:
        return cls(verdict, verdict.category, defers, default, not (defers or default))


@dataclass(slots=True)
class Table:
    """One layer of rules, indexed by qualified class name."""

    classes: dict[str, Rule]
    codes: dict[str, dict[Code, Rule]]
    statuses: dict[str, dict[Status, Rule]]

    @classmethod
    def build(cls, catalogs: Iterable[Catalog]) -> Table:
        table = cls({}, {}, {})
        for catalog in catalogs:
            for entry in catalog:
                table.add(entry, catalog.name)
        return table

    def add(self, entry: Entry, catalog: str) -> None:
        if entry.category is None:
            # A "decided by its codes" marker: register the class so the catalog lists it,
            # with no class-wide verdict.
            self.codes.setdefault(entry.target, {})
            return
        rule = Rule.of(
            Verdict(entry.category, entry.rule, catalog, entry.reason), defers=entry.defers
        )
        if entry.code is not None:
            self.codes.setdefault(entry.target, {}).setdefault(entry.code, rule)
        elif entry.status is not None:
            self.statuses.setdefault(entry.target, {}).setdefault(entry.status, rule)
        else:
            self.classes.setdefault(entry.target, rule)

    def knows(self, name: str) -> bool:
        return name in self.classes or name in self.codes or name in self.statuses


@dataclass(frozen=True, slots=True)
class Step:
    codes: Mapping[Code, Rule] | None
    statuses: Mapping[Status, Rule] | None
    rule: Rule | None


@dataclass(slots=True)
class Plan:
    """What the MRO walk found for one type: the steps that can match, in order.

    ``key`` is the family's memo key when it may be used on this type (``None`` otherwise);
    ``fast`` the rule every instance gets when no step reads a code or status.
    """

    name: str
    reader: Reader
    steps: tuple[Step, ...]
    default: Rule
    key: Callable[[BaseException], Hashable] | None
    fast: Rule | None = None
    #: ``fast``'s category when it needs no cause chain either: all `classify` reads.
    category: Category | None = None
    #: (category, hint, decided) for `assess` when the answer needs no reading at all.
    quick: tuple[Category, float | None, bool] | None = None
    #: memo key -> rule, for `classify`; bounded, as codes come off the wire.
    memo: dict[Hashable, Rule] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.steps:
            self.fast = self.default
        elif len(self.steps) == 1 and self.steps[0].codes is None and not self.steps[0].statuses:
            self.fast = self.steps[0].rule
        if self.fast is not None and not self.fast.defers:
            self.category = self.fast.category
            if self.reader.hint is None:
                self.quick = (self.fast.category, None, not self.fast.default)

    def resolve(self, codes: tuple[Code, ...], status: int | None) -> Rule:
        """The rule for an exception of this type with these codes and this status."""
        family = f"{status // 100}xx" if status is not None else ""
        for step in self.steps:
            if step.codes and codes:
                for code in codes:
                    rule = step.codes.get(code)
                    if rule is not None:
                        return rule
            if step.statuses and status is not None:
                rule = step.statuses.get(status) or step.statuses.get(family)
                if rule is not None:
                    return rule
            if step.rule is not None:
                return step.rule
        return self.default


def steps_for(
    tables: Iterable[tuple[Table, Mapping[str, tuple[str, ...]]]], names: tuple[str, ...]
) -> tuple[Step, ...]:
    """The steps of an MRO given by qualified ``names``, through each (table, aliases) layer.

    ``aliases`` maps a qualified name to the other names a layer's rules may use for it.
    """
    steps: list[Step] = []
    for table, aliases in tables:
        for name in names:
            for written in (name, *aliases.get(name, ())):
                codes = table.codes.get(written) or None
                statuses = table.statuses.get(written) or None
                rule = table.classes.get(written)
                if codes is None and statuses is None and rule is None:
                    continue
                steps.append(Step(codes, statuses, rule))
                if rule is not None:
                    return tuple(steps)
    return tuple(steps)
