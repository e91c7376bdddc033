"""Classify every exception a networked client raises; retry, break and fall back by policy."""

from __future__ import annotations

from resilience.backoff import Backoff
from resilience.breaker import Breaker
from resilience.budget import Budget
from resilience.categories import Category
from resilience.classify import Classifier, Verdict, classify, explain
from resilience.config import PolicySet, configure, load_policies, policy
from resilience.errors import CircuitOpenError, ConfigError, ResilienceError
from resilience.fallback import Fallback
from resilience.policy import Attempt, AttemptTimeout, Policy
from resilience.retry import Queue, Retry
from resilience.storage import RedisStorage

__all__ = [
    "Attempt",
    "AttemptTimeout",
    "Backoff",
    "Breaker",
    "Budget",
    "Category",
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
