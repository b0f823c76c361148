"""Is each translation up to date with its English, and is each topic's medical review recent?

A translated topic records the version of the source-locale (English) topic it was translated
from in its ``translated_from`` field: a short hash of the English title, button and body, and
of a glossary topic's terms (each term, its aliases and its definition).
``interventional-bot i18n mark-translated LOCALE TOPIC…`` writes that field (a one-line edit
that keeps the translator's formatting and comments) and keeps a copy of the English text in
``content/<locale>/_translated_from/<topic>.yaml``, so that once the English changes the
translator can be shown exactly what changed since (a unified diff).

States of a translated topic:

- ``current``: ``translated_from`` matches today's English;
- ``stale``: it does not: the English changed after the translation (still served);
- ``unmarked``: no ``translated_from`` at all (never marked, e.g. a new language in progress);
- ``missing``: the locale has no file for a topic the English has.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Literal

import yaml

from bot.core.content.loader import load_tree
from bot.core.content.model import ContentTree, GlossaryTerm, Library, Topic
from bot.core.content.problems import Problem
from bot.core.i18n import SOURCE_LOCALE

FIELD = "translated_from"
# Folder (inside content/<locale>/) with the English each topic was translated from. The loader
# only reads content/<locale>/*.yaml, so these copies are never served.
SNAPSHOT_DIR = "_translated_from"
HASH_LENGTH = 12

State = Literal["current", "stale", "unmarked", "missing"]


class MarkError(Exception):
    """``mark-translated`` cannot proceed; ``str()`` is one line naming the file or topic."""


def source_text(
    title: str, button: str | None, body: str, terms: Sequence[GlossaryTerm] = ()
) -> str:
    """The text a translation is made from, in the form shown in diffs: one line per
    paragraph, and one per glossary term (``- term (aliases): definition``)."""
    lines = [f"title: {title}"]
    if button:
        lines.append(f"button: {button}")
    lines += ["", body.strip()]
    if terms:  # a topic without terms hashes as it did before terms existed
        lines += ["", "terms:"]
        lines += [_term_line(term) for term in terms]
    return "\n".join(lines) + "\n"


def _term_line(term: GlossaryTerm) -> str:
    aliases = f" ({', '.join(term.aliases)})" if term.aliases else ""
    definition = " ".join(term.definition.split())
    return f"- {term.term}{aliases}: {definition}"


def topic_source_text(topic: Topic) -> str:
    return source_text(topic.title, topic.button, topic.body, topic.terms)


def source_hash(topic: Topic) -> str:
    """Short hash of the English a translation follows (title, button, body and terms)."""
    return hashlib.sha256(topic_source_text(topic).encode()).hexdigest()[:HASH_LENGTH]


def snapshot_path(locale_dir: Path, topic_id: str) -> Path:
    return locale_dir / SNAPSHOT_DIR / f"{topic_id}.yaml"


@dataclass(frozen=True)
class TopicFreshness:
    locale: str
    topic_id: str
    state: State
    path: Path | None
    # For stale topics: what changed in the English since the translation (unified diff).
    diff: str = ""
    # The line of ``translated_from`` in the translation's file, when it has one.
    line: int | None = None


def topic_states(library: Library, content_dir: Path, locale: str) -> list[TopicFreshness]:
    """The state of every source-locale topic in ``locale`` (sorted by topic id)."""
    source = library.trees.get(SOURCE_LOCALE)
    tree = library.trees.get(locale)
    if source is None:
        return []
    out: list[TopicFreshness] = []
    for tid in sorted(source.topics):
        english = source.topics[tid]
        mine = tree.topics.get(tid) if tree is not None else None
        if mine is None:
            path = content_dir / locale / f"{tid}.yaml"
            out.append(TopicFreshness(locale, tid, "missing", path))
        elif mine.translated_from is None:
            out.append(TopicFreshness(locale, tid, "unmarked", mine.path))
        elif mine.translated_from == source_hash(english):
            out.append(TopicFreshness(locale, tid, "current", mine.path))
        else:
            diff = english_diff(content_dir / locale, english, mine.translated_from)
            out.append(TopicFreshness(locale, tid, "stale", mine.path, diff, mine.line(FIELD)))
    return out


def english_diff(locale_dir: Path, english: Topic, translated_from: str) -> str:
    """A unified diff of the English from the version ``translated_from`` to today's."""
    old = _read_snapshot(snapshot_path(locale_dir, english.id), translated_from)
    name = f"{SOURCE_LOCALE}/{english.id}.yaml"
    if old is None:
        return (
            f"(the {SOURCE_LOCALE} text of version {translated_from} was not kept in "
            f"{SNAPSHOT_DIR}/{english.id}.yaml; compare with the file's history)"
        )
    lines = difflib.unified_diff(
        old.splitlines(),
        topic_source_text(english).splitlines(),
        fromfile=f"{name} when translated ({translated_from})",
        tofile=f"{name} now ({source_hash(english)})",
        lineterm="",
        n=1,  # a line is a paragraph: one around each change is enough context
    )
    return "\n".join(lines)


