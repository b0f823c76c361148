"""Reading a YAML file that a person wrote: every failure is one Problem with file:line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.content.problems import Problem


@dataclass(frozen=True)
class YamlFile:
    """The parsed data and its node tree (for line numbers of keys)."""

    data: Any
    node: yaml.Node | None


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
    return YamlFile(data, node)
