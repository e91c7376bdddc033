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