def _read_snapshot(path: Path, expected_hash: str) -> str | None:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    if not isinstance(data, dict) or data.get("hash") != expected_hash:
        return None
    title, body, button = data.get("title"), data.get("body"), data.get("button")
    if not isinstance(title, str) or not isinstance(body, str):
        return None
    terms = _snapshot_terms(data.get("terms"))
    if terms is None:
        return None
    return source_text(title, button if isinstance(button, str) else None, body, terms)


def _snapshot_terms(raw: object) -> list[GlossaryTerm] | None:
    """The terms kept in a snapshot ([] when it has none, None when they are damaged)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        return None
    terms: list[GlossaryTerm] = []
    for item in raw:
        if not isinstance(item, dict):
            return None
        term, definition = item.get("term"), item.get("definition")
        aliases = item.get("aliases") or []
        if not isinstance(term, str) or not isinstance(definition, str):
            return None
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            return None
        terms.append(GlossaryTerm(term, definition, tuple(aliases)))
    return terms


def freshness_problems(library: Library, content_dir: Path) -> list[Problem]:
    """Warnings for `check`: each stale topic (with the English diff), and per locale the
    number of topics never marked translated."""
    problems: list[Problem] = []
    for locale in library.locales:
        if locale == SOURCE_LOCALE:
            continue
        states = topic_states(library, content_dir, locale)
        for item in states:
            if item.state == "stale":
                problems.append(
                    Problem(
                        item.path,
                        item.line,
                        f"stale translation of {item.topic_id!r}: the {SOURCE_LOCALE} text "
                        "changed since it was translated; update it, then run "
                        f"`interventional-bot i18n mark-translated {locale} {item.topic_id}`",
                        severity="warning",
                        detail=item.diff,
                    )
                )
        unmarked = [s.topic_id for s in states if s.state == "unmarked"]
        if unmarked:
            problems.append(
                Problem(
                    content_dir / locale,
                    None,
                    f"{len(unmarked)} topic(s) never marked translated ({_short(unmarked)}): "
                    f"after translating, run `interventional-bot i18n mark-translated {locale} "
                    "TOPIC…`",
                    severity="warning",
                )
            )
    return problems


def review_due(tree: ContentTree, max_age_days: int, today: date) -> list[Topic]:
    """Topics whose medical review is older than ``max_age_days`` (sorted by id)."""
    oldest = today - timedelta(days=max_age_days)
    return [
        t
        for _id, t in sorted(tree.topics.items())
        if t.reviewed is not None and t.reviewed < oldest
    ]


def review_problems(library: Library, max_age_days: int, today: date) -> list[Problem]:
    problems: list[Problem] = []
    for locale in library.locales:
        for topic in review_due(library.trees[locale], max_age_days, today):
            problems.append(
                Problem(
                    topic.path,
                    topic.line("reviewed"),
                    f"topic {topic.id!r} was last reviewed on {topic.reviewed}, more than "
                    f"{max_age_days} days ago (REVIEW_MAX_AGE_DAYS): ask a clinician to review "
                    "it, then update 'reviewed'",
                    severity="warning",
                )
            )
    return problems


def missing_signoff(tree: ContentTree) -> list[Topic]:
    """Topics with no ``reviewed_by``: nobody is named as having signed off their medical
    content (sorted by id)."""
    return [t for _id, t in sorted(tree.topics.items()) if not t.reviewed_by]


def signoff_problems(library: Library) -> list[Problem]:
    """A `check` warning for each topic whose sign-off names nobody."""
    return [
        Problem(
            topic.path,
            topic.line("reviewed") or topic.line("id"),
            f"topic {topic.id!r} has no 'reviewed_by': add who signed off its medical content "
            "(a role or a name) next to 'reviewed'",
            severity="warning",
        )
        for locale in library.locales
        for topic in missing_signoff(library.trees[locale])
    ]


def _short(ids: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f", … {len(ids) - limit} more" if len(ids) > limit else "")


# -- mark-translated ------------------------------------------------------------------------


def mark_translated(content_dir: Path, locale: str, topic_ids: Iterable[str]) -> list[str]:
    """Record that ``locale``'s topics now follow today's English; return one line per topic.

    Raises :class:`MarkError` (one line) before changing any file when something is wrong.
    """
    if locale == SOURCE_LOCALE:
        raise MarkError(f"{locale} is the source language: its topics are not translations")
    locale_dir = content_dir / locale
    if not locale_dir.is_dir():
        raise MarkError(f"{locale_dir} is not a directory: no content for locale {locale!r}")
    source, source_problems = load_tree(content_dir / SOURCE_LOCALE, SOURCE_LOCALE)
    tree, problems = load_tree(locale_dir, locale)
    ids = list(dict.fromkeys(topic_ids))
    planned: list[tuple[Topic, Topic]] = []
    for tid in ids:
        english = source.topics.get(tid)
        if english is None:
            broken = _file_problem(source_problems, content_dir / SOURCE_LOCALE / f"{tid}.yaml")
            raise MarkError(broken or f"{SOURCE_LOCALE} has no topic {tid!r}")
        mine = tree.topics.get(tid)
        if mine is None:
            broken = _file_problem(problems, locale_dir / f"{tid}.yaml")
            raise MarkError(broken or f"{locale} has no topic {tid!r} ({locale_dir}/{tid}.yaml)")
        planned.append((english, mine))
    lines: list[str] = []
    for english, mine in planned:
        assert mine.path is not None
        digest = source_hash(english)
        text = mine.path.read_text(encoding="utf-8")
        new_text = set_field(text, FIELD, f'"{digest}"', mine.path)
        _write_snapshot(snapshot_path(locale_dir, english.id), english, digest)
        if new_text != text:
            mine.path.write_text(new_text, encoding="utf-8")
        before = "" if mine.translated_from in (None, digest) else f" (was {mine.translated_from})"
        lines.append(f"{locale}/{mine.path.name}: translated_from {digest}{before}")
    return lines


def _file_problem(problems: Iterable[Problem], path: Path) -> str | None:
    for problem in problems:
        if problem.path == path and problem.severity == "error":
            return f"{problem.location()}: {problem.message} (fix it first)"
    return None


def _write_snapshot(path: Path, english: Topic, digest: str) -> None:
    path.parent.mkdir(exist_ok=True)
    lines = [
        f"# The {SOURCE_LOCALE} text this translation was made from, kept by",
        "# `interventional-bot i18n mark-translated` to show what changed since. Do not edit.",
        f"hash: {_quote(digest)}",
        f"title: {_quote(english.title)}",
    ]
    if english.button:
        lines.append(f"button: {_quote(english.button)}")
    lines.append("body: |")
    lines.extend(f"  {line}".rstrip() for line in english.body.strip().splitlines())
    terms = [
        {"term": t.term, "aliases": list(t.aliases), "definition": t.definition}
        for t in english.terms
    ]
    if terms:
        dumped = yaml.safe_dump(
            {"terms": terms},
            allow_unicode=True,
            sort_keys=False,
            width=99,
            default_flow_style=None,
        )
        lines.extend(dumped.rstrip("\n").splitlines())
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    if _read_snapshot(path, digest) != topic_source_text(english):  # an unusual body: plain YAML
        data: dict[str, object] = {"hash": digest, "title": english.title}
        data["button"] = english.button
        data["body"] = english.body
        if terms:
            data["terms"] = terms
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")


def _quote(value: str) -> str:
    dumped: str = yaml.safe_dump(value, allow_unicode=True, default_style='"', width=10**6)
    return dumped.strip()


def set_field(text: str, key: str, value: str, path: Path) -> str:
    """``text`` with the top-level ``key: value`` line set, every other line untouched.

    An existing entry is replaced in place; a new one goes after the sign-off (``reviewed_by``,
    else ``reviewed``), or after ``id``.
    """
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    if not isinstance(node, yaml.MappingNode):
        raise MarkError(f"{path}: a topic file must be a mapping of fields")
    lines = text.splitlines(keepends=True)
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    entry = f"{key}: {value}{newline}"
    spans: dict[str, tuple[int, int]] = {}
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode):
            end = v.end_mark.line + (1 if v.end_mark.column > 0 else 0)
            spans[str(k.value)] = (k.start_mark.line, end)
    if key in spans:
        start, end = spans[key]
        new_lines = [*lines[:start], entry, *lines[end:]]
    else:
        anchor = spans.get("reviewed_by") or spans.get("reviewed") or spans.get("id")
        at = anchor[1] if anchor else len(lines)
        if at > 0 and at <= len(lines) and not lines[at - 1].endswith(("\n", "\r")):
            lines[at - 1] += newline
        new_lines = [*lines[:at], entry, *lines[at:]]
    new_text = "".join(new_lines)
    # The edit must change exactly one field: verify by parsing both versions.
    old_data = yaml.safe_load(text)
    new_data = yaml.safe_load(new_text)
    expected = {**old_data, key: yaml.safe_load(value)}
    if new_data != expected:
        raise MarkError(f"{path}: could not add {key!r} without changing other fields")
    return new_text
