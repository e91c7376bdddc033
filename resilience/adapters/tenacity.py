"""Use `resilience` specs with tenacity.

``wait_for(backoff)`` is a tenacity wait that follows a :class:`~resilience.Backoff`,
decorrelated jitter included::

    tenacity.Retrying(wait=wait_for(Backoff(jitter="decorrelated")))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tenacity.wait import wait_base

    from resilience.elements.backoff import Backoff

__all__ = ["wait_for"]


def wait_for(backoff: Backoff) -> wait_base:
    """A fresh tenacity wait following ``backoff`` (one per retry sequence)."""
    return backoff.wait()
