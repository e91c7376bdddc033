"""``resilience demo``: the whole story runs, against its own HTTP service, without real waits."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys

import pytest
import structlog
from freezegun import freeze_time

from resilience.cli import demo, main
from resilience.testing import no_wait

SCENES = (
    "== 1. The service stumbles",
    "== 2. A 401 is never retried",
    "== 3. The service goes down",
    "== 4. While the circuit is open",
    "== 5. The service recovers",
    "== Summary ==",
)


def _lines_between(text: str, first: str, last: str) -> str:
    return text[text.index(first) : text.index(last)]


def test_the_story_in_full() -> None:
    """Backoffs skipped by no_wait; the reset timeout passes on freezegun's clock."""
    out = io.StringIO()
    with freeze_time() as frozen, no_wait():
        tally = demo.run(out=out, sleep=frozen.tick)
    text = out.getvalue()

    assert [s for s in SCENES if s in text] == list(SCENES)
    assert max(len(line) for line in text.splitlines()) <= 100  # fits a terminal
    assert "trial=" not in text  # words a reader understands
    assert tally.calls == 8
    # 3 (two 503s, then 200) + 1 (the 401) + 3 (down) + 0 (open) + 2 (recovered)
    assert tally.service_requests == 9
    assert tally.events["retry.scheduled"] == 4
    assert tally.events["retry.gave_up"] == 1
    assert tally.events["fallback.used"] == 4
    assert tally.events["breaker.rejected"] == 1  # one line, when the circuit half-opens
    assert tally.refused == 3
    assert tally.transitions == ["closed", "open", "half-open", "closed"]
    assert tally.answers == {"service": 3, "cache": 4, "failed": 1}

    scene2 = _lines_between(text, SCENES[1], SCENES[2])
    assert scene2.count("GET /profile -> 401") == 1
    assert "retry.scheduled" not in scene2
    assert "gave up after 1 attempt" in scene2
    assert "category=auth" in scene2

    scene4 = _lines_between(text, SCENES[3], SCENES[4])
    assert "GET /orders" not in scene4
    assert scene4.count("category=refused") == 3

    scene5 = _lines_between(text, SCENES[4], SCENES[5])
    assert scene5.index("breaker.half_opened") < scene5.index("breaker.closed")
    assert "policy.breaker_state == 'closed'" in scene5

    summary = text[text.index(SCENES[5]) :]
    assert re.search(r"requests that reached the service\s+9\b", summary)
    assert "closed -> open -> half-open -> closed" in summary
    assert "\033[" not in text  # not a terminal: no colors


def test_structlog_configuration_is_put_back() -> None:
    before = structlog.get_config()
    with freeze_time() as frozen, no_wait():
        demo.run(out=io.StringIO(), sleep=frozen.tick)
    assert structlog.get_config() == before


def test_colors_on_request() -> None:
    out = io.StringIO()
    with freeze_time() as frozen, no_wait():
        demo.run(out=out, sleep=frozen.tick, colors=True)
    assert "\033[1m== 1. The service stumbles" in out.getvalue()


def test_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI entry point, at 100x speed: about 20 ms of real waiting."""
    with no_wait():
        code = main(["demo", "--speed", "100"])
    captured = capsys.readouterr()
    assert code == 0
    assert captured.err == ""
    assert "breaker.opened" in captured.out
    assert "breaker.closed" in captured.out
    assert "== Summary ==" in captured.out


@pytest.mark.parametrize("speed", ["0", "-1", "nan", "abc"])
def test_bad_speed_is_one_clear_line(capsys: pytest.CaptureFixture[str], speed: str) -> None:
    assert main(["demo", "--speed", speed]) == 2  # a usage error, whatever the mistake
    err = capsys.readouterr().err
    assert err.startswith("resilience demo: argument --speed: expected a number > 0")
    assert "Traceback" not in err


def test_python_dash_m() -> None:
    """As a user runs it: a fresh interpreter, warnings as errors, output not a terminal."""
    env = {**os.environ, "PYTHONDEVMODE": "1"}
    env.pop("FORCE_COLOR", None)
    result = subprocess.run(
        [sys.executable, "-W", "error", "-m", "resilience", "demo", "--speed", "100"],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "closed -> open -> half-open -> closed" in result.stdout
    assert "\033[" not in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 100
