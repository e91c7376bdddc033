"""Classify every exception a networked client raises; retry, break and fall back by policy."""

from __future__ import annotations

from resilience.categories import Category
from resilience.classifier import Classifier, Verdict, classify, explain
from resilience.config import PolicySet, configure, load_policies, policy
from resilience.elements.backoff import Backoff
from resilience.elements.breaker import Breaker, Circuit
from resilience.elements.budget import Budget
from resilience.elements.fallback import Fallback
from resilience.elements.retry import Queue, Retry
from resilience.elements.timeout import AttemptTimeout
from resilience.engine.forms import Attempt
from resilience.engine.policy import Policy
from resilience.errors import CircuitOpenError, ConfigError, ResilienceError
from resilience.stores.redis import RedisStorage

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
    "ConfigError",
    "Fallback",
    "Policy",
    "PolicySet",
    "Queue",
    "RedisStorage",
    "ResilienceError",
    "Retry",
    "Verdict",
    "classify",
    "configure",
    "explain",
    "load_policies",
    "policy",
]
