"""Exception -> Category: the one place that answers "what is this failure?".

A :class:`Classifier` holds two layers of rules, the caller's own ``rules`` and then the built-in
catalogs. For an exception it walks ``type(exc).__mro__``, most specific class first, through the
user layer and then the catalog layer; at each class it tries, in order, a rule for the
exception's error code, a rule for its HTTP status (exact, then the ``"5xx"`` family), and a rule
for the class as a whole. The first match decides. Nothing matches: the classifier's
``default``.

What the walk finds for a type depends only on the type, so it is compiled once into a
``_Plan`` and cached per type; exceptions themselves can't be weakly referenced, and codes are
looked up in the plan's dicts, so no per-instance state is ever kept. ``classify`` also keeps,
per plan, the answer for each raw code and status it has met (a bounded memo), so a coded error
seen before costs a few subscripts and a dict lookup.
"""

from __future__ import annotations

import contextlib
import errno as _errno
import re
import socket as _socket
import threading
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any

from resilience import catalogs as _catalogs
from resilience.catalogs import Catalog, Code, Entry, Status
from resilience.categories import Category

__all__ = ["Classifier", "RuleSpec", "Verdict", "classify", "explain", "qualified_name"]

#: A user rule: a category (or its value), or ``{"codes": {...}, "statuses": {...}}``.
RuleSpec = Category | str | Mapping[str, Mapping[Any, Category | str]]

