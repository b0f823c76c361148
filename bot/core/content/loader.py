"""YAML topic files -> the content model, with every problem reported as file:line."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from bot.core.content.model import ROOT_ID, TOPIC_ID_PATTERN, ContentTree, Library, Topic
from bot.core.content.problems import Problem
from bot.core.content.yamlfile import read_yaml

_ID_RE = re.compile(rf"^{TOPIC_ID_PATTERN}$")
REQUIRED_FIELDS = ("id", "title", "body", "reviewed", "source")
# translated_from: written by `i18n mark-translated`, never by hand (see bot/content/freshness.py).
OPTIONAL_FIELDS = ("children", "button", "contact", "translated_from")
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
    return ContentTree(locale, topics), problems


def load_topic(path: Path) -> tuple[Topic | None, list[Problem]]:
    parsed = read_yaml(path)
    if isinstance(parsed, Problem):
        return None, [parsed]
    data, node, lines = parsed.data, parsed.node, parsed.lines

    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode):
        return None, [Problem(path, 1, "a topic file must be a mapping of fields (id: …)")]
    problems: list[Problem] = []

    def err(field: str | None, message: str) -> None:
        problems.append(Problem(path, lines.get(field or "", 1), message))

    for name in REQUIRED_FIELDS:
        if name not in data or data[name] is None or data[name] == "":
            err(None, f"missing field {name!r}")
    for name in data:
        if name not in KNOWN_FIELDS:
            err(str(name), f"unknown field {name!r} (known: {', '.join(sorted(KNOWN_FIELDS))})")

    topic_id = _str(data.get("id"))
    if topic_id is not None and not _ID_RE.match(topic_id):
        err("id", f"id {topic_id!r} must match {TOPIC_ID_PATTERN} (lowercase, digits, -)")
    # A file whose id differs from its name still loads, so that a duplicate id is reported.
    name_problem = (
        Problem(
            path, lines.get("id", 1), f"id {topic_id!r} differs from the file name {path.name!r}"
        )
        if topic_id is not None and _ID_RE.match(topic_id) and topic_id != path.stem
        else None
    )

    for name in ("title", "body", "source", "button", "translated_from"):
        if name in data and data[name] is not None and not isinstance(data[name], str):
            err(name, f"field {name!r} must be text, not {_kind(data[name])}")

    reviewed = data.get("reviewed")
    if reviewed is not None and not isinstance(reviewed, date):
        err("reviewed", f"field 'reviewed' must be a date YYYY-MM-DD, not {reviewed!r}")
        reviewed = None

    children_raw = data.get("children") or []
    children: list[str] = []
    if not isinstance(children_raw, list):
        err("children", "field 'children' must be a list of topic ids")
    else:
        for child in children_raw:
            if not isinstance(child, str) or not _ID_RE.match(child):
                err("children", f"child {child!r} is not a topic id")
            elif child in children:
                err("children", f"child {child!r} is listed twice")
            else:
                children.append(child)

    contact = data.get("contact", False)
    if not isinstance(contact, bool):
        err("contact", "field 'contact' must be true or false")
        contact = False

    if problems:
        return None, problems + ([name_problem] if name_problem else [])
    assert topic_id is not None
    return (
        Topic(
            id=topic_id,
            title=str(data["title"]).strip(),
            body=str(data["body"]).strip(),
            children=tuple(children),
            button=(str(data["button"]).strip() or None) if data.get("button") else None,
            reviewed=reviewed if isinstance(reviewed, date) else None,
            source=str(data["source"]).strip(),
            contact=contact,
            translated_from=_str(data.get("translated_from")),
            path=path,
            lines={k: v for k, v in lines.items() if "." not in k},
        ),
        [name_problem] if name_problem else [],
    )


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _kind(value: Any) -> str:
    return type(value).__name__
