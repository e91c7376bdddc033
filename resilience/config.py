"""Policies from YAML: ``load_policies``, ``PolicySet``, ``configure`` and ``@policy("name")``.

Loading a file goes: YAML, with the line of every key (``_config_yaml``) -> the ``version``
-> the structure: keys and mappings, by pydantic models that also give the JSON Schema
(``_config_schema``) -> ``defaults`` deep-merged under each policy -> the spec constructors
(``Backoff``, ``Retry``, ``Queue``, ``Breaker``, ``Fallback``, ``RedisStorage``, the
classifier's rule check), whose ``TypeError`` and ``ValueError`` become :class:`ConfigError`
at the key path and line of the value at fault (``_config_build``). Nothing is applied until
all of it has succeeded.

The process-wide set (``configure``, ``RESILIENCE_CONFIG``) lives here, behind a lock and
accessor functions; ``@policy("name")`` looks its policy up there at the first call.
"""

from __future__ import annotations

import functools
import inspect
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, ParamSpec, TypeVar, cast

from resilience._config_yaml import read, suggest
from resilience.classify import Classifier, default_classifier
from resilience.errors import ConfigError
from resilience.policy import Policy
from resilience.storage import RedisStorage

__all__ = [
    "ENV_VAR",
    "ConfigError",
    "PolicySet",
    "configure",
    "configured",
    "load_policies",
    "policy",
    "reset",
]

P = ParamSpec("P")
T = TypeVar("T")

#: The environment variable naming the policy file used when ``configure`` was not called.
ENV_VAR = "RESILIENCE_CONFIG"


class PolicySet(Mapping[str, Policy]):
    """A read-only mapping of policy name -> :class:`Policy`, as loaded from one file.

    Each policy owns its breaker state; Redis storage shares it across processes by
    namespace and policy name.

    Args:
        policies: The policies, by name (each name must be its policy's ``name``).
        classifier: The classifier the policies were built with (``None``: the default).
        breaker_storage: The breaker storage every policy's breaker uses (``None``: memory).
        source: Where the policies came from (a file name, ``"<string>"``), for messages.

    Raises:
        ValueError: a key is not the name of its policy.
    """

    __slots__ = ("_breaker_storage", "_classifier", "_policies", "_source")

    def __init__(
        self,
        policies: Mapping[str, Policy],
        *,
        classifier: Classifier | None = None,
        breaker_storage: RedisStorage | None = None,
        source: str | None = None,
    ) -> None:
        for name, item in policies.items():
            if not isinstance(item, Policy) or item.name != name:
                msg = (
                    f"PolicySet: the key {name!r} must map to the Policy of that name, not {item!r}"
                )
                raise ValueError(msg)
        self._policies: Mapping[str, Policy] = MappingProxyType(dict(policies))
        self._classifier = classifier
        self._breaker_storage = breaker_storage
        self._source = source

    def __getitem__(self, name: str) -> Policy:
        return self._policies[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._policies)

    def __len__(self) -> int:
        return len(self._policies)

    def __repr__(self) -> str:
        return f"PolicySet(source={self._source!r}, policies={list(self._policies)!r})"

    @property
    def classifier(self) -> Classifier:
        """The classifier of these policies: the file's ``classify`` rules over the catalogs."""
        return self._classifier or default_classifier()

    @property
    def breaker_storage(self) -> RedisStorage | None:
        """Where the breakers keep their state; ``None`` for each process's memory."""
        return self._breaker_storage

    @property
    def source(self) -> str | None:
        """The file the policies came from (``"<string>"`` for YAML text)."""
        return self._source

    def lookup(self, name: str) -> Policy:
        """The policy called ``name``.

        Raises:
            ConfigError: there is none; the message lists the known names and the likely one.
        """
        found = self._policies.get(name)
        if found is not None:
            return found
        known = sorted(self._policies)
        hint = suggest(name, known)
        guess = f"; did you mean {hint!r}?" if hint else "."
        listed = ", ".join(known) if known else "none"
        msg = f"no policy named {name!r}{guess} Known policies: {listed}"
        raise ConfigError(msg, source=self._source)


# --- loading ---------------------------------------------------------------------------------


def load_policies(source: Path | str) -> PolicySet:
    """Load a policy file.

    Args:
        source: A ``pathlib.Path`` or a file name (a ``str`` without a newline) to read, or
            YAML text (a ``str`` containing a newline).

    Returns:
        The policies, by name.

    Raises:
        ConfigError: anything wrong in the file; the message names the file, the line, the
            key path, what was expected and what was found.
        TypeError: ``source`` is neither a ``Path`` nor a ``str``.
    """
    return load(source)


