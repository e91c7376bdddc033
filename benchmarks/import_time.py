"""How long does ``import resilience`` take, beside tenacity and stamina, in one run?

Each line is a fresh interpreter running one statement, timed from outside (wall clock),
minus an interpreter that runs nothing; the figure is the minimum over ``--runs`` runs
(interleaved), in milliseconds. Every extra of the package is installed (the ``test`` extra
brings them all), so optional libraries that a careless import would pull in, redis above
all, are there to be pulled in.

``python benchmarks/import_time.py [--runs N] [--check]``; ``--check`` exits 1 when
``import resilience`` takes more than 50 ms, or the ``resilience`` command's ``--help`` or
``--version`` more than 60 ms (wall, the interpreter's own start included).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

STATEMENTS = {
    "nothing": "pass",
    "import resilience": "import resilience",
    "a policy (retry, breaker)": (
        "from resilience import Breaker, Policy, Retry; "
        "Policy('p', retry=Retry(), breaker=Breaker())"
    ),
    "import tenacity": "import tenacity",
    "import stamina": "import stamina",
}
TARGETS = {"import resilience": 50.0, "resilience --help": 60.0, "resilience --version": 60.0}


def _time(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return (time.perf_counter() - start) * 1000


def measure(runs: int) -> dict[str, float]:
    """The minimum wall time of each statement (ms), the interpreter's start subtracted for
    the imports, included for the commands."""
    command = shutil.which("resilience") or str(Path(sys.executable).with_name("resilience"))
    cases: dict[str, list[str]] = {
        name: [sys.executable, "-c", code] for name, code in STATEMENTS.items()
    }
    cases["resilience --help"] = [command, "--help"]
    cases["resilience --version"] = [command, "--version"]
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(runs):
        for name, argv in cases.items():
            best[name] = min(best[name], _time(argv))
    floor = best["nothing"]
    return {
        name: value if name.startswith("resilience ") or name == "nothing" else value - floor
        for name, value in best.items()
    }


def main(argv: list[str] | None = None) -> int:
    """Measure and print; with ``--check``, exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="runs per statement (20)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    found = measure(args.runs)
    width = max(len(name) for name in found)
    print(f"python {sys.version.split()[0]}, min of {args.runs} runs, ms")
    for name, value in found.items():
        extra = "" if name == "nothing" else ("" if name.startswith("resilience ") else " (+)")
        target = TARGETS.get(name)
        verdict = ""
        if target is not None:
            verdict = f"  (<= {target:g}: {'ok' if value <= target else 'MISSED'})"
        print(f"{name:<{width}}  {value:7.1f}{extra}{verdict}")
    print("(+) beyond an interpreter that runs nothing; the commands include the interpreter")
    missed = [name for name, target in TARGETS.items() if found[name] > target]
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
