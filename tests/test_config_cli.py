"""The policy-file commands: check, schedule and schema."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from resilience.cli import main
from resilience.config.reader import read

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

POLICIES = """\
version: 1
breaker_storage:
  redis: {url: "redis://app:hunter2@127.0.0.1:1/0", namespace: myapp, timeout: 0.2}
classify:
  myapp.errors.Flaky: retryable
policies:
  steady:
    retry:
      attempts: 4
      backoff: {initial: 1, maximum: 4, jitter: none}
  capped:
    retry:
      attempts: 6
      deadline: 10
      backoff: {initial: 1, maximum: 8, jitter: full}
    breaker: {fail_max: 3, reset_timeout: 15, half_open_calls: 2}
    queue: {action: retry, attempts: 3, backoff: {initial: 2, maximum: 2, jitter: equal}}
    fallback: {function: "os.path:basename", on: [queue]}
  once: {}
"""


@pytest.fixture(name="policy_file")
def _policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policies.yaml"
    path.write_text(POLICIES, encoding="utf-8")
    return path


@pytest.fixture(name="run")
def _run(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run the command line; return its exit status, stdout and stderr."""

    def run(*argv: str) -> tuple[int, str, str]:
        status = main(list(argv))
        out, err = capsys.readouterr()
        return status, out, err

    return run


def rows(out: str) -> dict[str, list[str]]:
    """The table rows of the output, by their first cell (headers and notes left out)."""
    skip = ("policy", "attempt", "worst-case", "retryable", "queue-related")
    return {
        line.split()[0]: line.split()
        for line in out.splitlines()
        if line[:1].isalnum() and not line.startswith(skip)
    }


def test_check_prints_a_table_of_the_policies(
    run: Callable[..., tuple[int, str, str]], policy_file: Path
) -> None:
    status, out, err = run("check", str(policy_file))
    assert (status, err) == (0, "")
    first = out.splitlines()[0]
    assert first == (
        f"{policy_file}: 3 policies, 1 classify rule, breaker state in "
        "Redis redis://app:***@127.0.0.1:1/0 (myapp)"
    )
    header = out.splitlines()[2].split()
    assert header == [
        "policy",
        "attempts",
        "deadline",
        "timeout",
        "backoff",
        "budget",
        "breaker",
        "concurrency",
        "rate",
        "limit",
        "hedge",
        "queue",
        "fallback",
    ]
    table = rows(out)
    assert table["steady"][:7] == ["steady", "4", "-", "-", "none", "jitter,", "1s..4s"]
    assert table["capped"][:7] == ["capped", "6", "10s", "-", "full", "jitter,", "1s..8s"]
    assert table["once"][-2:] == ["fallback)", "-"]  # raise (no fallback)
    assert "3 fails, 15s open, 2 trials" in out
    assert "retry x3, equal jitter, 2s..2s x2" in out
    assert "posixpath:basename (on queue)" in out
    assert "raise (no fallback)" in out
    assert "hunter2" not in out


def test_check_of_the_example_file(
    run: Callable[..., tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(EXAMPLES)  # fallbacks import from the current directory, as in an app
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(EXAMPLES))])
    status, out, _ = run("check", "policies.yaml")
    assert status == 0
    assert "myapp.fallbacks:connect_direct" in out
    assert set(rows(out)) >= {"greengrass-discovery", "mqtt-publish", "aws-api", "devops-agent"}


def test_check_imports_fallbacks_from_beside_the_file(
    run: Callable[..., tuple[int, str, str]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)  # somewhere else: the file's own directory is searched too
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(EXAMPLES))])
    for name in [m for m in sys.modules if m == "myapp" or m.startswith("myapp.")]:
        monkeypatch.delitem(sys.modules, name)
    status, out, err = run("check", str(EXAMPLES / "policies.yaml"))
    assert (status, err) == (0, "")
    assert "myapp.fallbacks:connect_direct" in out


