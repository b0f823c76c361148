"""Reading a YAML file that a person wrote: every failure is one Problem with file:line."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.core.content.problems import Problem


@dataclass(frozen=True)
class YamlFile:
    """The parsed data, its node tree, and the line of every mapping key.

    ``lines`` maps a dotted key path (``texts``, ``texts.en``, ``audience.locales``) to the
    1-based line of that key, taken from the composer's node marks once, when the file is read.
    """

    data: Any
    node: yaml.Node | None
    lines: Mapping[str, int] = field(default_factory=dict)

    def line(self, key: str, default: int | None = None) -> int | None:
        """The line of ``key`` (a dotted path), else of its nearest parent, else ``default``."""
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key.rpartition(".")[0]
        return default


def key_lines(node: yaml.Node | None, prefix: str = "") -> dict[str, int]:
    """Dotted key path -> 1-based line, for every key of every nested mapping."""
    lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                name = f"{prefix}{key.value}"
                lines.setdefault(name, key.start_mark.line + 1)
                lines.update(
                    (k, v) for k, v in key_lines(value, f"{name}.").items() if k not in lines
                )
    return lines


def read_yaml(path: Path) -> YamlFile | Problem:
    """Parse ``path`` (UTF-8, safe loader); a Problem says what is wrong and where."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return Problem(path, None, f"not UTF-8 text ({exc.reason})")
    except OSError as exc:
        return Problem(path, None, f"cannot read: {exc.strerror or exc}")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = " ".join(str(x) for x in (exc.context, exc.problem) if x)
        return Problem(path, line, f"YAML syntax error: {what}")
    except yaml.YAMLError as exc:
        return Problem(path, None, f"YAML error: {exc}")
    return YamlFile(data, node, key_lines(node))
