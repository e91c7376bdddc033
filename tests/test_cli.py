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
    for name in ("ConnectionRefusedError", "builtins.ConnectionRefusedError"):
        assert main(["explain", name]) == 0  # builtins bare, or as the rules spell them
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


def test_explain_a_class_no_rule_knows_is_an_answer(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "builtins.ValueError"]) == 0
    out = capsys.readouterr().out
    assert "category: permanent\nrule:     default" in out
    assert "nor any of its bases" in out
    assert main(["explain", "nowhere.Nothing"]) == 0
    captured = capsys.readouterr()
    assert "could not be imported" in captured.out
    assert captured.err == ""


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["catalog", "nope"], "resilience catalog: no catalog 'nope'; the catalogs are builtins"),
        (["explain", "x.Y", "--status", "999"], "resilience explain: argument --status: expected"),
        ([], "resilience: choose a command (catalog, explain, check, schedule, schema, demo)"),
        (["nope"], "resilience: argument COMMAND: invalid choice: 'nope'"),
        (["demo", "--speed", "abc"], "resilience demo: argument --speed: expected a number > 0"),
        (["demo", "--speed", "0"], "resilience demo: argument --speed: expected a number > 0"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(message)
    assert err.count("\n") == 1
    assert "resilience: resilience" not in err


def test_version_and_help_are_plain(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"resilience-policies {version('resilience-policies')}\n"
    import resilience

    assert resilience.__version__ == version("resilience-policies")
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "``" not in out  # no markup meant for another renderer
    assert out.startswith("usage: resilience ")


def test_help_imports_no_client_machinery() -> None:
    code = (
        "import sys\n"
        "from resilience.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = {'yaml', 'pybreaker', 'redis', 'asyncio', 'resilience.classify.classifier',"
        " 'resilience.engine.policy', 'resilience.config'}\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_python_dash_m_runs_the_same_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "resilience", "explain", "builtins.TimeoutError"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "category: retryable" in done.stdout
