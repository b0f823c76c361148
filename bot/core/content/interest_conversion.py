"""The labels of a converted locale in ``content/interests.yaml``.

The file is shared by every locale, so the mark is a top-level mapping, one entry per
converted locale, after the list (the interests loader reads only ``interests:``)::

    machine_converted:
      zh_Hant: "opencc s2twp from zh_Hans 1a2b3c4d5e6f"

Converting writes the target label of every interest next to its source label (a new line
under it, or the old value replaced), editing only those lines, and sets the entry. Without
an entry the labels are a translator's: only missing ones are added (and the entry set, since
the set then holds machine text), unless ``force``. ``i18n mark-reviewed LOCALE interests``
removes the entry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import yaml

from bot.core.content.script_conversion import (
    MACHINE_FIELD,
    ConversionError,
    Marker,
    digest,
    parse_marker,
    yaml_quoted,
)
from bot.core.content.yamlfile import load_yaml_text, mapping_value

MARK_COMMENT = "# Labels converted by machine (`i18n convert`); see TRANSLATING.md."
Edit = tuple[int, int, str]


def interest_mark(text: str, locale: str) -> Marker | None:
    """The machine-converted mark of ``locale``'s labels, or None (reviewed, or none)."""
    _node, data = load_yaml_text(text)
    marks = data.get(MACHINE_FIELD) if isinstance(data, dict) else None
    return parse_marker(MACHINE_FIELD, marks.get(locale)) if isinstance(marks, dict) else None


def source_labels_digest(text: str, source: str) -> str:
    """The hash of the source locale's labels (id: label, one per line)."""
    _node, data = load_yaml_text(text)
    entries = data.get("interests") if isinstance(data, dict) else None
    lines = [
        f"{entry.get('id')}: {entry['labels'][source]}"
        for entry in entries or []
        if isinstance(entry, dict)
        and isinstance(entry.get("labels"), dict)
        and source in entry["labels"]
    ]
    return digest("\n".join(lines))


def convert_interest_labels(
    text: str,
    locales: tuple[str, str],
    config: str,
    convert: Callable[[str], str],
    force: bool,
) -> tuple[str, str]:
    """(the new text, a note) with the target labels converted (see the module docstring)."""
    source, target = locales
    marked = force or interest_mark(text, target) is not None
    edits: list[Edit] = []
    expected: dict[str, str] = {}
    for interest_id, source_key, source_value, target_value in _label_nodes(text, locales):
        label = convert(str(source_value.value))
        if target_value is None:
            at = _line_end(text, source_value.end_mark.index)
            indent = " " * source_key.start_mark.column
            edits.append((at, at, f"{indent}{target}: {_scalar(label)}\n"))
        elif marked:
            span = (target_value.start_mark.index, target_value.end_mark.index)
            edits.append((*span, _scalar(label)))
        else:
            label = str(target_value.value)
        expected[interest_id] = label
    if not edits:
        return text, "reviewed" if not marked else ""
    new_text = _apply(text, edits)
    marker = Marker(source, source_labels_digest(text, source), config).value()
    new_text = _set_mark(new_text, target, marker)
    _verify(new_text, target, expected, marker)
    return new_text, f"{target} labels"


def remove_interest_mark(text: str, locale: str) -> str:
    """``text`` without ``locale``'s mark (and without the mapping once it is empty)."""
    node, _data = load_yaml_text(text)
    marks = mapping_value(node, MACHINE_FIELD)
    if not isinstance(marks, yaml.MappingNode):
        return text
    entries = [(k, v) for k, v in marks.value if isinstance(k, yaml.ScalarNode)]
    mine = [(k, v) for k, v in entries if k.value == locale]
    if not mine:
        return text
    if len(entries) > 1:
        key, value = mine[0]
        start = text.rfind("\n", 0, key.start_mark.index) + 1
        return text[:start] + text[_line_end(text, value.end_mark.index) :]
    key_node = next(k for k, _v in node.value if k.value == MACHINE_FIELD)  # type: ignore[union-attr]
    start = text.rfind("\n", 0, key_node.start_mark.index) + 1
    before = text[:start]
    if before.endswith(MARK_COMMENT + "\n"):
        before = before[: -len(MARK_COMMENT) - 1]
    return before + text[_line_end(text, marks.value[-1][1].end_mark.index) :]


def _label_nodes(
    text: str, locales: tuple[str, str]
) -> Iterator[tuple[str, yaml.ScalarNode, yaml.ScalarNode, yaml.ScalarNode | None]]:
    """(id, source key, source label, target label or None) of each interest with a source
    label."""
    source, target = locales
    node, _data = load_yaml_text(text)
    items = mapping_value(node, "interests")
    for entry in items.value if isinstance(items, yaml.SequenceNode) else ():
        interest_id = mapping_value(entry, "id")
        labels = mapping_value(entry, "labels")
        if not isinstance(interest_id, yaml.ScalarNode) or not isinstance(
            labels, yaml.MappingNode
        ):
            continue
        pairs = {str(k.value): (k, v) for k, v in labels.value if isinstance(v, yaml.ScalarNode)}
        if source in pairs:
            key, value = pairs[source]
            mine = pairs.get(target)
            yield str(interest_id.value), key, value, mine[1] if mine else None


def _set_mark(text: str, locale: str, marker: str) -> str:
    node, _data = load_yaml_text(text)
    marks = mapping_value(node, MACHINE_FIELD)
    entry = f"{locale}: {yaml_quoted(marker)}"
    if isinstance(marks, yaml.MappingNode) and marks.value:
        for key, value in marks.value:
            if key.value == locale:
                return _apply(text, [(key.start_mark.index, value.end_mark.index, entry)])
        at = _line_end(text, marks.value[-1][1].end_mark.index)
        indent = " " * marks.value[0][0].start_mark.column
        return _apply(text, [(at, at, f"{indent}{entry}\n")])
    if marks is not None:
        raise ConversionError(f"interests.yaml: {MACHINE_FIELD!r} must be a mapping of locales")
    tail = "" if text.endswith("\n") else "\n"
    return f"{text}{tail}{MARK_COMMENT}\n{MACHINE_FIELD}:\n  {entry}\n"


def _verify(text: str, locale: str, expected: dict[str, str], marker: str) -> None:
    _node, data = load_yaml_text(text)
    found = {
        str(entry.get("id")): entry["labels"].get(locale)
        for entry in data.get("interests") or []
        if isinstance(entry, dict) and isinstance(entry.get("labels"), dict)
    }
    if any(found.get(k) != v for k, v in expected.items()) or (
        data.get(MACHINE_FIELD, {}).get(locale) != marker
    ):
        raise ConversionError("interests.yaml: could not add the labels without other changes")


def _scalar(value: str) -> str:
    """``value`` as a plain YAML scalar when it reads back the same, else double-quoted."""
    try:
        plain_ok = load_yaml_text(f"k: {value}")[1] == {"k": value}
    except yaml.YAMLError:
        plain_ok = False
    return value if plain_ok and "\n" not in value else yaml_quoted(value)


def _apply(text: str, edits: list[Edit]) -> str:
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def _line_end(text: str, index: int) -> int:
    end = text.find("\n", index)
    return len(text) if end < 0 else end + 1
