"""A screen as a terminal shows it (`demo`, `render`): the text, then numbered buttons."""

from __future__ import annotations


def numbered_buttons(rows: list[list[str]]) -> list[str]:
    """One line per keyboard row, buttons numbered from 1 across rows: ``[1] Back   [2] Home``."""
    lines: list[str] = []
    number = 1
    for row in rows:
        cells = []
        for label in row:
            cells.append(f"[{number}] {label}")
            number += 1
        lines.append("   ".join(cells))
    return lines
