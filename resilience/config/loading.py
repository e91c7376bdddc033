"""Loading a policy file, all or nothing.

Loading goes: YAML, with the line of every key (:mod:`.reader`) -> the ``version`` -> the
structure: keys and mappings, read off the specs (:mod:`.schema`) -> ``defaults``
deep-merged under each policy -> the spec constructors (:mod:`.build`), whose errors become
:class:`~resilience.ConfigError` at the key path and line of the value at fault. Nothing is
applied until all of it has succeeded.
"""

from __future__ import annotations

from pathlib import Path

from resilience.config.build import build, check_version
from resilience.config.reader import read
from resilience.config.schema import check_structure
from resilience.config.sets import PolicySet

__all__ = ["load", "load_policies"]


def load_policies(source: Path | str) -> PolicySet:
    """Load a policy file.

    Args:
        source: A ``pathlib.Path`` or a file name (a ``str`` without a newline) to read, or
            YAML text (a ``str`` containing a newline).

    Returns:
        The policies, by name.

    Raises:
        ConfigError: anything wrong in the file; the message names the file, the line, the
            key path, what was expected and what was found.
        TypeError: ``source`` is neither a ``Path`` nor a ``str``.
    """
    return load(source)


def load(source: Path | str, *, offline: bool = False) -> PolicySet:
    """:func:`load_policies`; with ``offline``, the breakers keep their state in memory even
    when the file names a breaker storage (which is still checked), so nothing connects to
    Redis: for ``resilience check`` and ``schedule``."""
    document = read(source)
    check_version(document)
    check_structure(document)
    return build(document, offline=offline)