_USER = "user"
#: How many (code, status) answers `classify` remembers per exception type.
_MEMO_SIZE = 1024
_RULE_KEYS = ("codes", "statuses")


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
    """

    category: Category
    rule: str
    catalog: str | None
    reason: str


def qualified_name(cls: type) -> str:
    """``module.QualName`` of a class, the form every rule uses."""
    return f"{cls.__module__}.{cls.__qualname__}"


# --- looking inside an exception -------------------------------------------------------------
#
# Extractors return (codes, status): the keys to try against code rules, most specific first,
# and the HTTP status if the exception carries one. Which extractor applies is a property of the
# type (the first family root in its MRO), so it is chosen once, in the plan.

Extracted = tuple[tuple[Code, ...], int | None]
Extractor = Callable[[BaseException], Extracted]

_ERRNO_NAMES: dict[int, str] = dict(_errno.errorcode)
_EAI_NAMES: dict[int, str] = {
    getattr(_socket, name): name for name in dir(_socket) if name.startswith("EAI_")
}


def _as_status(value: object) -> int | None:
    if type(value) is int or (isinstance(value, int) and not isinstance(value, bool)):
        return value if 100 <= value <= 599 else None
    return None


def http_status(exc: BaseException) -> int | None:
    """The HTTP status an exception carries, wherever common client libraries put it."""
    for attr in ("status_code", "status", "http_status_code", "code"):
        status = _as_status(getattr(exc, attr, None))
        if status is not None:
            return status
    response = getattr(exc, "response", None)
    if response is not None and not isinstance(response, Mapping):
        for attr in ("status_code", "status"):
            status = _as_status(getattr(response, attr, None))
            if status is not None:
                return status
    return None


def _aws(exc: BaseException) -> Extracted:
    # Plain subscripts, not isinstance(..., Mapping): an ABC check costs more than the rest of
    # the classification, and `_aws_key` must read exactly what this reads.
    response: Any = getattr(exc, "response", None)
    try:
        code = response["Error"]["Code"]
    except (LookupError, TypeError):
        code = None
    try:
        status = response["ResponseMetadata"]["HTTPStatusCode"]
    except (LookupError, TypeError):
        status = None
    return ((code,) if isinstance(code, str) and code else ()), _as_status(status)


def mqtt_code(rc: object) -> Code | None:
    """The rule key of an MQTT ``rc``: paho ``ReasonCode`` -> its value, ``MQTTErrorCode`` ->
    its name (``MQTT_ERR_NO_CONN`` is 4, and 4 alone would read as CONNACK "bad password"),
    a plain int (MQTT 3.1.1 CONNACK) -> itself."""
    if rc is None or isinstance(rc, bool):
        return None
    if isinstance(rc, Enum):
        return rc.name
    if isinstance(rc, int):
        return rc
    value = getattr(rc, "value", None)  # paho ReasonCode: unhashable, and int() fails on it
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def _mqtt(exc: BaseException) -> Extracted:
    code = mqtt_code(getattr(exc, "rc", None))
    return ((code,) if code is not None else ()), None


def _errno_of(exc: BaseException) -> Extracted:
    number = getattr(exc, "errno", None)
    if not isinstance(number, int) or isinstance(number, bool):
        return (), None
    name = _ERRNO_NAMES.get(number)
    return ((name, number) if name else (number,)), None


def _gai(exc: BaseException) -> Extracted:
    number = getattr(exc, "errno", None)
    if not isinstance(number, int) or isinstance(number, bool):
        return (), None
    name = _EAI_NAMES.get(number)
    return ((name, number) if name else (number,)), None


def _generic(exc: BaseException) -> Extracted:
    codes: list[Code] = []
    for attr in ("error_code", "code"):
        value = getattr(exc, attr, None)
        if isinstance(value, str) and value:
            codes.append(value)
    return tuple(codes), http_status(exc)


# Memo keys. `classify` remembers each exception type's answer per key, so a key must be cheap
# (no ABC isinstance checks, no normalising) and must determine what the family's extractor
# reads. Each keyer reads the raw values and their types (so 400 and 400.0, or MQTT_ERR_NO_CONN
# and 4, get different keys), and raises for anything unusual: such an exception takes the
# full path, unremembered. Families without a keyer are keyed by their extraction.

MemoKey = Hashable
Keyer = Callable[[BaseException], MemoKey]


def _aws_key(exc: BaseException) -> MemoKey:
    # The subscripts `_aws` makes. Codes that compare equal read the same (a str, or no
    # code); statuses may not (400 and 400.0), hence the status's class.
    response = exc.response  # type: ignore[attr-defined]
    status = response["ResponseMetadata"]["HTTPStatusCode"]
    return response["Error"]["Code"], status, status.__class__


def _mqtt_key(exc: BaseException) -> MemoKey:
    rc = exc.rc  # type: ignore[attr-defined]
    kind = rc.__class__
    # ReasonCode and MQTTErrorCode by value (a ReasonCode itself is unhashable).
    return kind, rc if kind is int else rc.value


_ENGINEIO_STATUS = re.compile(r"\bstatus code (\d{3})\b")


def _engineio(exc: BaseException) -> Extracted:
    # engineio puts a refused handshake's status in its message (polling), or raises while
    # handling the HTTP client's own error, which carries it (WebSocket).
    message = exc.args[0] if exc.args and isinstance(exc.args[0], str) else ""
    found = _ENGINEIO_STATUS.search(message)
    if found:
        return (), int(found.group(1))
    status = http_status(exc)
    cause = exc.__cause__ or exc.__context__
    if status is None and cause is not None:
        status = http_status(cause)
    return (), status


#: Family roots, by qualified name: the first one in a type's MRO says how to read its code.
_EXTRACTORS: dict[str, Extractor] = {
    "botocore.exceptions.ClientError": _aws,
    "aiomqtt.exceptions.MqttCodeError": _mqtt,
    "socket.gaierror": _gai,
    "urllib.error.HTTPError": _generic,
    "engineio.exceptions.ConnectionError": _engineio,
    "builtins.OSError": _errno_of,
}


_KEYERS: dict[Extractor, Keyer] = {_aws: _aws_key, _mqtt: _mqtt_key}


def normalize_code(family: str | None, raw: str) -> tuple[Code, ...]:
    """Rule keys for a code typed by a person (``--code 135``, ``--code ECONNREFUSED``)."""
    text = raw.strip()
    try:
        number = int(text)
    except ValueError:
        return (text,)
    if family == "builtins.OSError" and number in _ERRNO_NAMES:
        return (_ERRNO_NAMES[number], number)
    if family == "socket.gaierror" and number in _EAI_NAMES:
        return (_EAI_NAMES[number], number)
    return (number, text)


# --- compiled rules --------------------------------------------------------------------------


@dataclass(slots=True)
class _Table:
    """One layer of rules, indexed by qualified class name."""

    classes: dict[str, Verdict]
    codes: dict[str, dict[Code, Verdict]]
    statuses: dict[str, dict[Status, Verdict]]

    @classmethod
    def build(cls, catalogs: Iterable[Catalog]) -> _Table:
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
        verdict = Verdict(entry.category, entry.rule, catalog, entry.reason)
        if entry.code is not None:
            self.codes.setdefault(entry.target, {}).setdefault(entry.code, verdict)
        elif entry.status is not None:
            self.statuses.setdefault(entry.target, {}).setdefault(entry.status, verdict)
        else:
            self.classes.setdefault(entry.target, verdict)

    def knows(self, name: str) -> bool:
        return name in self.classes or name in self.codes or name in self.statuses


@dataclass(frozen=True, slots=True)
class _Step:
    codes: Mapping[Code, Verdict] | None
    statuses: Mapping[Status, Verdict] | None
    verdict: Verdict | None


@dataclass(frozen=True, slots=True)
class _Plan:
    """What the MRO walk found for one type: the steps that can match, in order."""

    extractor: Extractor
    steps: tuple[_Step, ...]
    default: Verdict
    key: Keyer
    #: memo key -> category, for `classify`; bounded, as codes come off the wire.
    memo: dict[MemoKey, Category] = field(default_factory=dict, compare=False)

    def resolve(self, codes: tuple[Code, ...], status: int | None) -> Verdict:
        family = f"{status // 100}xx" if status is not None else None
        for step in self.steps:
            if step.codes and codes:
                for code in codes:
                    verdict = step.codes.get(code)
                    if verdict is not None:
                        return verdict
            if step.statuses and status is not None:
                verdict = step.statuses.get(status) or step.statuses.get(family or "")
                if verdict is not None:
                    return verdict
            if step.verdict is not None:
                return step.verdict
        return self.default


def _check_name(name: object, where: str) -> str:
    if not isinstance(name, str):
        msg = f"{where}: a rule names a class by its qualified name (a str), got {name!r}"
        raise TypeError(msg)
    parts = name.split(".")
    if len(parts) < 2 or not all(part.isidentifier() for part in parts):
        msg = (
            f"{where}: {name!r} is not a qualified class name; "
            "write it as module.ClassName, e.g. 'botocore.exceptions.ClientError'"
        )
        raise ValueError(msg)
    return name


def _check_status(key: object, where: str) -> Status:
    if isinstance(key, str):
        text = key.strip().lower()
        if len(text) == 3 and text[0] in "12345" and text[1:] == "xx":
            return text
        if text.isdigit():
            key = int(text)
    if isinstance(key, int) and not isinstance(key, bool) and 100 <= key <= 599:
        return key
    msg = f"{where}: expected an HTTP status (100-599) or a family such as '5xx', got {key!r}"
    raise ValueError(msg)


def _check_code(key: object, where: str) -> Code:
    if isinstance(key, bool) or not isinstance(key, str | int) or key == "":
        msg = f"{where}: expected an error code (a non-empty string or an integer), got {key!r}"
        raise ValueError(msg)
    return key


def rule_entries(rules: Mapping[str, RuleSpec], *, where: str = "rules") -> tuple[Entry, ...]:
    """Check user rules and turn them into catalog rows.

    Raises:
        TypeError: a rule has the wrong shape.
        ValueError: a name, code, status or category is not valid; the message names the rule.
    """
    if not isinstance(rules, Mapping):
        msg = f"{where}: expected a mapping of class name to category, got {type(rules).__name__}"
        raise TypeError(msg)
    entries: list[Entry] = []
    for name, spec in rules.items():
        here = f"{where}.{name}"
        target = _check_name(name, where)
        reason = "a rule of this classifier"
        if isinstance(spec, Category | str):
            entries.append(Entry(target, Category.parse(spec, where=here), reason))
            continue
        if not isinstance(spec, Mapping):
            msg = (
                f"{here}: expected a category or a mapping with 'codes' and/or 'statuses', "
                f"got {type(spec).__name__}"
            )
            raise TypeError(msg)
        unknown = sorted(str(k) for k in spec if k not in _RULE_KEYS)
        if unknown or not spec:
            msg = f"{here}: expected the keys 'codes' and/or 'statuses', got {unknown or 'none'}"
            raise ValueError(msg)
        for kind in _RULE_KEYS:
            table = spec.get(kind)
            if table is None:
                continue
            if not isinstance(table, Mapping):
                msg = f"{here}.{kind}: expected a mapping to categories, got {type(table).__name__}"
                raise TypeError(msg)
            for key, value in table.items():
                at = f"{here}.{kind}.{key}"
                category = Category.parse(value, where=at)
                if kind == "codes":
                    entries.append(Entry(target, category, reason, code=_check_code(key, at)))
                else:
                    entries.append(Entry(target, category, reason, status=_check_status(key, at)))
    return tuple(entries)


class Classifier:
    """Decides the :class:`Category` of exceptions. Immutable: :meth:`extend` makes a new one.

    Args:
        catalogs: Catalogs to consult, as :class:`~resilience.catalogs.Catalog` objects or
            built-in names (``"botocore"``); every built-in catalog when omitted.
        rules: Your own rules, tried along the whole MRO before any catalog: a qualified class
            name mapped to a category (``"retryable"``) or to
            ``{"codes": {code: category}, "statuses": {status: category}}``.
        default: The category of an exception no rule knows (fail fast: ``PERMANENT``).

    Raises:
        TypeError, ValueError: a rule, catalog or default is malformed; the message says which.
    """

    __slots__ = ("_catalogs", "_default", "_fast", "_lock", "_plans", "_rules", "_tables")

    def __init__(
        self,
        catalogs: Iterable[Catalog | str] | None = None,
        rules: Mapping[str, RuleSpec] | None = None,
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
        self._rules: Mapping[str, RuleSpec] = MappingProxyType(dict(rules or {}))
        self._default = Verdict(
            Category.parse(default, where="default"), "default", None, "no rule matches"
        )
        self._tables = (
            _Table.build([Catalog(_USER, "rules given to the classifier", user)]),
            _Table.build(loaded),
        )
        self._plans: dict[type, _Plan] = {}
        self._fast: dict[type, Category] = {}
        self._lock = threading.Lock()

    # -- public ---------------------------------------------------------------------------

    @property
    def catalogs(self) -> tuple[Catalog, ...]:
        """The catalogs consulted, in order."""
        return self._catalogs

    @property
    def rules(self) -> Mapping[str, RuleSpec]:
        """The classifier's own rules (read-only)."""
        return self._rules

    @property
    def default(self) -> Category:
        """The category of exceptions no rule knows."""
        return self._default.category

    def classify(self, exc: BaseException) -> Category:
        """Return the category of ``exc``."""
        kind = type(exc)
        category = self._fast.get(kind)
        if category is not None:
            return category
        plan = self._plans.get(kind) or self._compile(kind)
        try:
            return plan.memo[plan.key(exc)]
        except (AttributeError, LookupError, TypeError):
            pass  # a key not seen yet, or an unusual exception: the full path
        category = plan.resolve(*plan.extractor(exc)).category
        if len(plan.memo) < _MEMO_SIZE:
            with contextlib.suppress(AttributeError, LookupError, TypeError):
                plan.memo[plan.key(exc)] = category  # an unusual value is never remembered
        return category

    def assess(self, exc: BaseException) -> tuple[Category, float | None, bool]:
        """(category, server hint in seconds or ``None``, whether a rule decided) of ``exc``.

        The third is ``False`` when no rule knows ``exc`` and the category is the default.
        """
        verdict = self.explain(exc)
        return verdict.category, None, verdict is not self._default

    def explain(self, exc: BaseException) -> Verdict:
        """Return the category of ``exc`` with the rule that decided it and why."""
        kind = type(exc)
        plan = self._plans.get(kind)
        if plan is None:
            plan = self._compile(kind)
        if not plan.steps:
            return plan.default
        codes, status = plan.extractor(exc)
        return plan.resolve(codes, status)

    def explain_name(
        self, mro: Iterable[str], *, code: str | None = None, status: int | None = None
    ) -> Verdict | None:
        """Explain a class known only by the qualified names of its MRO (for the CLI).

        Returns ``None`` when no rule names any class in ``mro``.
        """
        names = tuple(mro)
        if not any(table.knows(name) for table in self._tables for name in names):
            return None
        family = next((name for name in names if name in _EXTRACTORS), None)
        codes = normalize_code(family, code) if code is not None else ()
        return self._plan_for_names(names, _generic).resolve(codes, status)

    def extend(self, rules: Mapping[str, RuleSpec]) -> Classifier:
        """A new classifier with ``rules`` added to (and overriding) this one's rules."""
        rule_entries(rules)  # checked on their own first, so a message names the new rule
        merged = {**self._rules, **rules}
        return Classifier(catalogs=self._catalogs, rules=merged, default=self._default.category)

    def __repr__(self) -> str:
        names = ", ".join(c.name for c in self._catalogs)
        return (
            f"Classifier(catalogs=[{names}], rules={len(self._rules)}, "
            f"default={self._default.category.value!r})"
        )

    # -- compiling ------------------------------------------------------------------------

    def _compile(self, kind: type) -> _Plan:
        names = tuple(qualified_name(k) for k in kind.__mro__)
        extractor = next((_EXTRACTORS[n] for n in names if n in _EXTRACTORS), _generic)
        plan = self._plan_for_names(names, extractor)
        with self._lock:
            self._plans[kind] = plan
            if len(plan.steps) == 1 and plan.steps[0].codes is None and not plan.steps[0].statuses:
                verdict = plan.steps[0].verdict
                if verdict is not None:
                    self._fast[kind] = verdict.category
            elif not plan.steps:
                self._fast[kind] = plan.default.category
        return plan

    def _plan_for_names(self, names: tuple[str, ...], extractor: Extractor) -> _Plan:
        key = _KEYERS.get(extractor, extractor)
        steps: list[_Step] = []
        for table in self._tables:
            for name in names:
                codes = table.codes.get(name) or None
                statuses = table.statuses.get(name) or None
                verdict = table.classes.get(name)
                if codes is None and statuses is None and verdict is None:
                    continue
                steps.append(_Step(codes, statuses, verdict))
                if verdict is not None:
                    return _Plan(extractor, tuple(steps), self._default, key)
        return _Plan(extractor, tuple(steps), self._default, key)


_default_lock = threading.Lock()
_default_classifier: Classifier | None = None


def default_classifier() -> Classifier:
    """The process-wide classifier over every built-in catalog, built on first use."""
    global _default_classifier  # noqa: PLW0603 - one lazily built, never replaced, instance
    if _default_classifier is None:
        with _default_lock:
            if _default_classifier is None:
                _default_classifier = Classifier()
    return _default_classifier


def classify(exc: BaseException) -> Category:
    """The category of ``exc`` by the default classifier (every built-in catalog)."""
    return (_default_classifier or default_classifier()).classify(exc)


def explain(exc: BaseException) -> Verdict:
    """Why ``exc`` gets its category from the default classifier."""
    return (_default_classifier or default_classifier()).explain(exc)
