"""The shape of a policy file: its sections, read off the specs; the structure check; the
JSON Schema.

Each section's keys are the fields of the spec it builds (``retry`` has ``Retry``'s, in the
same order, with the same documentation and bounds), plus the few keys that exist in YAML
only (``budget.shared``, ``rate_limit.shared``, ``fallback.function``). The structure check
says which keys exist, which are required and which values must be mappings; the values
themselves are checked by the spec constructors (:mod:`.build`), the one place that knows
their bounds.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from resilience._spec import Check, checks
from resilience.categories import Category
from resilience.config.reader import Document, KeyPath, describe, unknown_key
from resilience.elements.backoff import Backoff
from resilience.elements.breaker import Breaker
from resilience.elements.budget import Budget
from resilience.elements.concurrency import Concurrency
from resilience.elements.fallback import CATEGORIES, ON
from resilience.elements.hedge import Hedge
from resilience.elements.rate_limit import RateLimit
from resilience.elements.retry import Queue, Retry
from resilience.stores.redis import RedisStorage

__all__ = ["FILE", "REFERENCE", "Section", "check_structure", "json_schema"]

#: A fallback: ``module:function`` (or ``package.module:Class.method``).
REFERENCE = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")
_CLASS_NAME = r"^[A-Za-z_][\w<>]*(\.[A-Za-z_<][\w<>]*)+$"


@dataclass(frozen=True, slots=True)
class Leaf:
    """A value checked by a spec constructor (or by the builder, for YAML-only keys)."""

    check: Check
    default: Any


@dataclass(frozen=True, slots=True)
class Key:
    """One key of a section: what it holds, and its line of documentation."""

    node: Node
    doc: str


@dataclass(frozen=True, slots=True)
class Section:
    """A mapping with a fixed set of keys."""

    title: str
    doc: str
    keys: dict[str, Key]
    required: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Named:
    """A mapping of names (any string) to one kind of section (``policies``)."""

    of: Section


@dataclass(frozen=True, slots=True)
class Special:
    """A key whose value the builder checks whole (``version``, ``fallback``, ``classify``)."""

    kind: str
    section: Section | None = None


Node = Leaf | Section | Named | Special


def _default(spec: type, name: str) -> Any:
    for item in dataclasses.fields(spec):
        if item.name == name:
            if item.default is not dataclasses.MISSING:
                return item.default
            if item.default_factory is not dataclasses.MISSING:
                return item.default_factory()
    return dataclasses.MISSING


def from_spec(
    spec: type,
    title: str,
    doc: str,
    *,
    nested: Mapping[str, Section] | None = None,
    extra: Mapping[str, Leaf] | None = None,
    defaults: object | None = None,
    required: tuple[str, ...] = (),
) -> Section:
    """The section of ``spec``: a key per field that YAML may set, in field order."""
    keys: dict[str, Key] = {}
    for name, check in checks(spec).items():
        if not check.yaml:
            continue
        if nested and name in nested:
            keys[name] = Key(nested[name], check.doc)
            continue
        value = getattr(defaults, name) if defaults is not None else _default(spec, name)
        keys[name] = Key(Leaf(check, value), check.doc)
    for name, leaf in (extra or {}).items():
        keys[name] = Key(leaf, leaf.check.doc)
    return Section(title, doc, keys, required)


BACKOFF = from_spec(
    Backoff, "BackoffSection", "The waits between attempts: exponential backoff with jitter."
)
QUEUE_BACKOFF = from_spec(
    Backoff,
    "QueueBackoffSection",
    "The waits between attempts after queue-related failures.",
    defaults=Queue().backoff,
)
BUDGET = from_spec(
    Budget,
    "BudgetSection",
    "Retries allowed only while they stay under a share of the policy's recent calls.",
    extra={
        "shared": Leaf(
            Check(
                "flag",
                "Share the budget with every process, in breaker_storage.redis (which must be "
                "set); false: each process counts its own calls.",
            ),
            False,
        )
    },
)
RETRY = from_spec(
    Retry,
    "RetrySection",
    "How retryable failures are retried.",
    nested={"backoff": BACKOFF, "budget": BUDGET},
)
QUEUE = from_spec(
    Queue,
    "QueueSection",
    "What to do with queue-related failures (a client's offline queue is full or disabled).",
    nested={"backoff": QUEUE_BACKOFF},
)
BREAKER = from_spec(
    Breaker,
    "BreakerSection",
    "When to stop calling a failing remote side, and when to try it again: after fail_max "
    "failures in a row (the default), or, with failure_rate, when the share of failures (or "
    "slow calls) over a sliding window reaches it.",
    defaults=Breaker(),
)
CONCURRENCY = from_spec(
    Concurrency,
    "ConcurrencySection",
    "A bulkhead: at most `limit` attempts in flight at once; others wait up to `max_wait`. "
    "`limit` must be set, here or in `defaults`.",
)
RATE_LIMIT = from_spec(
    RateLimit,
    "RateLimitSection",
    "A token bucket: at most `rate` attempts every `per` seconds, in bursts of `burst`. "
    "`rate` must be set, here or in `defaults`.",
    extra={
        "shared": Leaf(
            Check(
                "flag",
                "Share the limit with every process, in breaker_storage.redis (which must be "
                "set); false: each process has a limit of its own.",
            ),
            False,
        )
    },
)
HEDGE = from_spec(
    Hedge,
    "HedgeSection",
    "Start another attempt of a slow async call after `delay`; the first success wins. "
    "`delay` must be set, here or in `defaults`.",
)
FALLBACK = Section(
    "FallbackSection",
    "A fallback with the categories it applies to.",
    {
        "function": Key(
            Leaf(Check("text", "module:function, imported when the file is loaded."), None),
            "module:function, imported when the file is loaded.",
        ),
        "on": Key(Leaf(ON, list(CATEGORIES)), ON.doc),
    },
    required=("function",),
)
POLICY = Section(
    "PolicySection",
    "One policy; each part is optional (deep-merged over `defaults`).",
    {
        "retry": Key(RETRY, "Without it a call is tried once."),
        "breaker": Key(BREAKER, "Without it nothing is broken."),
        "concurrency": Key(CONCURRENCY, "Without it any number of calls run at once."),
        "rate_limit": Key(RATE_LIMIT, "Without it calls start as often as they come."),
        "hedge": Key(HEDGE, "Without it each attempt runs alone (async functions only)."),
        "queue": Key(QUEUE, "Queue-related failures."),
        "fallback": Key(
            Special("fallback", FALLBACK),
            "module:function called when a call fails for good; or a mapping.",
        ),
    },
)
REDIS = from_spec(
    RedisStorage,
    "RedisSection",
    "Breaker and budget state in Redis, shared by every process using the same namespace.",
    required=("url",),
)
STORAGE = Section(
    "StorageSection",
    "Where breaker state lives; in each process's memory when the section is absent.",
    {"redis": Key(REDIS, "Redis, shared by the fleet.")},
    required=("redis",),
)
RULE = Section(
    "RuleSection",
    "Categories by error code and by HTTP status (or family such as 5xx).",
    {
        "codes": Key(
            Special("categories"),
            "Error code (ClientError code, MQTT rc, errno name) -> category.",
        ),
        "statuses": Key(Special("categories"), "HTTP status (503) or family (5xx) -> category."),
    },
)
FILE = Section(
    "resilience policy file",
    "A resilience policy file.",
    {
        "version": Key(Special("version"), "The file format version: 1."),
        "defaults": Key(POLICY, "Deep-merged under every policy; a policy's own keys win."),
        "breaker_storage": Key(STORAGE, "Shared breaker state for every policy's breaker."),
        "classify": Key(
            Special("classify", RULE),
            "Rules tried before the built-in catalogs: qualified class name -> category, or -> "
            "{codes: {...}, statuses: {...}}.",
        ),
        "policies": Key(Named(POLICY), "The policies, by name."),
    },
    required=("version", "policies"),
)


# --- the structure check ---------------------------------------------------------------------


@dataclass(slots=True)
class _Problems:
    found: list[tuple[bool, KeyPath, str]] = field(default_factory=list)

    def add(self, path: KeyPath, message: str, *, missing: bool = False) -> None:
        self.found.append((missing, path, message))


def _expected(section: Section, value: object) -> str:
    keys = ", ".join(section.keys)
    return f"expected a mapping with the keys {keys}; got {describe(value)}"


def _section(section: Section, value: object, path: KeyPath, problems: _Problems) -> None:
    if not isinstance(value, dict):
        problems.add(path, _expected(section, value))
        return
    for key, item in value.items():
        entry = section.keys.get(key) if isinstance(key, str) else None
        if entry is None:
            problems.add((*path, key), unknown_key(key, list(section.keys)))
        elif item is not None or key in section.required:
            _node(entry.node, item, (*path, key), problems)
    for key in section.required:
        if key not in value:
            problems.add(path, f"missing the required key {key!r}", missing=True)


def _node(node: Node, value: object, path: KeyPath, problems: _Problems) -> None:
    if isinstance(node, Section):
        _section(node, value, path, problems)
    elif isinstance(node, Named):
        if not isinstance(value, dict):
            problems.add(path, f"expected a mapping; got {describe(value)}")
            return
        for name, item in value.items():
            if not isinstance(name, str):
                problems.add((*path, name), f"expected a string as the key, got {describe(name)}")
            elif item is not None:
                _section(node.of, item, (*path, name), problems)
    elif isinstance(node, Special) and node.kind == "fallback" and node.section is not None:
        if isinstance(value, dict):
            _section(node.section, value, path, problems)
        elif not isinstance(value, str):
            keys = ", ".join(node.section.keys)
            problems.add(
                path,
                f"expected 'module:function' or a mapping with the keys {keys}; "
                f"got {describe(value)}",
            )


def check_structure(document: Document) -> None:
    """Check the keys and mappings of a parsed policy file (not the leaf values).

    Raises:
        ConfigError: about the first problem in the file (missing keys last, since an
            unknown key is often the misspelt missing one).
    """
    problems = _Problems()
    _section(FILE, document.data, (), problems)
    if problems.found:
        ranked = sorted(problems.found, key=lambda p: (p[0], document.line(p[1]) or 0))
        _, path, message = ranked[0]
        raise document.error(path, message)


# --- the JSON Schema -------------------------------------------------------------------------

_TYPES = {"count": "integer", "number": "number", "seconds": "number", "flag": "boolean"}


def _title(key: str) -> str:
    return " ".join(part.capitalize() for part in key.split("_"))


def _leaf(check: Check) -> dict[str, Any]:
    schema: dict[str, Any] = {}
    if check.kind in _TYPES:
        schema["type"] = _TYPES[check.kind]
    elif check.kind == "choice":
        schema = {"enum": list(check.choices), "type": "string"}
    elif check.kind == "choices":
        schema = {
            "items": {"enum": list(check.choices), "type": "string"},
            "minItems": 1,
            "type": "array",
        }
    elif check.kind == "text":
        schema = {"minLength": 1, "type": "string"}
    if check.minimum is not None:
        schema["exclusiveMinimum" if check.exclusive else "minimum"] = _number(check.minimum)
    if check.maximum is not None:
        schema["maximum"] = _number(check.maximum)
    return schema


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


class _Schema:
    def __init__(self) -> None:
        self.defs: dict[str, Any] = {}

    def ref(self, section: Section) -> dict[str, Any]:
        if section.title not in self.defs:
            self.defs[section.title] = {}  # reserved first: sections may nest
            self.defs[section.title] = self.section(section)
        return {"$ref": f"#/$defs/{section.title}"}

    def section(self, section: Section) -> dict[str, Any]:
        properties = {key: self.key(key, entry) for key, entry in section.keys.items()}
        schema: dict[str, Any] = {
            "additionalProperties": False,
            "description": section.doc,
            "properties": properties,
        }
        if section.required:
            schema["required"] = list(section.required)
        schema["title"] = section.title
        schema["type"] = "object"
        return schema

    def key(self, key: str, entry: Key) -> dict[str, Any]:
        node = entry.node
        described = {"description": entry.doc, "title": _title(key)}
        if isinstance(node, Leaf):
            body = _leaf(node.check)
            if node.check.nullable:
                body = {"anyOf": [body, {"type": "null"}]}
            if node.default is not dataclasses.MISSING and (
                node.default is not None or node.check.nullable
            ):
                body["default"] = node.default
            if node.check.kind == "text" and key == "function":
                body["pattern"] = f"^{REFERENCE.pattern}$"
            return dict(sorted({**body, **described}.items()))
        if isinstance(node, Section):
            body = {"anyOf": [self.ref(node), {"type": "null"}], "default": None}
        elif isinstance(node, Named):
            body = {
                "additionalProperties": {"anyOf": [self.ref(node.of), {"type": "null"}]},
                "type": "object",
            }
        elif node.kind == "version":
            body = {"const": 1}
        elif node.kind == "fallback":
            assert node.section is not None
            reference = {"pattern": f"^{REFERENCE.pattern}$", "type": "string"}
            body = {"anyOf": [reference, self.ref(node.section), {"type": "null"}], "default": None}
        elif node.kind == "categories":
            body = {
                "anyOf": [
                    {
                        "additionalProperties": {"enum": CATEGORIES, "type": "string"},
                        "type": "object",
                    },
                    {"type": "null"},
                ],
                "default": None,
            }
        else:  # classify
            assert node.section is not None
            category = {"enum": [c.value for c in Category], "type": "string"}
            body = {
                "anyOf": [
                    {
                        "additionalProperties": {"anyOf": [category, self.ref(node.section)]},
                        "propertyNames": {"pattern": _CLASS_NAME},
                        "type": "object",
                    },
                    {"type": "null"},
                ],
                "default": None,
            }
        return dict(sorted({**body, **described}.items()))


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a policy file."""
    maker = _Schema()
    top = maker.section(FILE)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$defs": dict(sorted(maker.defs.items())),
        **top,
    }
