"""Exception -> Category: the one place that answers "what is this failure?".

A :class:`Classifier` holds two layers of rules, the caller's own ``rules`` and then the
catalogs. For an exception it compiles, once per type, a :class:`~resilience.classify.plan.Plan`
(the classes of its MRO that have rules, and the reader of its family), and matches the codes
and status that reader finds. A rule of a generic wrapper defers to the cause chain
(:mod:`resilience.classify.chain`). Nothing matches: the classifier's ``default``.

``classify`` is on the failure path of every retried call, so a type seen before costs a dict
lookup, and a coded error a memo lookup by its raw code. Nothing here ever raises or warns
for an exception it is shown: every foreign read goes through
:mod:`resilience.catalogs._read`, and a last ``except`` returns the default.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from resilience import catalogs as _catalogs
from resilience.catalogs import Catalog, Code, Reader, _read
from resilience.categories import Category
from resilience.classify import cache as _cache
from resilience.classify.chain import MAX_LINKS, next_link
from resilience.classify.plan import Plan, Rule, Table, steps_for
from resilience.classify.rules import RuleSpec, normalize_rules, resolve_loaded, rule_entries
from resilience.classify.verdict import Verdict, qualified_name

__all__ = ["Assessment", "Classifier", "default_classifier"]

_USER = "user"
_CAUSE = BaseException.__dict__["__cause__"].__get__
_TYPE_MRO = type.__dict__["__mro__"].__get__

#: What :meth:`Classifier.assess` returns: (category, server hint in seconds, a rule decided).
Assessment = tuple[Category, float | None, bool]


def _spell(reader: Reader, raw: str) -> tuple[Code, ...]:
    if reader.spell is not None:
        return reader.spell(raw)
    text = raw.strip()
    try:
        return (int(text), text)
    except ValueError:
        return (text,)


class Classifier:
    """Decides the :class:`Category` of exceptions. Immutable: :meth:`extend` makes a new one.

    Args:
        catalogs: Catalogs to consult, as :class:`~resilience.catalogs.Catalog` objects or
            catalog names (``"botocore"``); when omitted, every built-in catalog and every
            catalog installed through the ``resilience.catalogs`` entry point.
        rules: Your own rules, tried along the whole MRO before any catalog: a class (the
            class object, its qualified name, or a public alias such as
            ``"aiohttp.ClientResponseError"``) mapped to a category (``"retryable"``) or to
            ``{"codes": {code: category}, "statuses": {status: category}}``.
        default: The category of an exception no rule knows (fail fast: ``PERMANENT``).

    Raises:
        TypeError, ValueError: a rule, catalog or default is malformed; the message says which.
    """

    __slots__ = (
        "_aliases",
        "_cache",
        "_catalogs",
        "_default",
        "_layers",
        "_lock",
        "_modules_seen",
        "_pending",
        "_plans",
        "_readers",
        "_rules",
    )

    def __init__(
        self,
        catalogs: Iterable[Catalog | str] | None = None,
        rules: Mapping[Any, RuleSpec] | None = None,
        default: Category | str = Category.PERMANENT,
    ) -> None:
        if catalogs is None:
            loaded = _catalogs.load_all()
        else:
            if isinstance(catalogs, str | Catalog):
                msg = "catalogs: expected a list of catalogs or catalog names, got a single one"
                raise TypeError(msg)
            loaded = tuple(c if isinstance(c, Catalog) else _catalogs.load(c) for c in catalogs)
        user = rule_entries(rules or {})
        self._catalogs: tuple[Catalog, ...] = loaded
        self._rules: Mapping[str, RuleSpec] = MappingProxyType(normalize_rules(rules or {}))
        self._default = Rule.of(
            Verdict(Category.parse(default, where="default"), "default", None, "no rule matches"),
            default=True,
        )
        user_table = Table.build([Catalog(_USER, "rules given to the classifier", user)])
        #: qualified name -> the aliases user rules name it by (filled as aliases resolve).
        self._aliases: dict[str, tuple[str, ...]] = {}
        self._layers: tuple[tuple[Table, Mapping[str, tuple[str, ...]]], ...] = (
            (user_table, self._aliases),
            (Table.build(loaded), {}),
        )
        # Names that may be aliases (a `<locals>` name can only be a qualified name).
        self._pending = {name for name in self._rules if "<locals>" not in name}
        self._modules_seen = -1
        readers: dict[str, Reader] = {}
        for catalog in loaded:
            _read.trust(catalog.trusted_packages())
            for reader in catalog.readers:
                readers.setdefault(reader.family, reader)
        self._readers = readers
        self._cache: _cache.TypeCache[Plan] = _cache.TypeCache()
        self._plans = self._cache.plans
        self._lock = threading.RLock()
        self._resolve_aliases()

    # -- public ---------------------------------------------------------------------------

    @property
    def catalogs(self) -> tuple[Catalog, ...]:
        """The catalogs consulted, in order."""
        return self._catalogs

    @property
    def rules(self) -> Mapping[str, RuleSpec]:
        """The classifier's own rules (read-only), keyed by the names they were given as
        (a class object given as a key is shown by its qualified name)."""
        return self._rules

    @property
    def default(self) -> Category:
        """The category of exceptions no rule knows."""
        return self._default.category

    def classify(self, exc: BaseException) -> Category:
        """Return the category of ``exc``; never raises, never warns."""
        try:
            plan = self._plans.get(type(exc)) or self._compile(type(exc))
            category = plan.category
            if category is not None:
                return category
            key = plan.key
            if key is None:
                rule = self._match(plan, exc)
            else:  # _match's first step, inline: a coded error seen before
                try:
                    rule = plan.memo[key(exc)]
                except Exception:  # noqa: BLE001 - a code not seen yet, or an unusual value
                    rule = self._match(plan, exc)
            if rule.defers:
                return self._chain_category(exc, plan.reader, rule.category)
            return rule.category
        except Exception:  # noqa: BLE001 - e.g. a metaclass whose __hash__ fails
            return self.assess(exc)[0]

    def assess(self, exc: BaseException) -> Assessment:
        """``(category, hint, decided)`` of ``exc``, for the retry loop; never raises or warns.

        ``hint`` is the seconds the server asked to wait (as :attr:`Verdict.hint`), ``decided``
        is false when no rule matched and the category is only the classifier's default.
        Cause chains are followed as by :meth:`classify`; for a type seen before whose
        family carries no hint it costs about what :meth:`classify` does.
        """
        try:
            plan = self._plan(type(exc))
            quick = plan.quick
            if quick is not None:
                return quick
            rule = self._match(plan, exc)
            path: Sequence[BaseException] = (exc,)
            if rule.defers:
                rule, path = self._walk(exc, plan, rule)
            return rule.category, self._hint(path), not rule.default
        except Exception:  # noqa: BLE001 - never replace the caller's exception with ours
            return self._default.category, None, False

    def explain(self, exc: BaseException) -> Verdict:
        """Return the category of ``exc`` with the rule that decided it, why, the server's
        hint and the cause chain followed; never raises, never warns."""
        try:
            plan = self._plan(type(exc))
            rule = self._match(plan, exc)
            path: Sequence[BaseException] = (exc,)
            if rule.defers:
                rule, path = self._walk(exc, plan, rule)
            hint = self._hint(path)
            verdict = rule.verdict
            if hint is None and len(path) == 1:
                return verdict
            via = tuple(self._name(e) for e in path) if len(path) > 1 else ()
            return Verdict(
                verdict.category, verdict.rule, verdict.catalog, verdict.reason, hint, via
            )
        except Exception:  # noqa: BLE001 - never replace the caller's exception with ours
            return self._default.verdict

    def explain_name(
        self, mro: Iterable[str], *, code: str | None = None, status: int | None = None
    ) -> Verdict | None:
        """Explain a class known only by the qualified names of its MRO (for the CLI).

        Returns ``None`` when no rule names any class in ``mro``.
        """
        return self.explain_chain([tuple(mro)], code=code, status=status)

    def explain_chain(
        self,
        chain: Sequence[Iterable[str]],
        *,
        code: str | None = None,
        status: int | None = None,
    ) -> Verdict | None:
        """Explain a cause chain known by names: each link the qualified names of its MRO,
        outermost first; ``code`` and ``status`` belong to the innermost link.

        Returns ``None`` when no rule names any class of any link.
        """
        links = [tuple(names) for names in chain]
        self._resolve_aliases()
        if not any(self._knows(name) for names in links for name in names):
            return None
        rules: list[Rule] = []
        for index, names in enumerate(links):
            reader = next((self._readers[n] for n in names if n in self._readers), _read.GENERIC)
            plan = self._plan_for(names, reader)
            last = index == len(links) - 1
            codes = _spell(reader, code) if last and code is not None else ()
            rules.append(plan.resolve(codes, status if last else None))
        first = rules[0]
        if first.defers:
            for depth, rule in enumerate(rules[1:], start=1):
                if rule.decides:
                    verdict = rule.verdict
                    via = tuple(names[0] for names in links[: depth + 1])
                    return Verdict(
                        verdict.category, verdict.rule, verdict.catalog, verdict.reason, None, via
                    )
        return first.verdict

    def extend(self, rules: Mapping[Any, RuleSpec]) -> Classifier:
        """A new classifier with ``rules`` added to (and overriding) this one's rules."""
        rule_entries(rules)  # checked on their own first, so a message names the new rule
        merged = {**self._rules, **normalize_rules(rules)}
        return Classifier(catalogs=self._catalogs, rules=merged, default=self._default.category)

    def __repr__(self) -> str:
        names = ", ".join(c.name for c in self._catalogs)
        return (
            f"Classifier(catalogs=[{names}], rules={len(self._rules)}, "
            f"default={self._default.category.value!r})"
        )

    # -- matching -------------------------------------------------------------------------

    def _match(self, plan: Plan, exc: BaseException) -> Rule:
        if plan.fast is not None:
            return plan.fast
        key = plan.key
        if key is not None:
            try:
                return plan.memo[key(exc)]
            except Exception:  # noqa: BLE001, S110 - a key not seen yet, or an unusual value
                pass
        rule = plan.resolve(*plan.reader.read(exc))
        if key is not None and len(plan.memo) < _cache.MEMO_SIZE:
            with contextlib.suppress(Exception):  # an unusual value is never remembered
                plan.memo[key(exc)] = rule
        return rule

    def _chain_category(self, exc: BaseException, reader: Reader, own: Category) -> Category:
        """:meth:`_walk` for `classify`: the category only, no path kept, lookups inline."""
        plans = self._plans
        current = exc
        for _ in range(MAX_LINKS):
            link = _CAUSE(current)
            if link is None:
                link = next_link(current, reader)
                if link is None:
                    break
            plan = plans.get(type(link)) or self._plan(type(link))
            rule = plan.fast or self._match(plan, link)
            if rule.decides:
                return rule.category
            current, reader = link, plan.reader
        return own

    def _walk(self, exc: BaseException, plan: Plan, rule: Rule) -> tuple[Rule, list[BaseException]]:
        """The first specific rule inward from the wrapper ``exc``, and the path to it."""
        path = [exc]
        current, reader = exc, plan.reader
        for _ in range(MAX_LINKS):
            link = next_link(current, reader)
            if link is None:
                break
            path.append(link)
            inner = self._plan(type(link))
            found = self._match(inner, link)
            if found.decides:
                return found, path
            current, reader = link, inner.reader
        return rule, [exc]

    def _hint(self, path: Sequence[BaseException]) -> float | None:
        # The deciding exception's hint first, then its wrappers' from the inside out.
        for exc in reversed(path):
            hint = self._plan(type(exc)).reader.hint
            if hint is not None:
                seconds = hint(exc)
                if seconds is not None:
                    return seconds
        return None

    def _name(self, exc: BaseException) -> str:
        return self._plan(type(exc)).name

    def _plan(self, kind: type) -> Plan:
        try:
            plan = self._plans.get(kind)
        except Exception:  # noqa: BLE001 - a metaclass whose __hash__ fails: never cached
            return self._compile(kind)
        return plan or self._compile(kind)

    # -- compiling ------------------------------------------------------------------------

    def _knows(self, name: str) -> bool:
        for table, aliases in self._layers:
            if table.knows(name) or any(table.knows(alias) for alias in aliases.get(name, ())):
                return True
        return False

    def _resolve_aliases(self) -> None:
        """Match user rules written as aliases to the classes they name, from the modules
        imported so far (looked at again whenever more modules are imported)."""
        if not self._pending or len(sys.modules) == self._modules_seen:
            return
        with self._lock:
            self._modules_seen = len(sys.modules)
            found = False
            for name in sorted(self._pending):
                settled, cls = resolve_loaded(name)
                if not settled:
                    continue
                self._pending.discard(name)
                if cls is None:
                    continue
                canonical = qualified_name(cls)
                if canonical != name:
                    self._aliases[canonical] = (*self._aliases.get(canonical, ()), name)
                    found = True
            if found:
                self._cache.clear()

    def _plan_for(self, names: tuple[str, ...], reader: Reader) -> Plan:
        return Plan(names[0], reader, steps_for(self._layers, names), self._default, None)

    def _compile(self, kind: type) -> Plan:
        self._resolve_aliases()
        mro = _TYPE_MRO(kind)
        names = tuple(qualified_name(cls) for cls in mro)
        reader = next((self._readers[n] for n in names if n in self._readers), _read.GENERIC)
        plan = self._plan_for(names, reader)
        if (
            plan.fast is None
            and reader.key is not None
            and all(_read.plain(kind, name) for name in reader.reads)
        ):
            plan.key = reader.key
        with contextlib.suppress(Exception):  # an unhashable class: worked out every time
            self._cache.put(kind, plan)
        return plan


_default_lock = threading.Lock()
_default_classifier: Classifier | None = None


def default_classifier() -> Classifier:
    """The process-wide classifier over every built-in and installed catalog, built on first
    use."""
    global _default_classifier  # noqa: PLW0603 - one lazily built, never replaced, instance
    if _default_classifier is None:
        with _default_lock:
            if _default_classifier is None:
                _default_classifier = Classifier()
    return _default_classifier


def classify(exc: BaseException) -> Category:
    """The category of ``exc`` by the default classifier."""
    return (_default_classifier or default_classifier()).classify(exc)


def explain(exc: BaseException) -> Verdict:
    """Why ``exc`` gets its category from the default classifier."""
    return (_default_classifier or default_classifier()).explain(exc)
