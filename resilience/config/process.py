"""The process-wide policies: ``configure``, ``RESILIENCE_CONFIG`` and ``@policy("name")``.

The one process-wide set lives here, behind a lock and accessor functions;
``@policy("name")`` looks its policy up there at the first call.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar, cast

from resilience.config.loading import load_policies
from resilience.config.sets import PolicySet
from resilience.engine.policy import is_async_target
from resilience.errors import ConfigError

__all__ = ["ENV_VAR", "configure", "configured", "policy", "reset"]

P = ParamSpec("P")
T = TypeVar("T")

#: The environment variable naming the policy file used when ``configure`` was not called.
ENV_VAR = "RESILIENCE_CONFIG"

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
        if is_async_target(fn, f"@resilience.policy({name!r})"):

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
