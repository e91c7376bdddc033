"""The class commands of ``resilience``: ``catalog`` and ``explain``."""

from __future__ import annotations

import argparse
import builtins
import importlib

from resilience.catalogs import BUILTIN, Catalog, load, load_all
from resilience.classifier import default_classifier
from resilience.cli.common import EXIT_OK, EXIT_USAGE, CommandError, format_table

__all__ = ["cmd_catalog", "cmd_explain"]


def _catalog_rows(catalog: Catalog) -> list[tuple[str, str, str]]:
    rows = []
    for entry in catalog:
        category = entry.category.value if entry.category is not None else "by code"
        rows.append((entry.rule, category, entry.reason))
    return rows


def cmd_catalog(args: argparse.Namespace) -> int:
    """Print a built-in catalog (or all of them) as a table."""
    if args.library is None:
        catalogs = load_all()
    elif args.library in BUILTIN:
        catalogs = (load(args.library),)
    else:
        known = ", ".join(BUILTIN)
        msg = f"resilience catalog: no catalog {args.library!r}; the catalogs are {known}"
        raise CommandError(msg, EXIT_USAGE)
    blocks = []
    for catalog in catalogs:
        title = f"{catalog.name}: {catalog.description} ({len(catalog)} rules)"
        table = format_table(("rule", "category", "reason"), _catalog_rows(catalog))
        blocks.append(f"{title}\n\n{table}")
    print("\n\n".join(blocks))
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
    """Print the category, rule and reason for a class name (and optional code/status)."""
    name = _qualified(args.name)
    names, imported = _mro_names(name)
    classifier = default_classifier()
    verdict = classifier.explain_name(names, code=args.code, status=args.status)
    if verdict is None:
        category = classifier.default.value
        where = "nor any of its bases" if imported else f"and {name} could not be imported"
        print(f"category: {category}")
        print("rule:     default")
        print("catalog:  -")
        print(f"reason:   no rule knows this class ({where}): the default category")
        return EXIT_OK
    print(f"category: {verdict.category.value}")
    print(f"rule:     {verdict.rule}")
    print(f"catalog:  {verdict.catalog or '-'}")
    print(f"reason:   {verdict.reason}")
    return EXIT_OK
