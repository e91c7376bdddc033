"""Where events go by default, each case in a fresh interpreter (nothing configured before):
structlog when the application configured it, else the standard ``logging`` logger
``resilience``; never stdout."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: A policy that retries, opens its circuit, falls back, refuses a call, then closes.
SCENARIO = """
from resilience import Breaker, Policy, Retry
from resilience.testing import no_wait


def down():
    raise ConnectionResetError("connection reset by peer")


policy = Policy(
    "orders",
    retry=Retry(attempts=2),
    breaker=Breaker(fail_max=2, reset_timeout=30.0),
    fallback=lambda: "cached",
)
with no_wait():
    assert policy.call(down) == "cached"  # retry.scheduled, breaker.opened, retry.gave_up, ...
    assert policy.call(down) == "cached"  # refused
policy.circuit.close()  # breaker.rejected, breaker.closed
"""

ALL = [
    "retry.scheduled",
    "breaker.opened",
    "retry.gave_up",
    "fallback.used",
    "fallback.used",
    "breaker.rejected",
    "breaker.closed",
]
WARNINGS_AND_UP = [name for name in ALL if name not in ("retry.scheduled", "breaker.closed")]


def _run(setup: str, after: str = "") -> subprocess.CompletedProcess[str]:
    code = textwrap.dedent(setup) + SCENARIO + textwrap.dedent(after)
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def _names(text: str) -> list[str]:
    return [line.split()[0] for line in text.splitlines() if line.strip()]


def test_unconfigured_warnings_and_errors_reach_stderr_and_nothing_stdout() -> None:
    run = _run("")
    assert run.returncode == 0, run.stderr
    assert run.stdout == ""
    assert _names(run.stderr) == WARNINGS_AND_UP  # Python's last-resort handler


def test_structlog_imported_but_not_configured_still_goes_to_logging() -> None:
    run = _run("import structlog\n")
    assert run.returncode == 0, run.stderr
    assert run.stdout == ""  # structlog's default printer would write here
    assert _names(run.stderr) == WARNINGS_AND_UP


def test_the_applications_logging_configuration_decides() -> None:
    run = _run(
        """
        import logging, sys
        logging.basicConfig(
            level=logging.DEBUG, stream=sys.stderr, format="%(name)s %(levelname)s %(message)s"
        )
        """
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == ""
    lines = [line.split(maxsplit=3) for line in run.stderr.splitlines()]
    assert [(name, level, event) for name, level, event, _ in lines] == [
        ("resilience", "DEBUG", "retry.scheduled"),
        ("resilience", "ERROR", "breaker.opened"),
        ("resilience", "ERROR", "retry.gave_up"),
        ("resilience", "WARNING", "fallback.used"),
        ("resilience", "WARNING", "fallback.used"),
        ("resilience", "WARNING", "breaker.rejected"),
        ("resilience", "INFO", "breaker.closed"),
    ]
    assert "policy=orders" in lines[0][3]
    assert "rejected=1" in lines[5][3]


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        ("CRITICAL", []),
        ("ERROR", ["breaker.opened", "retry.gave_up"]),
        ("INFO", [name for name in ALL if name != "retry.scheduled"]),
    ],
)
def test_set_level_on_the_resilience_logger_works(level: str, expected: list[str]) -> None:
    run = _run(
        f"""
        import logging, sys
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(message)s")
        logging.getLogger("resilience").setLevel(logging.{level})
        """
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == ""
    assert _names(run.stderr) == expected


def test_configured_structlog_gets_every_event_and_logging_none() -> None:
    run = _run(
        """
        import logging, sys
        import structlog

        class Fail(logging.Handler):
            def emit(self, record):
                raise AssertionError(f"went to logging: {record.getMessage()}")

        logging.getLogger().addHandler(Fail())
        logging.getLogger().setLevel(logging.DEBUG)
        structlog.configure(
            processors=[structlog.processors.add_log_level, structlog.processors.JSONRenderer()],
            logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        )
        """,
        after="""
        from structlog.testing import capture_logs

        with capture_logs() as logs, no_wait():
            policy.call(down)
        names = [e["event"] for e in logs]  # closed again: the same story
        assert names == ["retry.scheduled", "breaker.opened", "retry.gave_up", "fallback.used"]
        """,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == ""
    records = [json.loads(line) for line in run.stderr.splitlines()]
    assert [r["event"] for r in records] == ALL
    assert all(r["policy"] == "orders" for r in records)
    assert records[5]["rejected"] == 1
    assert records[0]["level"] == "debug"
