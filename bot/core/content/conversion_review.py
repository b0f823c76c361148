"""What a converted locale still needs from a translator, and ``i18n mark-reviewed``.

A locale made by ``i18n convert`` (:mod:`locale_conversion`) has these parts: its topic files,
``urgent.yaml``, ``privacy.yaml`` (each a file with ``machine_converted`` or, once reviewed,
``converted_from``), its labels in ``content/interests.yaml`` and its catalog (entries with a
``# machine-converted:`` comment). Each part is in one of these states:

- ``unreviewed``: converted by machine from today's source, not checked by a translator yet;
- ``outdated``: converted by machine from an older source: run ``i18n convert`` again;
- ``source changed``: reviewed, but the source changed since it was converted: a translator
  carries the change over by hand, then marks it reviewed again;
- reviewed (not listed): ``converted_from`` names today's source, or the part has no mark.

``i18n status`` lists them (outdated and source-changed parts fail it, as stale translations
do); ``check`` warns about them.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from babel.messages.pofile import write_po

from bot.core.content.catalog_conversion import (
    COMMENT_PREFIX,
    message_digest,
    unreviewed_entries,
)
from bot.core.content.freshness import MarkError, set_field
from bot.core.content.interest_conversion import (
    interest_mark,
    remove_interest_mark,
    source_labels_digest,
)
from bot.core.content.problems import Problem
from bot.core.content.script_conversion import (
    MACHINE_FIELD,
    REVIEWED_FIELD,
    Marker,
    digest,
    read_marks,
    yaml_quoted,
)
from bot.core.content.yamlfile import load_yaml_text
from bot.core.i18n import CatalogError, is_translated, po_path, read_catalog
from bot.core.interests import FILENAME as INTERESTS_FILE

State = Literal["unreviewed", "outdated", "source changed"]
#: The names of the parts that are not topic files (topic ids never take these).
INTERESTS, CATALOG = "interests", "messages"


@dataclass(frozen=True)
class ConvertedPart:
    name: str  # a topic id, "urgent", "privacy", "interests" or "messages"
    path: Path
    state: State
    marker: Marker
    line: int | None = None
    strings: int = 0  # the catalog: how many entries are in this state


@dataclass(frozen=True)
class LocaleConversion:
    """The parts of one locale that are not (or no longer) reviewed."""

    locale: str
    parts: tuple[ConvertedPart, ...]

    def names(self, state: State) -> list[str]:
        return [p.name for p in self.parts if p.state == state]

    def get(self, name: str, state: State | None = None) -> ConvertedPart | None:
        return next((p for p in self.parts if p.name == name and state in (None, p.state)), None)

    @property
    def source(self) -> str:
        return self.parts[0].marker.source if self.parts else ""

    @property
    def config(self) -> str:
        return next((p.marker.config for p in self.parts if p.marker.config), "")


def locale_conversion(content_dir: Path, locales_dir: Path, locale: str) -> LocaleConversion:
    """Every part of ``locale`` that is unreviewed, outdated or whose source changed."""
    parts: list[ConvertedPart] = []
    for path in sorted((content_dir / locale).glob("*.yaml")):
        marks = read_marks(path)
        marker = marks.machine or marks.reviewed
        if marker is None:
            continue
        source = content_dir / marker.source / path.name
        current = digest(source.read_text(encoding="utf-8")) if source.is_file() else None
        if marks.machine is not None:
            state: State = "unreviewed" if current == marker.digest else "outdated"
        elif current == marker.digest:
            continue
        else:
            state = "source changed"
        parts.append(ConvertedPart(path.stem, path, state, marker, marks.line))
    parts += _interest_parts(content_dir / INTERESTS_FILE, locale)
    parts += _catalog_parts(locales_dir, locale)
    return LocaleConversion(locale, tuple(parts))


def _interest_parts(path: Path, locale: str) -> list[ConvertedPart]:
    if not path.is_file():
        return []
    try:
        text = path.read_text(encoding="utf-8")
        marker = interest_mark(text, locale)
        current = source_labels_digest(text, marker.source) if marker else None
    except (OSError, yaml.YAMLError):  # `check` reports the file
        return []
    if marker is None:
        return []
    state: State = "unreviewed" if current == marker.digest else "outdated"
    return [ConvertedPart(INTERESTS, path, state, marker)]


def _catalog_parts(locales_dir: Path, locale: str) -> list[ConvertedPart]:
    path = po_path(locales_dir, locale)
    entries = unreviewed_entries(path, locale)
    if not entries:
        return []
    source = entries[0][1].source
    try:
        original = read_catalog(po_path(locales_dir, source), source)
    except CatalogError:
        original = None
    counts: dict[State, int] = {"unreviewed": 0, "outdated": 0}
    for message, marker in entries:
        mine = original.get(message.id, message.context) if original is not None else None
        same = mine is not None and is_translated(mine) and message_digest(mine) == marker.digest
        counts["unreviewed" if same else "outdated"] += 1
    marker = entries[0][1]
    return [
        ConvertedPart(CATALOG, path, state, marker, strings=count)
        for state, count in counts.items()
        if count
    ]


def conversion_problems(
    content_dir: Path, locales_dir: Path, locales: Iterable[str]
) -> list[Problem]:
    """`check` warnings: per locale, what is converted by machine and not reviewed yet; each
    outdated conversion; each reviewed part whose source changed."""
    problems: list[Problem] = []
    for locale in locales:
        conv = locale_conversion(content_dir, locales_dir, locale)
        if unreviewed := [p for p in conv.parts if p.state == "unreviewed"]:
            problems.append(
                Problem(
                    content_dir / locale,
                    None,
                    f"converted by machine from {conv.source} ({conv.config}), not reviewed "
                    f"yet: {describe(unreviewed)}; after reviewing, run `interventional-bot "
                    f"i18n mark-reviewed {locale} NAME…` (see TRANSLATING.md)",
                    "warning",
                )
            )
        for part in conv.parts:
            if part.state == "outdated":
                message = (
                    f"converted by machine from an older {part.marker.source}: run "
                    f"`interventional-bot i18n convert {part.marker.source} {locale}`"
                )
            elif part.state == "source changed":
                message = (
                    f"{part.marker.source}/{part.path.name} changed since this file was "
                    f"converted and reviewed: carry the change over by hand, then run "
                    f"`interventional-bot i18n mark-reviewed {locale} {part.name}`"
                )
            else:
                continue
            problems.append(Problem(part.path, part.line, message, "warning"))
    return problems


def describe(parts: Sequence[ConvertedPart], limit: int = 6) -> str:
    """ "30 topic(s) (about, benign, …), urgent, privacy, interests, 112 string(s)"."""
    files = [p.name for p in parts if p.name not in (INTERESTS, CATALOG)]
    topics = [n for n in files if n not in ("urgent", "privacy")]
    out: list[str] = []
    if topics:
        shown = ", ".join(topics[:limit]) + (", …" if len(topics) > limit else "")
        out.append(f"{len(topics)} topic(s) ({shown})")
    out += [n for n in files if n in ("urgent", "privacy")]
    out += [f"{p.name} labels" for p in parts if p.name == INTERESTS]
    out += [f"{p.strings} interface string(s)" for p in parts if p.name == CATALOG]
    return ", ".join(out)


# -- i18n mark-reviewed -------------------------------------------------------------------


def mark_reviewed(
    content_dir: Path, locales_dir: Path, locale: str, names: Sequence[str] | None
) -> list[str]:
    """Record that a translator reviewed these parts of ``locale`` (all that need it when
    ``names`` is None); one line per part. Raises :class:`MarkError` before changing any
    file when a name is unknown or its conversion is out of date."""
    conv = locale_conversion(content_dir, locales_dir, locale)
    if names is None:
        wanted = list(dict.fromkeys(p.name for p in conv.parts))
        if not wanted:
            raise MarkError(f"{locale} has nothing converted by machine left to review")
    else:
        wanted = list(dict.fromkeys(names))
    parts: list[ConvertedPart] = []
    for name in wanted:
        if (part := conv.get(name, "outdated")) is not None:
            raise MarkError(
                f"{name}: converted from an older {part.marker.source}; run `interventional-bot "
                f"i18n convert {part.marker.source} {locale}` first, then review it"
            )
        part = conv.get(name)
        if part is None:
            raise MarkError(
                f"{locale} has no part {name!r} waiting for review (waiting: "
                f"{', '.join(dict.fromkeys(p.name for p in conv.parts)) or 'none'})"
            )
        parts.append(part)
    return [_mark(part, content_dir, locale) for part in parts]


def _mark(part: ConvertedPart, content_dir: Path, locale: str) -> str:
    if part.name == CATALOG:
        return _mark_catalog(part.path, locale)
    text = part.path.read_text(encoding="utf-8")
    if part.name == INTERESTS:
        part.path.write_text(remove_interest_mark(text, locale), encoding="utf-8")
        return f"{INTERESTS_FILE}: {locale} labels reviewed"
    source = content_dir / part.marker.source / part.path.name
    reviewed = Marker(part.marker.source, digest(source.read_text(encoding="utf-8")))
    new_text = set_field(
        _without_field(text, MACHINE_FIELD, part.path),
        REVIEWED_FIELD,
        yaml_quoted(reviewed.value()),
        part.path,
    )
    part.path.write_text(new_text, encoding="utf-8")
    return f"{locale}/{part.path.name}: {REVIEWED_FIELD} {reviewed.value()}"


def _mark_catalog(path: Path, locale: str) -> str:
    catalog = read_catalog(path, locale)
    count = 0
    for message in catalog:
        kept = [c for c in message.user_comments if not c.startswith(COMMENT_PREFIX)]
        count += len(kept) != len(message.user_comments)
        message.user_comments = kept
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=0, ignore_obsolete=True)
    path.write_bytes(buffer.getvalue())
    return f"{locale}/LC_MESSAGES/{path.name}: {count} string(s) reviewed"


def _without_field(text: str, key: str, path: Path) -> str:
    """``text`` without the top-level ``key`` (its lines removed), nothing else changed."""
    node, data = load_yaml_text(text)
    if not isinstance(node, yaml.MappingNode) or key not in data:
        return text
    lines = text.splitlines(keepends=True)
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            end = v.end_mark.line + (1 if v.end_mark.column > 0 else 0)
            new_text = "".join(lines[: k.start_mark.line] + lines[end:])
            break
    expected = {name: value for name, value in data.items() if name != key}
    if load_yaml_text(new_text)[1] != expected:
        raise MarkError(f"{path}: could not remove {key!r} without changing other fields")
    return new_text
