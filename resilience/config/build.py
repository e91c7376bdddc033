"""Building a PolicySet from a parsed policy file, through the spec constructors.

After the structure check (:mod:`.schema`), each policy body is deep-merged over
``defaults`` and handed to ``Backoff``, ``Retry``, ``Queue``, ``Breaker``,
``Concurrency``, ``RateLimit``, ``Hedge``, ``Fallback``, ``RedisStorage`` and the classifier's
rule check: the constructors Python users call. Their
errors (:class:`~resilience._spec.SpecError`) name the spec and the field at fault as
attributes; here they become :class:`ConfigError` at the key path and line of that field.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from resilience._spec import SpecError
from resilience.categories import Category
from resilience.classify import Classifier, rule_entries
from resilience.classify.rules import RuleError
from resilience.config.reader import (
    Document,
    KeyPath,
    describe,
    lookup,
    one_line,
    suggest,
    unknown_key,
)
from resilience.config.schema import REFERENCE
from resilience.config.sets import PolicySet
from resilience.elements.backoff import Backoff
from resilience.elements.breaker import Breaker
from resilience.elements.budget import Budget
from resilience.elements.concurrency import Concurrency
from resilience.elements.fallback import Fallback
from resilience.elements.hedge import Hedge
from resilience.elements.rate_limit import RateLimit
from resilience.elements.retry import Queue, Retry
from resilience.engine.policy import Policy
from resilience.errors import ConfigError
from resilience.stores.redis import RedisStorage

__all__ = ["build", "check_version", "import_reference"]

T = TypeVar("T")

_CATEGORIES = [c.value for c in Category]


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
            policies[name] = self._spec(
                Policy, {"name": name, "classifier": classifier, **parts}, (), {"name": ()}
            )
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
        self, exc: SpecError, rel: KeyPath, renames: Mapping[str, KeyPath]
    ) -> ConfigError:
        at = renames.get(exc.field, (*rel, exc.field))
        message = exc.detail
        if exc.choices:
            found = lookup(self.data, self.body + at)[1]
            items = found if isinstance(found, list) else [found]
            message += next((h for item in items if (h := _hint(item, list(exc.choices)))), "")
        return self._fail(at, message)

    def _spec(
        self,
        factory: Callable[..., T],
        values: Mapping[str, Any],
        rel: KeyPath,
        renames: Mapping[str, KeyPath] | None = None,
    ) -> T:
        try:
            return factory(**values)
        except SpecError as exc:
            raise self._spec_error(exc, rel, renames or {}) from exc

    def _backoff(self, values: Mapping[str, Any], default: Backoff, rel: KeyPath) -> Backoff:
        return self._spec(default.replace, values, rel)

    def _retry(self, section: Mapping[str, Any], storage: RedisStorage | None) -> Retry:
        values = dict(section)
        if "backoff" in values:
            default = Retry().backoff
            values["backoff"] = self._backoff(values["backoff"], default, ("retry", "backoff"))
        if values.get("budget") is not None:
            values["budget"] = self._budget(values["budget"], storage)
        return self._spec(Retry, values, ("retry",))

    def _shared(
        self, section: Mapping[str, Any], storage: RedisStorage | None, at: KeyPath, what: str
    ) -> dict[str, Any]:
        """A section's values, with ``shared: true`` turned into ``breaker_storage.redis``."""
        values = _without_nulls(section)
        shared = values.pop("shared", False)
        if not isinstance(shared, bool):
            raise self._fail((*at, "shared"), f"expected true or false, got {describe(shared)}")
        if shared and self.data.get("breaker_storage") is None:
            msg = f"a shared {what} lives in breaker_storage.redis, which this file does not set"
            raise self._fail((*at, "shared"), msg)
        if shared:
            values["storage"] = storage  # None when checked offline: in memory
        return values

    def _required(self, section: Mapping[str, Any], at: KeyPath, key: str) -> dict[str, Any]:
        """A section's values, which must set ``key`` (here or in ``defaults``)."""
        values = _without_nulls(section)
        if key not in values:
            raise self._fail(at, f"missing the required key {key!r}")
        return values

    def _budget(self, section: Mapping[str, Any], storage: RedisStorage | None) -> Budget:
        """``retry.budget``; ``shared: true`` keeps it in ``breaker_storage.redis``."""
        at: KeyPath = ("retry", "budget")
        return self._spec(Budget, self._shared(section, storage, at, "budget"), at)

    def _rate_limit(self, section: Mapping[str, Any], storage: RedisStorage | None) -> RateLimit:
        """``rate_limit``; ``shared: true`` keeps the bucket in ``breaker_storage.redis``."""
        at: KeyPath = ("rate_limit",)
        return self._spec(RateLimit, self._shared(section, storage, at, "rate limit"), at)

    def _queue(self, section: Mapping[str, Any]) -> Queue:
        values = dict(section)
        if "backoff" in values:
            default = Queue().backoff
            values["backoff"] = self._backoff(values["backoff"], default, ("queue", "backoff"))
        return self._spec(Queue, values, ("queue",))

    def _fallback(self, value: str | Mapping[str, Any]) -> Fallback:
        if isinstance(value, str):
            reference: object = value
            at: KeyPath = ("fallback",)
            values: dict[str, Any] = {}
        else:
            values = _without_nulls(value)
            reference = values.pop("function", None)
            at = ("fallback", "function")
        try:
            values["func"] = import_reference(reference, self._places())
        except _ImportProblem as exc:
            raise self._fail(at, str(exc)) from exc.__cause__
        return self._spec(Fallback, values, ("fallback",), {"func": at})

    def _places(self) -> tuple[Path, ...]:
        """Where a fallback's module is looked for when the process's own path can't find
        it: beside the policy file, then in the current directory."""
        places = [Path.cwd()]
        if self.document.source != "<string>":
            places.insert(0, Path(self.document.source).resolve().parent)
        return tuple(places)

    def _parts(self, merged: Mapping[str, Any], storage: RedisStorage | None) -> dict[str, Any]:
        """The specs of one policy body: retry, queue, breaker, the limits, hedge and
        fallback."""
        parts: dict[str, Any] = {}
        if "retry" in merged:
            parts["retry"] = self._retry(merged["retry"], storage)
        if "queue" in merged:
            parts["queue"] = self._queue(merged["queue"])
        if "breaker" in merged:
            values = {**merged["breaker"], "storage": storage}
            parts["breaker"] = self._spec(Breaker, values, ("breaker",))
        if "concurrency" in merged:
            values = self._required(merged["concurrency"], ("concurrency",), "limit")
            parts["concurrency"] = self._spec(Concurrency, values, ("concurrency",))
        if "rate_limit" in merged:
            self._required(merged["rate_limit"], ("rate_limit",), "rate")
            parts["rate_limit"] = self._rate_limit(merged["rate_limit"], storage)
        if "hedge" in merged:
            values = self._required(merged["hedge"], ("hedge",), "delay")
            parts["hedge"] = self._spec(Hedge, values, ("hedge",))
        if "fallback" in merged:
            parts["fallback"] = self._fallback(merged["fallback"])
        return parts

    # -- file-wide parts -----------------------------------------------------------------------

    def _storage(self) -> RedisStorage | None:
        section = self.data.get("breaker_storage")
        if section is None:
            return None
        at = ("breaker_storage", "redis")
        values = _without_nulls(section["redis"])
        if "url" not in values:  # present but null: the structure check let it by
            url = section["redis"].get("url")
            raise self.document.error((*at, "url"), f"expected a redis:// URL, got {describe(url)}")
        storage = self._spec(RedisStorage, values, at)
        try:
            storage.client(connect=False)  # checks the URL's form and that redis is there
        except SpecError as exc:
            raise self._spec_error(exc, at, {}) from exc
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
        except RuleError as exc:
            at: KeyPath = ("classify", *exc.path)
            found = lookup(self.data, at)[1]
            raise self.document.error(at, exc.detail + _hint(found, _CATEGORIES)) from exc


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


