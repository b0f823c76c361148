"""Reading a YAML file that a person wrote: every failure is one Problem with file:line.

Every YAML file the bot reads (topics, interests, privacy texts, broadcast files, translation
snapshots) goes through :func:`load_yaml_text`, which accepts plain data only: anchors and
aliases are refused (an alias of an alias of … expands to gigabytes: "billion laughs"), and so
is any tag other than YAML's plain types (``!!python/object``, ``!custom``…), each with the
line where it is. Files over :data:`MAX_YAML_BYTES` are refused before they are parsed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.core.content.problems import Problem

#: No file the bot reads comes near this; a larger one is refused unread.
MAX_YAML_BYTES = 2_000_000
# The tags of plain data (written ``!!str`` etc.); anything else is refused.
_PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}"
    for name in ("str", "int", "float", "bool", "null", "seq", "map", "timestamp")
)


class YamlRefused(yaml.YAMLError):
    """Valid YAML that the bot refuses to read (an alias, an anchor, a tag); 1-based line."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


class _PlainDataLoader(yaml.SafeLoader):
    """The safe loader, refusing anchors, aliases and tags of anything but plain data."""

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            raise YamlRefused(
                line,
                f"YAML alias *{event.anchor} is not allowed: write the text out in full",
            )
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise YamlRefused(
                line,
                f"YAML anchor &{anchor} is not allowed: write the text out in full",
            )
        tag = getattr(event, "tag", None)
        if tag is not None and tag != "!" and tag not in _PLAIN_TAGS:
            shown = tag.replace("tag:yaml.org,2002:", "!!", 1)
            raise YamlRefused(line, f"YAML tag {shown} is not allowed: write plain text")
        return super().compose_node(parent, index)


def load_yaml_text(text: str) -> tuple[yaml.Node | None, Any]:
    """(node tree, data) of one YAML document of plain data.

    Raises :class:`YamlRefused` for anchors, aliases and other tags, and ``yaml.YAMLError``
    for anything else wrong.
    """
    loader = _PlainDataLoader(text)
    try:
        node = loader.get_single_node()
        data = None if node is None else loader.construct_document(node)
    finally:
        loader.dispose()
    return node, data


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
        if path.stat().st_size > MAX_YAML_BYTES:
            return Problem(path, None, f"larger than {MAX_YAML_BYTES // 1_000_000} MB: refused")
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return Problem(path, None, f"not UTF-8 text ({exc.reason})")
    except OSError as exc:
        return Problem(path, None, f"cannot read: {exc.strerror or exc}")
    try:
        node, data = load_yaml_text(text)
    except YamlRefused as exc:
        return Problem(path, exc.line, exc.message)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = " ".join(str(x) for x in (exc.context, exc.problem) if x)
        return Problem(path, line, f"YAML syntax error: {what}")
    except yaml.YAMLError as exc:
        return Problem(path, None, f"YAML error: {exc}")
    return YamlFile(data, node, key_lines(node))


def mapping_value(node: yaml.Node | None, key: str) -> yaml.Node | None:
    """The value node of ``key`` in a mapping node (None when absent or not a mapping)."""
    if not isinstance(node, yaml.MappingNode):
        return None
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return v  # type: ignore[no-any-return]
    return None
