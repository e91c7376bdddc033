"""Building a PolicySet from a parsed policy file, through the spec constructors.

After the structure check (``_config_schema``), each policy body is deep-merged over
``defaults`` and handed to ``Backoff``, ``Retry``, ``Queue``, ``Breaker``, ``Fallback``,
``RedisStorage`` and the classifier's rule check, the constructors Python users call. Their
``TypeError`` and ``ValueError`` messages name the spec and field (``Retry.attempts must be
>= 1 (got 0)``); here they become :class:`ConfigError` at the key path and line of that field.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from resilience._config_yaml import (
    Document,
    KeyPath,
    describe,
    lookup,
    one_line,
    suggest,
    unknown_key,
)
from resilience.backoff import JITTERS, Backoff
from resilience.breaker import Breaker
from resilience.budget import Budget
from resilience.categories import Category
from resilience.classify import Classifier, rule_entries
from resilience.config import PolicySet
from resilience.errors import ConfigError
from resilience.fallback import Fallback
from resilience.policy import Policy
from resilience.retry import QUEUE_ACTIONS, Queue, Retry
from resilience.storage import RedisStorage

__all__ = ["REFERENCE", "build", "check_version"]

T = TypeVar("T")

#: A fallback: ``module:function`` (or ``package.module:Class.method``).
REFERENCE = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")
#: "Backoff.initial must be ..." / "Fallback.on: expected ...": the spec and field at fault.
_SPEC_MESSAGE = re.compile(r"(?P<owner>\w+)\.(?P<field>\w+)(?::\s*|\s+)(?P<rest>.+)", re.S)
_CATEGORIES = [c.value for c in Category]
_CHOICES: dict[str, list[str]] = {
    "jitter": list(JITTERS),
    "action": list(QUEUE_ACTIONS),
    "on": _CATEGORIES,
}


def check_version(document: Document) -> None:
    """Refuse a ``version`` other than 1 before anything else is said about the file.

    Raises:
        ConfigError: ``version`` is there and is not 1.
    """
    data = document.data
    if not isinstance(data, dict) or "version" not in data:
        return  # the structure check says what is missing
    version = data["version"]
    if isinstance(version, int) and not isinstance(version, bool):
        if version == 1:
            return
        msg = f"unsupported version {version}: this release of resilience reads version 1"
    else:
        msg = f"expected 1, got {describe(version)}"
    raise document.error(("version",), msg)


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` deep-merged over ``base``; a null cancels a key; a fallback is one value."""
    merged = dict(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif key != "fallback" and isinstance(value, dict):
            below = merged.get(key)
            merged[key] = _merge(below if isinstance(below, dict) else {}, value)
        else:
            merged[key] = value
    return merged


def _without_nulls(section: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in section.items() if value is not None}


class _Builder:
    """Turns a structurally valid document into a PolicySet, through the spec constructors."""

    def __init__(self, document: Document, *, offline: bool) -> None:
        self.document = document
        self.offline = offline
        self.data: dict[str, Any] = document.data
        #: Where the body being built stands: ("policies", name), ("defaults",), or () when
        #: none is (paths are then absolute already).
        self.body: KeyPath = ()

    def build(self) -> PolicySet:
        storage = self._storage()
        breaker_storage = None if self.offline else storage
        classifier = self._classifier()
        defaults = _merge({}, self.data.get("defaults") or {})  # with its nulls dropped
        # The defaults must make a valid policy on their own: a policy that sets nothing
        # gets exactly them, and a mistake there is reported there even if every policy
        # happens to override it.
        self.body = ("defaults",)
        self._parts(defaults, breaker_storage)
        policies: dict[str, Policy] = {}
        for name, body in self.data["policies"].items():
            self.body = ("policies", name)
            parts = self._parts(_merge(defaults, body or {}), breaker_storage)
            try:
                policies[name] = Policy(name, classifier=classifier, **parts)
            except (TypeError, ValueError) as exc:
                raise self._spec_error(exc, "Policy", (), {"name": ()}) from exc
        self.body = ()
        return PolicySet(
            policies, classifier=classifier, breaker_storage=storage, source=self.document.source
        )

    # -- where a value came from --------------------------------------------------------------

    def _fail(self, rel: KeyPath, message: str) -> ConfigError:
        # The defaults are checked on their own first, so a mistake found while building a
        # policy involves the policy's own keys: report it there (the line is the nearest
        # key the policy has).
        return self.document.error(self.body + rel, message)

    # -- specs ---------------------------------------------------------------------------------

    def _spec_error(
        self, exc: Exception, owner: str, rel: KeyPath, fields: Mapping[str, KeyPath]
    ) -> ConfigError:
        text = str(exc)
        match = _SPEC_MESSAGE.fullmatch(text)
        if match is None or match["owner"] != owner:
            return self._fail(rel, text)
        field = match["field"]
        at = fields.get(field, (*rel, field))
        message = match["rest"]
        found = lookup(self.data, self.body + at)[1]
        choices = _CHOICES.get(str(at[-1])) if at else None
        items = found if isinstance(found, list) else [found]
        if choices is not None:
            hint = next((h for item in items if (h := _hint(item, choices))), "")
            message += hint
        return self._fail(at, message)

    def _spec(
        self,
        factory: Callable[..., T],
        owner: str,
        values: Mapping[str, Any],
        rel: KeyPath,
        fields: Mapping[str, KeyPath] | None = None,
    ) -> T:
        try:
            return factory(**values)
        except (TypeError, ValueError) as exc:
            raise self._spec_error(exc, owner, rel, fields or {}) from exc

    def _backoff(self, values: Mapping[str, Any], default: Backoff, rel: KeyPath) -> Backoff:
        return self._spec(default.replace, "Backoff", values, rel)

    def _retry(self, section: Mapping[str, Any], storage: RedisStorage | None) -> Retry:
        values = dict(section)
        if "backoff" in values:
            default = Retry().backoff
            values["backoff"] = self._backoff(values["backoff"], default, ("retry", "backoff"))
        if values.get("budget") is not None:
            values["budget"] = self._budget(values["budget"], storage)
        return self._spec(Retry, "Retry", values, ("retry",))

    def _budget(self, section: Mapping[str, Any], storage: RedisStorage | None) -> Budget:
        """``retry.budget``; ``shared: true`` keeps it in ``breaker_storage.redis``."""
        at: KeyPath = ("retry", "budget")
        values = _without_nulls(section)
        shared = values.pop("shared", False)
        if not isinstance(shared, bool):
            raise self._fail((*at, "shared"), f"expected true or false, got {describe(shared)}")
        if shared and self.data.get("breaker_storage") is None:
            msg = "a shared budget lives in breaker_storage.redis, which this file does not set"
            raise self._fail((*at, "shared"), msg)
        if shared:
            values["storage"] = storage  # None when checked offline: in memory
        return self._spec(Budget, "Budget", values, at)

    def _queue(self, section: Mapping[str, Any]) -> Queue:
        values = dict(section)
        if "backoff" in values:
            default = Queue().backoff
            values["backoff"] = self._backoff(values["backoff"], default, ("queue", "backoff"))
        return self._spec(Queue, "Queue", values, ("queue",))

    def _fallback(self, value: str | Mapping[str, Any]) -> Fallback:
        if isinstance(value, str):
            reference: object = value
            at: KeyPath = ("fallback",)
            values: dict[str, Any] = {}
        else:
            values = _without_nulls(value)
            reference = values.pop("function", None)
            at = ("fallback", "function")
        values["func"] = self._import(reference, at)
        return self._spec(Fallback, "Fallback", values, ("fallback",), {"func": at})

    def _import(self, reference: object, at: KeyPath) -> object:
        if not isinstance(reference, str) or not REFERENCE.fullmatch(reference):
            msg = f"expected a function as 'module:function', got {describe(reference)}"
            raise self._fail(at, msg)
        module_name, _, attribute = reference.partition(":")
        try:
            found: object = importlib.import_module(module_name)
        except ImportError as exc:
            msg = f"cannot import {reference!r}: {one_line(str(exc))}"
            raise self._fail(at, msg) from exc
        except Exception as exc:
            detail = one_line(f"{type(exc).__name__}: {exc}")
            msg = f"importing {module_name!r} for the fallback failed: {detail}"
            raise self._fail(at, msg) from exc
        walked = module_name
        for part in attribute.split("."):
            if not hasattr(found, part):
                names = [n for n in dir(found) if not n.startswith("_")]
                hint = suggest(part, names)
                guess = f"; did you mean {hint!r}?" if hint else ""
                msg = f"cannot import {reference!r}: {walked} has no attribute {part!r}{guess}"
                raise self._fail(at, msg)
            found = getattr(found, part)
            walked = f"{walked}.{part}"
        return found

    def _parts(self, merged: Mapping[str, Any], storage: RedisStorage | None) -> dict[str, Any]:
        """The specs of one policy body: retry, queue, breaker and fallback."""
        parts: dict[str, Any] = {}
        if "retry" in merged:
            parts["retry"] = self._retry(merged["retry"], storage)
        if "queue" in merged:
            parts["queue"] = self._queue(merged["queue"])
        if "breaker" in merged:
            values = {**merged["breaker"], "storage": storage}
            parts["breaker"] = self._spec(Breaker, "Breaker", values, ("breaker",))
        if "fallback" in merged:
            parts["fallback"] = self._fallback(merged["fallback"])
        return parts

    # -- file-wide parts -----------------------------------------------------------------------

    def _storage(self) -> RedisStorage | None:
        section = self.data.get("breaker_storage")
        if section is None:
            return None
        at = ("breaker_storage", "redis")
        storage = self._spec(RedisStorage, "RedisStorage", _without_nulls(section["redis"]), at)
        try:
            storage.client()  # no connection yet: checks the URL's form and that redis is there
        except ValueError as exc:
            raise self._spec_error(exc, "RedisStorage", at, {}) from exc
        except ImportError as exc:
            raise self.document.error(at, str(exc)) from exc
        return storage

    def _classifier(self) -> Classifier | None:
        rules = self.data.get("classify")
        if rules is None:
            return None
        if not isinstance(rules, dict):
            msg = f"expected a mapping of qualified class name to category, got {describe(rules)}"
            raise self.document.error(("classify",), msg)
        if not rules:
            return None
        for name, spec in rules.items():
            self._check_rule(name, spec)
        return Classifier(rules=rules)

    def _check_rule(self, name: Any, spec: Any) -> None:
        rule: KeyPath = ("classify", name)
        if isinstance(spec, dict):
            unknown = [key for key in spec if key not in ("codes", "statuses")]
            if unknown:
                msg = unknown_key(unknown[0], ["codes", "statuses"])
                raise self.document.error((*rule, unknown[0]), msg)
        try:
            rule_entries({name: spec}, where="classify")
        except (TypeError, ValueError) as exc:
            # rule_entries names the entry at fault as "classify.<name>[.codes[.<code>]]: ..."
            places: dict[str, KeyPath] = {"classify": rule, f"classify.{name}": rule}
            for kind, table in spec.items() if isinstance(spec, dict) else ():
                places[f"classify.{name}.{kind}"] = (*rule, kind)
                for key in table if isinstance(table, dict) else ():
                    places[f"classify.{name}.{kind}.{key}"] = (*rule, kind, key)
            text = str(exc)
            prefix = max((p for p in places if text.startswith(p + ": ")), key=len, default="")
            at = places.get(prefix, rule)
            message = text.removeprefix(prefix + ": ") if prefix else text
            found = lookup(self.data, at)[1]
            raise self.document.error(at, message + _hint(found, _CATEGORIES)) from exc


def _hint(found: object, choices: list[str]) -> str:
    if not isinstance(found, str) or found in choices:
        return ""
    hint = suggest(found, choices)
    return f"; did you mean {hint!r}?" if hint else ""


def build(document: Document, *, offline: bool = False) -> PolicySet:
    """The policies of a structurally valid document.

    Args:
        document: The parsed file, past :func:`check_version` and the structure check.
        offline: Check ``breaker_storage`` but keep every breaker's state in memory.

    Raises:
        ConfigError: a value is wrong, or a fallback can't be imported.
    """
    return _Builder(document, offline=offline).build()
