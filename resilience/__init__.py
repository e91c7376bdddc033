"""Classify every exception a networked client raises; retry, break and fall back by policy.

The names below are imported when first used, so ``import resilience`` stays cheap (and
``resilience --help`` fast): ``from resilience import Policy`` loads the engine, not the YAML
loader or the Redis client.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from resilience.categories import Category
    from resilience.classify import Classifier, Verdict, classify, explain
    from resilience.config import PolicySet, configure, load_policies, policy
    from resilience.elements.backoff import Backoff
    from resilience.elements.breaker import Breaker, Circuit
    from resilience.elements.budget import Budget
    from resilience.elements.concurrency import Concurrency
    from resilience.elements.fallback import Fallback
    from resilience.elements.hedge import Hedge
    from resilience.elements.rate_limit import RateLimit
    from resilience.elements.retry import Queue, Retry
    from resilience.elements.timeout import AttemptTimeout
    from resilience.engine.forms import Attempt
    from resilience.engine.policy import Policy
    from resilience.errors import (
        CircuitOpenError,
        ConcurrencyLimitError,
        ConfigError,
        RateLimitedError,
        ResilienceError,
    )
    from resilience.stores.redis import RedisStorage

    __version__: str

__all__ = [
    "Attempt",
    "AttemptTimeout",
    "Backoff",
    "Breaker",
    "Budget",
    "Category",
    "Circuit",
    "CircuitOpenError",
    "Classifier",
    "Concurrency",
    "ConcurrencyLimitError",
    "ConfigError",
    "Fallback",
    "Hedge",
    "Policy",
    "PolicySet",
    "Queue",
    "RateLimit",
    "RateLimitedError",
    "RedisStorage",
    "ResilienceError",
    "Retry",
    "Verdict",
    "__version__",
    "classify",
    "configure",
    "explain",
    "load_policies",
    "policy",
]

#: Where each public name lives.
_HOMES = {
    "Attempt": "resilience.engine.forms",
    "AttemptTimeout": "resilience.elements.timeout",
    "Backoff": "resilience.elements.backoff",
    "Breaker": "resilience.elements.breaker",
    "Budget": "resilience.elements.budget",
    "Category": "resilience.categories",
    "Circuit": "resilience.elements.breaker",
    "CircuitOpenError": "resilience.errors",
    "Classifier": "resilience.classify",
    "Concurrency": "resilience.elements.concurrency",
    "ConcurrencyLimitError": "resilience.errors",
    "ConfigError": "resilience.errors",
    "Fallback": "resilience.elements.fallback",
    "Hedge": "resilience.elements.hedge",
    "Policy": "resilience.engine.policy",
    "PolicySet": "resilience.config",
    "Queue": "resilience.elements.retry",
    "RateLimit": "resilience.elements.rate_limit",
    "RateLimitedError": "resilience.errors",
    "RedisStorage": "resilience.stores.redis",
    "ResilienceError": "resilience.errors",
    "Retry": "resilience.elements.retry",
    "Verdict": "resilience.classify",
    "classify": "resilience.classify",
    "configure": "resilience.config",
    "explain": "resilience.classify",
    "load_policies": "resilience.config",
    "policy": "resilience.config",
}


# `resilience.classify` is a function and the name of a subpackage. Loading the subpackage
# (cheap: its names load lazily too) sets the attribute to the subpackage, and only once per
# process: load it now and free the name, so that the function is what users get.
importlib.import_module("resilience.classify")
del globals()["classify"]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from resilience._about import version  # noqa: PLC0415 - read when asked

        value: Any = version()
    else:
        home = _HOMES.get(name)
        if home is None:
            msg = f"module 'resilience' has no attribute {name!r}"
            raise AttributeError(msg)
        value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
