"""Classification: exception -> :class:`~resilience.Category`, with the rule that decided.

- :mod:`~resilience.classify.classifier`: :class:`Classifier` (``classify``, ``assess``,
  ``explain``), the default classifier;
- :mod:`~resilience.classify.verdict`: :class:`Verdict`, qualified names;
- :mod:`~resilience.classify.rules`: user rules, aliases, the ``resilience check`` warnings;
- :mod:`~resilience.classify.plan`: rule matching along the MRO;
- :mod:`~resilience.classify.chain`: cause chains;
- :mod:`~resilience.classify.cache`: the bounded per-type cache.

The catalogs, their readers (codes, statuses, server hints) and the entry point registry are
in :mod:`resilience.catalogs`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from resilience.classify.classifier import (
        Assessment,
        Classifier,
        classify,
        default_classifier,
        explain,
    )
    from resilience.classify.rules import RuleSpec, rule_entries, rule_warnings
    from resilience.classify.verdict import Verdict, format_via, qualified_name, verdict_lines

__all__ = [
    "Assessment",
    "Classifier",
    "RuleSpec",
    "Verdict",
    "classify",
    "default_classifier",
    "explain",
    "format_via",
    "qualified_name",
    "rule_entries",
    "rule_warnings",
    "verdict_lines",
]

# Loaded at first use, so importing the package (which `import resilience` does, see there)
# costs nothing.
_HOMES = {
    "Assessment": "classifier",
    "Classifier": "classifier",
    "classify": "classifier",
    "default_classifier": "classifier",
    "explain": "classifier",
    "RuleSpec": "rules",
    "rule_entries": "rules",
    "rule_warnings": "rules",
    "Verdict": "verdict",
    "format_via": "verdict",
    "qualified_name": "verdict",
    "verdict_lines": "verdict",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
