"""The YAML reference's examples load: every ```yaml block of docs/yaml.md.

A block with ``version:`` is a whole policy file and loads as it is; a block without one is a
part of a file (a top-level section) and loads once given ``version: 1`` and, if it lacks
them, ``policies: {}``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from resilience import PolicySet, load_policies

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "yaml.md"
_BLOCK = re.compile(r"^```yaml[^\n]*\n(?P<text>.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)


def yaml_blocks() -> list[tuple[int, str]]:
    text = PAGE.read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, match.start("text")) + 1, match.group("text"))
        for match in _BLOCK.finditer(text)
    ]


BLOCKS = yaml_blocks()


def test_the_page_has_whole_files_and_parts() -> None:
    whole = [text for _, text in BLOCKS if re.search(r"^version:", text, re.MULTILINE)]
    assert len(whole) >= 4
    assert len(BLOCKS) > len(whole)


@pytest.mark.parametrize(("line", "text"), BLOCKS, ids=[f"line {line}" for line, _ in BLOCKS])
def test_block_loads(line: int, text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "examples"))  # the myapp.fallbacks the page names
    if not re.search(r"^version:", text, re.MULTILINE):
        text = "version: 1\n" + text
        if not re.search(r"^policies:", text, re.MULTILINE):
            text += "policies: {}\n"
    assert isinstance(load_policies(text), PolicySet), f"docs/yaml.md, line {line}"
