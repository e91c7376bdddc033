"""The distribution's name on the package index, and its installed version."""

from __future__ import annotations

import os
import sys

__all__ = ["DISTRIBUTION", "version"]

#: The name on the package index (the import name is ``resilience``).
DISTRIBUTION = "resilience-policies"
#: How the installed metadata's directory starts (``resilience_policies-0.1.0.dist-info``).
_PREFIX = DISTRIBUTION.replace("-", "_") + "-"


def version() -> str:
    """The installed version, read from the package's metadata.

    The ``*.dist-info`` directory on ``sys.path`` is read directly: ``importlib.metadata``
    would cost ``resilience --version`` more than all the rest of it. Anything unusual (an
    egg, a zip) is left to ``importlib.metadata``.
    """
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if name.startswith(_PREFIX) and name.endswith(".dist-info"):
                found = _read(os.path.join(entry or ".", name, "METADATA"))
                if found:
                    return found
    from importlib.metadata import version as installed  # noqa: PLC0415 - the slow way

    return installed(DISTRIBUTION)


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as metadata:
            for line in metadata:
                if line.startswith("Version:"):
                    return line.partition(":")[2].strip()
                if not line.strip():
                    break  # the headers end here
    except OSError:
        return None
    return None
