"""Every ```python block in docs/ runs: in order, one fresh namespace per page, under no_wait().

A block preceded by ``<!-- not-tested: reason -->`` is skipped; keep that for examples that
need a real external server. The namespace is named ``__main__``, as when a reader pastes the
page into a script, so classes a page defines are ``__main__.Name`` to the classifier.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from resilience.testing import no_wait

DOCS = Path(__file__).resolve().parent.parent / "docs"

_BLOCK = re.compile(
    r"(?P<skip><!--\s*not-tested:(?P<reason>.*?)-->\s*\n)?"
    r"^```python[^\n]*\n(?P<code>.*?)^```[ \t]*$",
    re.DOTALL | re.MULTILINE,
)

PAGES = [*sorted(DOCS.rglob("*.md")), DOCS.parent / "README.md"]


def python_blocks(text: str) -> list[tuple[int, str, str | None]]:
    """The page's python blocks: (line number, code, reason to skip or None)."""
    blocks = []
    for match in _BLOCK.finditer(text):
        line = text.count("\n", 0, match.start("code")) + 1
        reason = match.group("reason").strip() if match.group("skip") else None
        blocks.append((line, match.group("code"), reason))
    return blocks


def test_block_extraction() -> None:
    text = (
        "intro\n```python\nx = 1\n```\n\n<!-- not-tested: needs AWS -->\n"
        "```python\nboom()\n```\n```console\n$ ls\n```\n```python title=y\ny = x\n```\n"
    )
    assert python_blocks(text) == [
        (3, "x = 1\n", None),
        (8, "boom()\n", "needs AWS"),
        (14, "y = x\n", None),
    ]


@pytest.fixture(name="fresh_structlog")
def _fresh_structlog() -> Iterator[None]:
    """Each page starts as a reader's script does, with structlog not configured (a page's
    ``capture_logs()`` leaves it configured); put back as it was afterwards."""
    was_configured = structlog.is_configured()
    saved = structlog.get_config()
    structlog.reset_defaults()
    yield
    if was_configured:
        structlog.configure(**saved)
    else:
        structlog.reset_defaults()


@pytest.mark.usefixtures("fresh_structlog")
@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(DOCS.parent)) for p in PAGES])
def test_page(page: Path) -> None:
    namespace: dict[str, object] = {"__name__": "__main__"}
    blocks = python_blocks(page.read_text(encoding="utf-8"))
    with no_wait():
        for line, code, reason in blocks:
            if reason is not None:
                assert reason, f"{page.name}:{line}: say why the block is not tested"
                continue
            # Padded with blank lines, so tracebacks give the line in the page.
            compiled = compile("\n" * (line - 1) + code, str(page), "exec")
            exec(compiled, namespace)  # noqa: S102 - running the docs is the point
