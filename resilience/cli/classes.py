"""The class commands of ``resilience``: ``catalog`` and ``explain``."""

from __future__ import annotations

import argparse
import builtins
import importlib
import sys

from resilience.catalogs import Catalog, installed_errors, load, load_all
from resilience.classify import default_classifier, verdict_lines
from resilience.cli.common import EXIT_OK, EXIT_USAGE, CommandError, format_table

__all__ = ["cmd_catalog", "cmd_explain"]


def _catalog_rows(catalog: Catalog) -> list[tuple[str, str, str]]:
    rows = []
    for entry in catalog:
        category = entry.category.value if entry.category is not None else "by code"
        rows.append((entry.rule, category, entry.reason))
    return rows


def cmd_catalog(args: argparse.Namespace) -> int:
    """Print a catalog (or all of them, built-in and installed) as a table."""
    if args.library is None:
        catalogs = load_all()
    else:
        try:
            catalogs = (load(args.library),)
        except ValueError as exc:
            raise CommandError(f"resilience catalog: {exc}", EXIT_USAGE) from exc
    blocks = []
    for catalog in catalogs:
        title = f"{catalog.name}: {catalog.description} ({len(catalog)} rules)"
        table = format_table(("rule", "category", "reason"), _catalog_rows(catalog))
        blocks.append(f"{title}\n\n{table}")
    print("\n\n".join(blocks))
    for line in installed_errors():
        print(f"resilience: warning: catalog left out: {line}", file=sys.stderr)
    return EXIT_OK


def _qualified(name: str) -> str:
    """A builtin written bare (``TimeoutError``) as the rules spell it (``builtins.``)."""
    if "." not in name and isinstance(getattr(builtins, name, None), type):
        return f"builtins.{name}"
    return name


def _mro_names(dotted: str) -> tuple[tuple[str, ...], bool]:
    """The MRO of the named class, and whether it could be imported (else the name alone)."""
    module_name, _, attr_path = dotted.rpartition(".")
    while module_name:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            module_name, _, head = module_name.rpartition(".")
            attr_path = f"{head}.{attr_path}"
            continue
        except Exception:  # noqa: BLE001 - a library that fails to import is just unknown here
            break
        found: object = module
        for part in attr_path.split("."):
            found = getattr(found, part, None)
            if found is None:
                return (dotted,), False
        if isinstance(found, type):
            return tuple(f"{k.__module__}.{k.__qualname__}" for k in found.__mro__), True
        return (dotted,), False
    return (dotted,), False


def cmd_explain(args: argparse.Namespace) -> int:
    """Print the category, rule and reason for a class name (and optional code/status), or
    for a cause chain of names, outermost first (the code and status are the last one's)."""
    name = _qualified(args.name)
    names, imported = _mro_names(name)
    chain = [names, *(_mro_names(_qualified(cause))[0] for cause in args.causes)]
    classifier = default_classifier()
    verdict = classifier.explain_chain(chain, code=args.code, status=args.status)
    if verdict is None:
        category = classifier.default.value
        where = "nor any of its bases" if imported else f"and {name} could not be imported"
        print(f"category: {category}")
        print("rule:     default")
        print("catalog:  -")
        print(f"reason:   no rule knows this class ({where}): the default category")
        return EXIT_OK
    print("\n".join(verdict_lines(verdict)))
    return EXIT_OK