def test_check_reports_a_mistake_on_one_line_and_fails(
    run: Callable[..., tuple[int, str, str]], tmp_path: Path
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(POLICIES.replace("attempts: 4", "attempts: four"), encoding="utf-8")
    status, out, err = run("check", str(path))
    assert status == 1
    assert out == ""
    assert err == (
        "resilience: policies.steady.retry.attempts: must be an integer >= 1 "
        f"(got 'four') ({path}, line 9)\n"
    )


def test_check_of_a_missing_file_fails_cleanly(
    run: Callable[..., tuple[int, str, str]], tmp_path: Path
) -> None:
    status, _, err = run("check", str(tmp_path / "nope.yaml"))
    assert status == 1
    assert err.startswith("resilience: cannot read the policy file: No such file or directory")


def test_no_traceback_reaches_the_terminal(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "version: 1\npolicies:\n  a: {retry: {attempts: !!python/object:os.system {}}}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "resilience", "check", str(path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1
    assert "the tag !!python/object:os.system is not allowed" in done.stderr


def test_schedule_without_jitter_is_the_base_delays(
    run: Callable[..., tuple[int, str, str]], policy_file: Path
) -> None:
    status, out, err = run("schedule", "steady", "--config", str(policy_file), "--samples", "50")
    assert (status, err) == (0, "")
    table = rows(out)
    assert table["2"] == ["2", "1s", "1s", "1s", "1s", "1s", "1s"]
    assert table["3"] == ["3", "2s", "2s", "2s", "2s", "2s", "3s"]
    assert table["4"] == ["4", "4s", "4s", "4s", "4s", "4s", "7s"]
    assert "worst-case total wait: 7s (the sum of the maxima)" in out


def test_schedule_percentiles_stay_within_the_base_and_the_deadline_caps(
    run: Callable[..., tuple[int, str, str]], policy_file: Path
) -> None:
    status, out, _ = run("schedule", "capped", "--config", str(policy_file))
    assert status == 0
    assert "10000 samples per wait" in out
    retry_part, queue_part = out.split("queue-related failures")
    table = rows(retry_part)
    for attempt, base in (("2", 1.0), ("3", 2.0), ("4", 4.0), ("5", 8.0), ("6", 8.0)):
        cells = table[attempt]
        assert float(cells[1].rstrip("s")) == base
        p5, p50, p95 = (float(c.rstrip("s")) for c in cells[2:5])
        assert 0 <= p5 <= p50 <= p95 <= base
        assert 0.35 * base <= p50 <= 0.65 * base  # full jitter: uniform(0, base)
    assert table["6"][-1] == "10s"  # 1 + 2 + 4 + 8 + 8 = 23, cut by the deadline
    assert "worst-case total wait: 23s (the sum of the maxima), cut to 10s by the deadline" in out
    queue = rows(queue_part)
    assert set(queue) == {"2", "3"}
    for attempt in ("2", "3"):
        p5, p95 = float(queue[attempt][2].rstrip("s")), float(queue[attempt][4].rstrip("s"))
        assert 1.0 <= p5 <= p95 <= 2.0  # equal jitter: base/2 + uniform(0, base/2)


def test_schedule_of_a_policy_without_retries(
    run: Callable[..., tuple[int, str, str]], policy_file: Path
) -> None:
    status, out, _ = run("schedule", "once", "--config", str(policy_file))
    assert status == 0
    assert "retryable failures: tried once, never retried" in out


def test_schedule_shows_fifty_rows_but_counts_every_wait(
    run: Callable[..., tuple[int, str, str]], tmp_path: Path
) -> None:
    path = tmp_path / "long.yaml"
    path.write_text(
        "version: 1\npolicies:\n  long:\n    retry:\n      attempts: 10001\n"
        "      backoff: {initial: 1, maximum: 3, jitter: decorrelated}\n"
    )
    status, out, _ = run("schedule", "long", "--config", str(path), "--samples", "20")
    assert status == 0
    assert "... 9950 more retries, each waiting at most 3s" in out
    assert "worst-case total wait: 30,000s" in out  # 3 s x 10 000


def test_schedule_reads_resilience_config_by_default(
    run: Callable[..., tuple[int, str, str]], policy_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESILIENCE_CONFIG", str(policy_file))
    assert run("schedule", "steady", "--samples", "5")[0] == 0


@pytest.mark.parametrize(
    ("argv", "status", "message"),
    [
        (["schedule", "stedy"], 1, "no policy named 'stedy'; did you mean 'steady'?"),
        (["schedule", "steady", "--samples", "0"], 2, "expected a whole number from 1 to"),
        (["schedule", "steady", "--samples", "many"], 2, "expected a whole number from 1 to"),
    ],
)
def test_schedule_mistakes(
    run: Callable[..., tuple[int, str, str]],
    policy_file: Path,
    argv: list[str],
    status: int,
    message: str,
) -> None:
    got, out, err = run(*argv, "--config", str(policy_file))
    assert got == status
    assert out == ""
    assert message in err
    assert err.count("\n") == 1


def test_schedule_needs_a_file(
    run: Callable[..., tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RESILIENCE_CONFIG", raising=False)
    status, _, err = run("schedule", "steady")
    assert status == 2
    assert "--config FILE (or set RESILIENCE_CONFIG)" in err


def test_schema_prints_the_json_schema(run: Callable[..., tuple[int, str, str]]) -> None:
    status, out, _ = run("schema")
    assert status == 0
    schema = json.loads(out)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["required"] == ["version", "policies"]
    assert schema["additionalProperties"] is False
    retry = schema["$defs"]["RetrySection"]["properties"]
    assert set(retry) == {
        "attempts",
        "deadline",
        "attempt_timeout",
        "backoff",
        "budget",
        "hints",
        "max_hint",
    }
    assert retry["attempts"] == {
        "default": 3,
        "description": "Calls in all, the first included: 1 never retries.",
        "minimum": 1,
        "title": "Attempts",
        "type": "integer",
    }
    jitter = schema["$defs"]["BackoffSection"]["properties"]["jitter"]
    assert jitter["enum"] == ["none", "full", "equal", "decorrelated"]


def test_the_committed_schema_is_current(run: Callable[..., tuple[int, str, str]]) -> None:
    committed = (ROOT / "docs" / "policies.schema.json").read_text(encoding="utf-8")
    assert run("schema")[1] == committed, "run: resilience schema > docs/policies.schema.json"


def test_the_example_file_matches_the_schema(
    run: Callable[..., tuple[int, str, str]],
) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(run("schema")[1])
    jsonschema.Draft202012Validator.check_schema(schema)
    # read as resilience reads it: YAML 1.1's safe_load would turn the key `on:` into True
    document = read(EXAMPLES / "policies.yaml").data
    jsonschema.validate(document, schema, cls=jsonschema.Draft202012Validator)
    bad = {**document, "policies": {"x": {"retry": {"atempts": 3}}}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema, cls=jsonschema.Draft202012Validator)
