"""The ``resilience schedule`` samples in docs/ are what the command prints.

Each sample is a ```console block whose first line is the command (``$ resilience schedule
...``) and whose other lines are its output; the policy file it reads is a ```yaml block of
the same page (the table below says which). The command runs for real, as a reader would run
it, in a directory that holds that file as ``policies.yaml``; its seed is fixed, so the output
must match exactly.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
_CONSOLE = re.compile(
    r"^```console\n\$ (?P<command>resilience schedule [^\n]*)\n(?P<out>.*?)^```$",
    re.DOTALL | re.MULTILINE,
)
_YAML = re.compile(r"^```yaml\n(?P<text>.*?)^```$", re.DOTALL | re.MULTILINE)

# page -> which of the yaml blocks above its schedule sample is the policies.yaml it reads:
# retry.md shows the file just before the sample, yaml.md uses its example file at the top.
SAMPLES = {"retry.md": -1, "yaml.md": 0}


def samples(page: Path) -> list[tuple[str, str, str]]:
    """(command, expected output, policies.yaml) for each schedule sample of ``page``."""
    text = page.read_text(encoding="utf-8")
    found = []
    for match in _CONSOLE.finditer(text):
        before = list(_YAML.finditer(text, 0, match.start()))
        assert before, f"{page.name}: no yaml block before the schedule sample"
        chosen = before[SAMPLES[page.name]]
        found.append((match.group("command"), match.group("out"), chosen.group("text")))
    return found


def test_every_schedule_sample_is_listed() -> None:
    pages = {p.name for p in DOCS.rglob("*.md") if _CONSOLE.search(p.read_text(encoding="utf-8"))}
    assert pages == set(SAMPLES)


def resilience_command() -> list[str]:
    script = Path(sys.executable).with_name("resilience")
    return [str(script)] if script.exists() else [sys.executable, "-m", "resilience"]


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_schedule_sample_is_the_real_output(name: str, tmp_path: Path) -> None:
    [(command, expected, policies)] = samples(DOCS / name)
    (tmp_path / "policies.yaml").write_text(policies, encoding="utf-8")
    # The example file names fallbacks in examples/myapp, as a service's own package would be.
    env = {**os.environ, "PYTHONPATH": str(ROOT / "examples")}
    run = subprocess.run(
        [*resilience_command(), *shlex.split(command)[1:]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (run.returncode, run.stderr) == (0, "")
    assert run.stdout == expected, f"docs/{name}: `{command}` prints something else"
