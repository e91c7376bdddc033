"""What every command of ``resilience`` shares: exit codes, the command error, tables."""

from __future__ import annotations

from collections.abc import Sequence

from resilience.errors import ResilienceError

__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_USAGE", "CommandError", "format_table"]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2


class CommandError(ResilienceError):
    """A command can't do what was asked; its message is printed as is."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain text table, columns padded to their widest cell."""
    cells = [[str(h) for h in headers], *([str(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
