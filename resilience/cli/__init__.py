"""The resilience command: explain classifications, check policy files, run the demo.

Every error prints one clear line on stderr and exits with 1 (a failed check) or 2 (a usage
error); no traceback reaches the user. The parser imports nothing but ``argparse``: each
command imports what it needs when it runs, so ``--help`` and ``--version`` answer at once.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from resilience.cli.common import EXIT_ERROR, EXIT_OK, EXIT_USAGE, CommandError
from resilience.errors import ResilienceError

__all__ = ["build_parser", "main"]

ENV_VAR = "RESILIENCE_CONFIG"  # the same as resilience.config.ENV_VAR, without importing it
DESCRIPTION = (
    "Explain how exceptions are classified, check policy files, preview backoff schedules, "
    "run the demo."
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise CommandError(f"{self.prog}: {message}", EXIT_USAGE)


class _Version(argparse.Action):
    """``--version``, read from the installed package's metadata when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        from resilience._about import DISTRIBUTION, version  # noqa: PLC0415 - when asked

        print(f"{DISTRIBUTION} {version()}")
        parser.exit()


def _status(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 100 <= value <= 599:
        msg = f"expected an HTTP status from 100 to 599, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        msg = f"expected a number > 0 (2 plays twice as fast), got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _samples(text: str) -> int:
    from resilience.cli.policy_file import MAX_SAMPLES  # noqa: PLC0415

    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_SAMPLES:
        msg = f"expected a whole number from 1 to {MAX_SAMPLES}, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _run(module: str, handler: str) -> Callable[[argparse.Namespace], int]:
    """A handler that imports its module when the command runs."""

    def run(args: argparse.Namespace) -> int:
        import importlib  # noqa: PLC0415

        found: Callable[[argparse.Namespace], int] = getattr(
            importlib.import_module(f"resilience.cli.{module}"), handler
        )
        return found(args)

    return run


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``resilience`` command."""
    parser = _Parser(prog="resilience", description=DESCRIPTION)
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("catalog", help="print the classification table of the catalogs")
    p.add_argument(
        "library", nargs="?", metavar="LIBRARY", help="one catalog (built-in or installed)"
    )
    p.set_defaults(handler=_run("classes", "cmd_catalog"))

    p = sub.add_parser("explain", help="say how a class (and code or status) is classified")
    p.add_argument(
        "name",
        metavar="CLASS",
        help="a qualified class name (botocore.exceptions.ClientError) or a builtin one",
    )
    p.add_argument(
        "causes",
        nargs="*",
        metavar="CAUSE",
        help="the exceptions it wraps, outermost first, e.g. socket.gaierror --code EAI_NONAME",
    )
    p.add_argument("--code", help="an error code: ThrottlingException, 135, ECONNREFUSED ...")
    p.add_argument("--status", type=_status, help="an HTTP status, e.g. 503")
    p.set_defaults(handler=_run("classes", "cmd_explain"))

    p = sub.add_parser("check", help="validate a policy file and print its policies")
    p.add_argument("file", metavar="FILE", help="the policy file (YAML)")
    p.set_defaults(handler=_run("policy_file", "cmd_check"))

    p = sub.add_parser("schedule", help="print a policy's backoff schedule")
    p.add_argument("policy", metavar="POLICY", help="the name of a policy in the file")
    p.add_argument("--config", metavar="FILE", help=f"the policy file (default: ${ENV_VAR})")
    p.add_argument(
        "--samples", type=_samples, default=10_000, metavar="N", help="samples per wait (10000)"
    )
    p.set_defaults(handler=_run("policy_file", "cmd_schedule"))

    p = sub.add_parser("schema", help="print the JSON Schema of policy files")
    p.set_defaults(handler=_run("policy_file", "cmd_schema"))

    p = sub.add_parser("demo", help="run the showcase against a flaky HTTP service on 127.0.0.1")
    p.add_argument(
        "--speed", type=_speed, default=1.0, metavar="FACTOR", help="divide every wait by FACTOR"
    )
    p.set_defaults(handler=_run("demo", "cmd_demo"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            commands = "catalog, explain, check, schedule, schema, demo"
            msg = f"resilience: choose a command ({commands}); resilience --help says more"
            raise CommandError(msg, EXIT_USAGE)
        handler: Callable[[argparse.Namespace], int] = args.handler
        return handler(args)
    except CommandError as exc:
        print(exc, file=sys.stderr)
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
