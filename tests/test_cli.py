"""The command line: catalog and explain."""

from __future__ import annotations

import subprocess
import sys

import pytest

from resilience.cli import main


def test_catalog_prints_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "builtins"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("builtins: ")
    assert "builtins.TimeoutError" in out
    assert "retryable" in out
    assert "the operation timed out" in out


def test_catalog_without_a_library_prints_every_catalog(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog"]) == 0
    out = capsys.readouterr().out
    for name in ("builtins", "awsiot", "aiomqtt", "botocore", "devopsagent", "engineio"):
        assert f"\n{name}: " in f"\n{out}"


def test_explain_prints_category_rule_and_reason(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "ConnectionRefusedError"]) == 2  # not a dotted name anyone knows
    capsys.readouterr()
    assert main(["explain", "builtins.ConnectionRefusedError"]) == 0
    out = capsys.readouterr().out
    assert "category: retryable" in out
    assert "rule:     builtins.ConnectionRefusedError" in out
    assert "reason:" in out


def test_explain_imports_the_class_to_walk_its_mro(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "http.client.RemoteDisconnected"]) == 0
    assert main(["explain", "urllib.error.HTTPError", "--status", "503"]) == 0
    assert main(["explain", "builtins.OSError", "--code", "ECONNRESET"]) == 0
    out = capsys.readouterr().out
    assert "rule:     urllib.error.HTTPError status=5xx" in out
    assert "rule:     builtins.OSError code=ECONNRESET" in out


def test_explain_an_unknown_name_says_so_plainly(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "nowhere.Nothing"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("resilience: nowhere.Nothing: no rule knows this class")
    assert "Traceback" not in err


def test_bad_usage_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "nope"]) == 2
    assert main(["explain", "x.Y", "--status", "999"]) == 2
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "no catalog 'nope'" in err


def test_python_dash_m_runs_the_same_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "resilience", "explain", "builtins.TimeoutError"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "category: retryable" in done.stdout
