"""Policies from YAML: ``load_policies``, ``PolicySet``, ``configure`` and ``@policy("name")``."""

from __future__ import annotations

from resilience.config.loading import load, load_policies
from resilience.config.process import ENV_VAR, configure, configured, policy, reset
from resilience.config.sets import PolicySet
from resilience.errors import ConfigError

__all__ = [
    "ENV_VAR",
    "ConfigError",
    "PolicySet",
    "configure",
    "configured",
    "load",
    "load_policies",
    "policy",
    "reset",
]