class _ImportProblem(Exception):
    """A fallback reference that can't be imported; the message says why."""


def _find_module(name: str, places: tuple[Path, ...]) -> ModuleType:
    """Import ``name`` as the process's ``sys.path`` allows, or else from one of ``places``
    (each put on ``sys.path`` for this import only)."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if not (name == missing or name.startswith(f"{missing}.")):
            raise  # the module exists: one of its own imports is missing
        for place in places:
            if (
                not (place / name.split(".", maxsplit=1)[0]).exists()
                and not (place / f"{name.split('.', maxsplit=1)[0]}.py").exists()
            ):
                continue
            sys.path.insert(0, str(place))
            try:
                return importlib.import_module(name)
            finally:
                sys.path.remove(str(place))
        raise


def import_reference(reference: object, places: tuple[Path, ...] = ()) -> Any:
    """The object a ``module:attribute`` reference names, imported the way an application
    would import it: as the process's ``sys.path`` allows, else from ``places`` (the policy
    file's directory, the current directory). ``load_policies`` and ``resilience check``
    both import fallbacks through here.

    Raises:
        _ImportProblem: the reference is malformed, its module fails to import, or it has no
            such attribute (with the likely one); the import error is its ``__cause__``.
    """
    if not isinstance(reference, str) or not REFERENCE.fullmatch(reference):
        msg = f"expected a function as 'module:function', got {describe(reference)}"
        raise _ImportProblem(msg)
    module_name, _, attribute = reference.partition(":")
    try:
        found: object = _find_module(module_name, places)
    except ImportError as exc:
        msg = f"cannot import {reference!r}: {one_line(str(exc))}"
        raise _ImportProblem(msg) from exc
    except Exception as exc:
        detail = one_line(f"{type(exc).__name__}: {exc}")
        msg = f"importing {module_name!r} for the fallback failed: {detail}"
        raise _ImportProblem(msg) from exc
    walked = module_name
    for part in attribute.split("."):
        if not hasattr(found, part):
            names = [n for n in dir(found) if not n.startswith("_")]
            hint = suggest(part, names)
            guess = f"; did you mean {hint!r}?" if hint else ""
            msg = f"cannot import {reference!r}: {walked} has no attribute {part!r}{guess}"
            raise _ImportProblem(msg)
        found = getattr(found, part)
        walked = f"{walked}.{part}"
    return found
