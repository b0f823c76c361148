"""YAML topic files -> the content model, with every problem reported as file:line."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from bot.core.content.model import (
    RESERVED_FILES,
    ROOT_ID,
    TOPIC_ID_PATTERN,
    ContentTree,
    GlossaryTerm,
    Library,
    Status,
    Topic,
)
from bot.core.content.problems import Problem
from bot.core.content.script_conversion import marker_problem
from bot.core.content.yamlfile import YamlFile, read_yaml

_ID_RE = re.compile(rf"^{TOPIC_ID_PATTERN}$")
REQUIRED_FIELDS = ("id", "title", "body", "reviewed", "source")
# translated_from: written by `i18n mark-translated`, never by hand (see freshness.py).
OPTIONAL_FIELDS = (
    "children",
    "button",
    "contact",
    "translated_from",
    "keywords",
    "reviewed_by",
    "status",
    "terms",
    "machine_converted",
    "converted_from",
)
STATUSES = ("published", "draft")
MAX_KEYWORD_LENGTH = 60
KNOWN_FIELDS = frozenset(REQUIRED_FIELDS + OPTIONAL_FIELDS)


@dataclass(frozen=True)
class LoadResult:
    library: Library
    problems: tuple[Problem, ...]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


def content_locales(content_dir: Path) -> list[str]:
    """Locales with a content directory holding at least one topic file."""
    if not content_dir.is_dir():
        return []
    return sorted(
        p.name
        for p in content_dir.iterdir()
        if p.is_dir() and not p.name.startswith(".") and any(p.glob("*.yaml"))
    )


def load_library(content_dir: Path, locales: Iterable[str] | None = None) -> LoadResult:
    problems: list[Problem] = []
    trees: dict[str, ContentTree] = {}
    for locale in content_locales(content_dir) if locales is None else locales:
        tree, locale_problems = load_tree(content_dir / locale, locale)
        trees[locale] = tree
        problems.extend(locale_problems)
    return LoadResult(Library(trees), tuple(problems))


def load_tree(directory: Path, locale: str) -> tuple[ContentTree, list[Problem]]:
    problems: list[Problem] = []
    topics: dict[str, Topic] = {}
    for path in sorted(directory.glob("*.yaml")) + sorted(directory.glob("*.yml")):
        if path.stem in RESERVED_FILES:
            continue  # not a topic (see model.RESERVED_FILES)
        topic, file_problems = load_topic(path)
        problems.extend(file_problems)
        if topic is None:
            continue
        if topic.id in topics:
            first = topics[topic.id].path
            problems.append(Problem(path, 1, f"duplicate topic id {topic.id!r} (also in {first})"))
            continue
        topics[topic.id] = topic
    if ROOT_ID not in topics and not any(p.severity == "error" for p in problems):
        problems.append(Problem(directory, None, f"no root topic: add {ROOT_ID}.yaml"))
    elif ROOT_ID in topics and topics[ROOT_ID].is_draft:
        home = topics[ROOT_ID]
        problems.append(
            Problem(home.path, home.line("status"), "the home topic cannot be a draft")
        )
    return ContentTree(locale, topics), problems


def load_topic(path: Path) -> tuple[Topic | None, list[Problem]]:
    parsed = read_yaml(path)
    if isinstance(parsed, Problem):
        return None, [parsed]
    if not isinstance(parsed.data, dict) or not isinstance(parsed.node, yaml.MappingNode):
        return None, [Problem(path, 1, "a topic file must be a mapping of fields (id: …)")]
    return _TopicReader(path, parsed).read()


class _TopicReader:
    """Validates one topic file field by field; every problem names its line."""

    def __init__(self, path: Path, parsed: YamlFile) -> None:
        self.path = path
        self.data: dict[str, Any] = parsed.data
        self.lines = parsed.lines
        self.node = parsed.node
        self.problems: list[Problem] = []

    def err(self, field: str | None, message: str) -> None:
        self.problems.append(Problem(self.path, self.lines.get(field or "", 1), message))

    def read(self) -> tuple[Topic | None, list[Problem]]:
        data = self.data
        self.check_field_names()
        topic_id = self.topic_id()
        for name in ("title", "body", "source", "button", "translated_from", "reviewed_by"):
            if name in data and data[name] is not None and not isinstance(data[name], str):
                self.err(name, f"field {name!r} must be text, not {_kind(data[name])}")
        for name in ("machine_converted", "converted_from"):
            if name in data and (problem := marker_problem(name, data[name])):
                self.err(name, problem)
        reviewed = self.reviewed()
        children = self.children()
        keywords = self.keywords()
        status = self.status()
        terms = self.terms()
        contact = data.get("contact", False)
        if not isinstance(contact, bool):
            self.err("contact", "field 'contact' must be true or false")
        # A file whose id differs from its name still loads, so that a duplicate id is reported.
        renamed = (
            [
                Problem(
                    self.path,
                    self.lines.get("id", 1),
                    f"id {topic_id!r} differs from the file name {self.path.name!r}",
                )
            ]
            if topic_id is not None and topic_id != self.path.stem
            else []
        )
        if self.problems or topic_id is None:
            return None, self.problems + renamed
        topic = Topic(
            id=topic_id,
            title=str(data["title"]).strip(),
            body=str(data["body"]).strip(),
            children=children,
            button=(str(data["button"]).strip() or None) if data.get("button") else None,
            reviewed=reviewed,
            source=str(data["source"]).strip(),
            contact=bool(contact),
            translated_from=_str(data.get("translated_from")),
            keywords=keywords,
            reviewed_by=(_str(data.get("reviewed_by")) or "").strip() or None,
            status=status,
            terms=terms,
            machine_converted=_str(data.get("machine_converted")),
            path=self.path,
            lines={k: v for k, v in self.lines.items() if "." not in k},
        )
        return topic, renamed

    def check_field_names(self) -> None:
        for name in REQUIRED_FIELDS:
            value = self.data.get(name)
            if value is None or value == "":
                self.err(None, f"missing field {name!r}")
        for name in self.data:
            if name not in KNOWN_FIELDS:
                known = ", ".join(sorted(KNOWN_FIELDS))
                self.err(str(name), f"unknown field {name!r} (known: {known})")

    def topic_id(self) -> str | None:
        """The id, when it is well formed."""
        topic_id = _str(self.data.get("id"))
        if topic_id is not None and not _ID_RE.match(topic_id):
            self.err("id", f"id {topic_id!r} must match {TOPIC_ID_PATTERN} (lowercase, digits, -)")
            return None
        if topic_id in RESERVED_FILES:
            self.err("id", f"id {topic_id!r} is reserved for content/<locale>/{topic_id}.yaml")
            return None
        return topic_id

    def reviewed(self) -> date | None:
        reviewed = self.data.get("reviewed")
        if reviewed is not None and not isinstance(reviewed, date):
            self.err("reviewed", f"field 'reviewed' must be a date YYYY-MM-DD, not {reviewed!r}")
            return None
        return reviewed

    def keywords(self) -> tuple[str, ...]:
        """Search words: a list of short, distinct texts (compared case-insensitively)."""
        raw = self.data.get("keywords")
        if raw is None:
            return ()
        if not isinstance(raw, list):
            self.err("keywords", "field 'keywords' must be a list of words or phrases")
            return ()
        keywords: list[str] = []
        seen: set[str] = set()
        for item in raw:
            word = item.strip() if isinstance(item, str) else ""
            if not word:
                self.err("keywords", f"keyword {item!r} must be a non-empty text")
            elif len(word) > MAX_KEYWORD_LENGTH or "<" in word or "\n" in word:
                self.err(
                    "keywords",
                    f"keyword {word[:20]!r}… must be one line of plain text, at most "
                    f"{MAX_KEYWORD_LENGTH} characters",
                )
            elif word.casefold() in seen:
                self.err("keywords", f"keyword {word!r} is listed twice")
            else:
                seen.add(word.casefold())
                keywords.append(word)
        return tuple(keywords)

    def status(self) -> Status:
        raw = self.data.get("status", "published")
        if raw == "draft":
            return "draft"
        if raw != "published":
            self.err("status", f"field 'status' must be one of {', '.join(STATUSES)}")
        return "published"

    def terms(self) -> tuple[GlossaryTerm, ...]:
        """Glossary entries: ``- term: …`` with ``definition: …`` and optional ``aliases: […]``."""
        raw = self.data.get("terms")
        if raw is None:
            return ()
        if not isinstance(raw, list):
            self.err("terms", "field 'terms' must be a list of {term, definition, aliases}")
            return ()
        terms: list[GlossaryTerm] = []
        entry_lines = self.item_lines("terms")
        for index, entry in enumerate(raw):
            term = _str(entry.get("term")) if isinstance(entry, dict) else None
            definition = _str(entry.get("definition")) if isinstance(entry, dict) else None
            aliases = entry.get("aliases", []) if isinstance(entry, dict) else None
            if not term or not term.strip() or not definition or not definition.strip():
                self.err("terms", f"glossary entry {entry!r} needs `term:` and `definition:`")
            elif not isinstance(aliases, list) or not all(
                isinstance(a, str) and a.strip() for a in aliases
            ):
                self.err("terms", f"aliases of {term!r} must be a list of words")
            else:
                terms.append(
                    GlossaryTerm(
                        term.strip(),
                        definition.strip(),
                        tuple(a.strip() for a in aliases),
                        line=entry_lines[index] if index < len(entry_lines) else None,
                    )
                )
        return tuple(terms)

    def item_lines(self, key: str) -> list[int]:
        """The 1-based line of each item of the top-level list ``key`` ([] if not a list)."""
        if not isinstance(self.node, yaml.MappingNode):
            return []
        for k, v in self.node.value:
            is_key = isinstance(k, yaml.ScalarNode) and k.value == key
            if is_key and isinstance(v, yaml.SequenceNode):
                return [item.start_mark.line + 1 for item in v.value]
        return []

    def children(self) -> tuple[str, ...]:
        raw = self.data.get("children") or []
        if not isinstance(raw, list):
            self.err("children", "field 'children' must be a list of topic ids")
            return ()
        children: list[str] = []
        for child in raw:
            if not isinstance(child, str) or not _ID_RE.match(child):
                self.err("children", f"child {child!r} is not a topic id")
            elif child in children:
                self.err("children", f"child {child!r} is listed twice")
            else:
                children.append(child)
        return tuple(children)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _kind(value: Any) -> str:
    return type(value).__name__
