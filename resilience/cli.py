"""The ``resilience`` command: inspect catalogs, explain classifications, check policy files.

Every error prints one clear line on stderr and exits non-zero; no traceback reaches the user.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence

from resilience.catalogs import Catalog, installed_errors, load, load_all
from resilience.classify import default_classifier, verdict_lines
from resilience.errors import ResilienceError

__all__ = ["main"]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2

Handler = Callable[[argparse.Namespace], int]


class CommandError(ResilienceError):
    """A command can't do what was asked; its message is printed as is."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain text table, columns padded to their widest cell."""
    cells = [[str(h) for h in headers], *([str(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# --- catalog ---------------------------------------------------------------------------------


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
    else:
        try:
            catalogs = (load(args.library),)
        except ValueError as exc:
            raise CommandError(str(exc), EXIT_USAGE) from exc
    blocks = []
    for catalog in catalogs:
        title = f"{catalog.name}: {catalog.description} ({len(catalog)} rules)"
        blocks.append(
            title + "\n\n" + format_table(("rule", "category", "reason"), _catalog_rows(catalog))
        )
    print("\n\n".join(blocks))
    for line in installed_errors():
        print(f"resilience: warning: catalog left out: {line}", file=sys.stderr)
    return EXIT_OK


# --- explain ---------------------------------------------------------------------------------


def _mro_names(dotted: str) -> tuple[str, ...]:
    """The MRO of the named class if it can be imported, else just the name itself."""
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
        obj: object = module
        for part in attr_path.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                return (dotted,)
        if isinstance(obj, type):
            return tuple(f"{k.__module__}.{k.__qualname__}" for k in obj.__mro__)
        return (dotted,)
    return (dotted,)


def cmd_explain(args: argparse.Namespace) -> int:
    """Print the category, rule and reason for a class name (and optional code/status), or
    for a cause chain of names, outermost first (the code and status are the last one's)."""
    chain = [_mro_names(name) for name in (args.name, *args.causes)]
    verdict = default_classifier().explain_chain(chain, code=args.code, status=args.status)
    if verdict is None:
        msg = (
            f"{args.name}: no rule knows this class (nor, if it could be imported, any of its "
            f"bases); it would get the default category "
            f"'{default_classifier().default.value}'"
        )
        raise CommandError(msg, EXIT_USAGE)
    print("\n".join(verdict_lines(verdict)))
    return EXIT_OK


def _status(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 100 <= value <= 599:
        msg = f"expected an HTTP status from 100 to 599, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


# --- wiring ----------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise CommandError(f"{self.prog}: {message}", EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``resilience`` command."""
    parser = _Parser(prog="resilience", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("catalog", help="print the built-in classification table")
    p.add_argument("library", nargs="?", help="one catalog only (built-in or installed)")
    p.set_defaults(handler=cmd_catalog)

    p = sub.add_parser("explain", help="say how a class (and code or status) is classified")
    p.add_argument("name", metavar="DOTTED.NAME", help="e.g. botocore.exceptions.ClientError")
    p.add_argument(
        "causes",
        nargs="*",
        metavar="CAUSE",
        help="the exceptions it wraps, outermost first, e.g. socket.gaierror --code EAI_NONAME",
    )
    p.add_argument("--code", help="an error code: ThrottlingException, 135, ECONNREFUSED ...")
    p.add_argument("--status", type=_status, help="an HTTP status, e.g. 503")
    p.set_defaults(handler=cmd_explain)

    # check, schedule, schema: defined with the policy files they read; imported here, not at
    # the top, because that module builds on this one.
    from resilience._config_cli import add_commands  # noqa: PLC0415

    add_commands(sub)
    for register in _EXTRA_COMMANDS:
        register(sub)
    return parser


#: Commands defined next to the features they show (config, demo); each adds its subparser.
_EXTRA_COMMANDS: list[Callable[[argparse._SubParsersAction[_Parser]], None]] = []


def _add_demo(sub: argparse._SubParsersAction[_Parser]) -> None:
    p = sub.add_parser("demo", help="run the showcase against a flaky HTTP service on 127.0.0.1")
    p.add_argument(
        "--speed", type=float, default=1.0, metavar="FACTOR", help="divide every wait by FACTOR"
    )
    p.set_defaults(handler=_cmd_demo)


def _cmd_demo(args: argparse.Namespace) -> int:
    """Play the built-in showcase (see resilience/demo.py)."""
    from resilience import demo  # noqa: PLC0415 - lazy, so `import resilience` stays fast

    return demo.main(speed=args.speed)


_EXTRA_COMMANDS.append(_add_demo)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
        handler: Handler = args.handler
        return handler(args)
    except CommandError as exc:
        print(f"resilience: {exc}", file=sys.stderr)
        return exc.code
    except ResilienceError as exc:
        print(f"resilience: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`resilience catalog | head`): not an error worth a traceback.
        # Point stdout at devnull so the interpreter's final flush doesn't fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