def load(source: Path | str, *, offline: bool = False) -> PolicySet:
    """:func:`load_policies`; with ``offline``, the breakers keep their state in memory even
    when the file names a breaker storage (which is still checked), so nothing connects to
    Redis: for ``resilience check`` and ``schedule``."""
    # pydantic is imported with the first file loaded, not with `import resilience`.
    from resilience._config_build import build, check_version  # noqa: PLC0415
    from resilience._config_schema import check_structure  # noqa: PLC0415

    document = read(source)
    check_version(document)
    check_structure(document)
    return build(document, offline=offline)


# --- the process-wide set --------------------------------------------------------------------

_lock = threading.Lock()
_configured: PolicySet | None = None


def configure(source: PolicySet | Path | str) -> PolicySet:
    """Set the process-wide policies that ``@resilience.policy(name)`` looks up.

    The new set replaces the old one only once it has loaded completely: when loading fails,
    the previous set stays in force.

    Args:
        source: A :class:`PolicySet`, or anything :func:`load_policies` accepts.

    Returns:
        The set now in force.

    Raises:
        ConfigError: the file is wrong (nothing is changed).
    """
    global _configured  # noqa: PLW0603 - the one process-wide switch, behind _lock
    policies = source if isinstance(source, PolicySet) else load_policies(source)
    with _lock:
        _configured = policies
    return policies


def configured() -> PolicySet:
    """The process-wide policies: those given to :func:`configure`, else those of the file
    that ``RESILIENCE_CONFIG`` names (loaded once, at the first need).

    Raises:
        ConfigError: nothing is configured, or the file ``RESILIENCE_CONFIG`` names is wrong.
    """
    global _configured  # noqa: PLW0603 - the one process-wide switch, behind _lock
    current = _configured
    if current is not None:
        return current
    path = os.environ.get(ENV_VAR)
    if not path:
        msg = (
            "no policies are configured: call resilience.configure(path) at start-up, "
            f"or set {ENV_VAR} to a policy file"
        )
        raise ConfigError(msg)
    loaded = load_policies(Path(path))
    with _lock:
        if _configured is None:
            _configured = loaded
        return _configured


def reset() -> None:
    """Forget the process-wide policies (for tests); ``RESILIENCE_CONFIG`` is read again."""
    global _configured  # noqa: PLW0603 - the one process-wide switch, behind _lock
    with _lock:
        _configured = None


class _Resolver:
    """Finds a decorated function's policy at its first call, and again after ``configure``."""

    __slots__ = ("_cache", "_fn", "_name")

    def __init__(self, name: str, fn: Callable[..., Any]) -> None:
        self._name = name
        self._fn = fn
        self._cache: tuple[PolicySet, Callable[..., Any]] | None = None

    def __call__(self) -> Callable[..., Any]:
        current = configured()
        cache = self._cache
        if cache is not None and cache[0] is current:
            return cache[1]
        # Two threads may both get here; both wrap fn in the same Policy, so either will do.
        wrapped: Callable[..., Any] = current.lookup(self._name)(self._fn)
        self._cache = (current, wrapped)
        return wrapped


def policy(name: str) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Decorate a function with the configured policy called ``name``.

    The policy is looked up at the first call, not at import time, so the module defining
    the function may be imported before :func:`configure` runs. Sync and async functions
    alike; the signature is kept. A later :func:`configure` takes effect at the next call.

    Args:
        name: The name of a policy in the configured file.

    Raises:
        TypeError: ``name`` is not a string (``@resilience.policy`` needs its parentheses).

    The decorated function raises :class:`ConfigError` at its first call when nothing is
    configured or no policy has that name.
    """
    if not isinstance(name, str) or not name:
        msg = (
            f"resilience.policy() takes the name of a configured policy, got {name!r}; "
            'write @resilience.policy("name")'
        )
        raise TypeError(msg)

    def decorate(fn: Callable[P, T]) -> Callable[P, T]:
        resolve = _Resolver(name, fn)
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def run_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                return await resolve()(*args, **kwargs)

            return cast("Callable[P, T]", run_async)

        @functools.wraps(fn)
        def run(*args: P.args, **kwargs: P.kwargs) -> T:
            result: T = resolve()(*args, **kwargs)
            return result

        return run

    return decorate
