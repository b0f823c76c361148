"""A problem found in content or catalogs, reported as ``file:line: message``."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    path: Path | None
    line: int | None
    message: str
    severity: Severity = "error"
    # Extra lines shown under the problem in reports (e.g. the diff of a stale translation).
    detail: str = field(default="", compare=False)

    def location(self, base: Path | None = None) -> str:
        if self.path is None:
            return "-"
        path = self.path
        if base is not None:
            with suppress(ValueError):
                path = path.relative_to(base)
        return f"{path}:{self.line}" if self.line else str(path)

    def format(self, base: Path | None = None) -> str:
        return f"{self.location(base)}: {self.severity}: {self.message}"
