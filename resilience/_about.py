"""The distribution's name on the package index, and its installed version."""

from __future__ import annotations

__all__ = ["DISTRIBUTION", "version"]

#: The name on the package index (the import name is ``resilience``).
DISTRIBUTION = "resilience-policies"


def version() -> str:
    """The installed version, from the package's metadata (read when asked)."""
    from importlib.metadata import version as installed  # noqa: PLC0415 - only when asked

    return installed(DISTRIBUTION)
