"""The benchmark scripts still run: each on a tiny configuration.

No timing is asserted: speed goals are measured by ``benchmarks/run.py``, never by tests.
The contention simulation is deterministic (seeded), so the article's finding is checked.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest
import structlog

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCHMARKS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _plots() -> list[str]:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return ["--no-plots"]
    return []


def test_run_measures_every_group_and_ends_with_the_ratios(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for peer in ("stamina", "backoff", "circuitbreaker"):
        pytest.importorskip(peer, reason="benchmarks need the bench extra")
    run = _load("run")
    was_configured = structlog.is_configured()
    target = tmp_path / "run.json"

    args = ["--rounds", "2", "--budget", "0.001", "--json", str(target), "--img", str(tmp_path)]
    code = run.main([*args, *_plots()])

    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    for line, setup in zip(lines[-2:], ("service", "default"), strict=True):
        assert re.fullmatch(
            rf"ratios {setup} floor_sync=\d+\.\d{{3}} floor_async=\d+\.\d{{3}} "
            r"failure=\d+\.\d{3} open=\d+\.\d{3} rate=\d+\.\d{3} rate_timed=\d+\.\d{3}",
            line,
        )
    data = json.loads(target.read_text())
    groups = {"happy_sync", "happy_asyncio", "failure_sync", "failure_asyncio", "open", "limits"}
    for setup in ("service", "default"):
        assert {f"{setup}/{group}" for group in groups} <= set(data["groups"])
        assert set(data["ratios"][setup]) >= {
            "floor_sync",
            "floor_async",
            "failure",
            "open",
            "rate",
        }
        assert set(data["limits_ns"][setup]) == {"concurrency_ns", "rate_limit_ns"}
    for group in data["groups"].values():
        for stats in group["cases"].values():
            assert stats["rounds"] == 2
            assert stats["median_ns"] > 0
    if not _plots():
        assert (tmp_path / "backoff-schedule.png").stat().st_size > 0
        assert (tmp_path / "overhead.png").stat().st_size > 0
    # The service-like logging configuration is undone.
    assert structlog.is_configured() == was_configured


def test_contention_finding_holds_on_a_few_seeded_trials(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    contention = _load("contention")
    target = tmp_path / "contention.json"

    args = [
        "--clients",
        "20",
        "100",
        "--trials",
        "5",
        "--json",
        str(target),
        "--img",
        str(tmp_path),
    ]
    code = contention.main([*args, *_plots()])

    assert code == 0  # full jitter needs < half the calls of plain exponential at 100 clients
    last = capsys.readouterr().out.strip().splitlines()[-1]
    found = re.fullmatch(
        r"contention n=100 calls_none=(\d+) calls_expo=(\d+) calls_full=(\d+) "
        r"calls_equal=(\d+) calls_decorrelated=(\d+)",
        last,
    )
    assert found is not None
    none, expo, full, equal, decorrelated = map(int, found.groups())
    assert full < expo / 2
    assert max(full, equal, decorrelated) < min(none, expo)
    points = json.loads(target.read_text())["points"]
    assert [p["clients"] for p in points["full"]] == [20, 100]


def test_contention_is_reproducible() -> None:
    contention = _load("contention")
    first = contention.simulate("decorrelated", 30, 3, seed=7)
    again = contention.simulate("decorrelated", 30, 3, seed=7)
    assert first == again
    assert contention.simulate("none", 1, 1, seed=7).calls == 1  # alone, a client never fails


def test_hedge_runs_both_policies_and_ends_with_the_p99s(
    capsys: pytest.CaptureFixture[str],
) -> None:
    hedge = _load("hedge")
    args = ["--requests", "30", "--concurrency", "3", "--fast", "1", "--slow", "20"]
    code = hedge.main([*args, "--delay", "5"])

    assert code == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-3].startswith("plain ")
    assert out[-2].startswith("hedged ")
    assert re.fullmatch(
        r"hedge p99_plain=\d+\.\d p99_hedged=\d+\.\d ratio=\d+\.\d{3} extra_requests=-?\d+\.\d{3}",
        out[-1],
    )


def test_the_rate_breaker_opens_at_a_steady_error_rate_and_the_consecutive_does_not(
    capsys: pytest.CaptureFixture[str],
) -> None:
    point = _load("rate_vs_consecutive")
    assert point.main(["--seconds", "2", "--check"]) == 0
    out = capsys.readouterr().out
    assert "point holds" in out
    steady = out.split("== ")[1]
    assert "consecutive (fail_max=5)                       stayed closed" in steady
    assert "opened at 0.099 s, call 100" in steady
