"""benchmarks/fleet.py still runs, on a tiny configuration (no timing is asserted)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from .redis_server import find_redis_server

ROOT = Path(__file__).resolve().parents[2]


def test_the_fleet_benchmark_ends_with_its_figures() -> None:
    find_redis_server()  # fails under CI when missing, rather than printing "skipped"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
    tiny = ["--calls", "200", "--failures", "5", "--trips", "3"]
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "fleet.py"), *tiny],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert re.fullmatch(
        r"fleet happy_sync=\d+\.\d\d happy_async=\d+\.\d\d scripts_per_failure=1\.00 "
        r"propagation_p99_ms=\d+\.\d\d",
        last,
    )
