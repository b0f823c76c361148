"""The content model: one tree of topics per locale, with stable ids."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal

ROOT_ID = "home"
TOPIC_ID_PATTERN = r"[a-z0-9][a-z0-9-]{0,31}"
#: Files in content/<locale>/ that are not topics: safety and privacy texts (content data that
#: clinicians review like topics, read by their own loaders). No topic may use these ids.
RESERVED_FILES = ("urgent", "privacy")

Status = Literal["published", "draft"]


@dataclass(frozen=True)
class GlossaryTerm:
    """One entry of a glossary topic: the term, other words for it, its plain explanation."""

    term: str
    definition: str  # Telegram HTML, one paragraph
    aliases: tuple[str, ...] = ()
    # The line of the entry in its file (for `check` messages).
    line: int | None = field(default=None, compare=False)

    @property
    def names(self) -> tuple[str, ...]:
        return (self.term, *self.aliases)


@dataclass(frozen=True)
class Topic:
    id: str
    title: str
    body: str
    children: tuple[str, ...] = ()
    button: str | None = None
    reviewed: date | None = None
    source: str = ""
    contact: bool = False
    # Hash of the source-locale text this translation was made from (`i18n mark-translated`).
    translated_from: str | None = None
    # Lay words, synonyms and abbreviations a patient may type for this topic (search).
    keywords: tuple[str, ...] = ()
    # Who signed off the medical content (a role or a name), next to `reviewed` (the date).
    reviewed_by: str | None = None
    # A draft is validated by `check` but never served to patients.
    status: Status = "published"
    # Glossary topics: their terms, shown after the body (and findable from other screens).
    terms: tuple[GlossaryTerm, ...] = ()
    # Converted by machine from another script (`i18n convert`) and not yet reviewed: what
    # converted it ("opencc s2twp from zh_Hans <hash>"); patients are told so on its screens.
    machine_converted: str | None = None
    path: Path | None = field(default=None, compare=False)
    # The line of each field in the file (from the loader's YAML node marks).
    lines: Mapping[str, int] = field(default_factory=dict, compare=False)

    def line(self, field_name: str) -> int | None:
        """The line of ``field_name`` in the topic's file (None when it has none)."""
        return self.lines.get(field_name)

    @property
    def is_draft(self) -> bool:
        return self.status == "draft"

    @property
    def label(self) -> str:
        """The short label used on buttons and in the breadcrumb."""
        return self.button or self.title


@dataclass(frozen=True)
class ContentTree:
    """The topics of one locale, reachable from :data:`ROOT_ID`."""

    locale: str
    topics: Mapping[str, Topic]

    @property
    def root(self) -> Topic:
        return self.topics[ROOT_ID]

    def get(self, topic_id: str) -> Topic | None:
        return self.topics.get(topic_id)

    def parents(self) -> dict[str, str]:
        parents: dict[str, str] = {}
        for topic in self.topics.values():
            for child in topic.children:
                parents.setdefault(child, topic.id)
        return parents

    def path_to(self, topic_id: str) -> list[Topic]:
        """Topics from the root down to ``topic_id`` (inclusive); [] if unreachable."""
        parents = self._parents
        chain: list[Topic] = []
        current: str | None = topic_id
        seen: set[str] = set()
        while current is not None and current not in seen:
            topic = self.topics.get(current)
            if topic is None:
                return []
            seen.add(current)
            chain.append(topic)
            if current == ROOT_ID:
                return list(reversed(chain))
            current = parents.get(current)
        return []

    @property
    def _parents(self) -> dict[str, str]:
        cached: dict[str, str] | None = self.__dict__.get("_parents_cache")
        if cached is None:
            cached = self.parents()
            object.__setattr__(self, "_parents_cache", cached)
        return cached

    def walk(self) -> list[Topic]:
        """Every topic reachable from the root, depth first, each once."""
        out: list[Topic] = []
        seen: set[str] = set()

        def visit(topic_id: str) -> None:
            topic = self.topics.get(topic_id)
            if topic is None or topic_id in seen:
                return
            seen.add(topic_id)
            out.append(topic)
            for child in topic.children:
                visit(child)

        visit(ROOT_ID)
        return out

    def served_topics(self) -> list[Topic]:
        """The topics patients can open: reachable from the root through published topics only.

        A draft is validated by ``check`` but never served, and neither is anything under it.
        Search, menus and rendering all go through this (or :meth:`is_served`).
        """
        cached: list[Topic] | None = self.__dict__.get("_served_cache")
        if cached is None:
            cached = []
            seen: set[str] = set()
            stack = [ROOT_ID]
            while stack:
                topic = self.topics.get(stack.pop())
                if topic is None or topic.id in seen or topic.is_draft:
                    continue
                seen.add(topic.id)
                cached.append(topic)
                stack.extend(reversed(topic.children))
            object.__setattr__(self, "_served_cache", cached)
        return cached

    def is_served(self, topic_id: str) -> bool:
        ids: frozenset[str] | None = self.__dict__.get("_served_ids")
        if ids is None:
            ids = frozenset(t.id for t in self.served_topics())
            object.__setattr__(self, "_served_ids", ids)
        return topic_id in ids


@dataclass(frozen=True)
class Library:
    """Every locale's tree; ``version`` changes whenever any topic does."""

    trees: Mapping[str, ContentTree]

    @property
    def locales(self) -> list[str]:
        return sorted(self.trees)

    @property
    def version(self) -> str:
        digest = hashlib.sha256()
        for locale in self.locales:
            for tid in sorted(self.trees[locale].topics):
                t = self.trees[locale].topics[tid]
                fields: tuple[object, ...] = (locale, t.id, t.title, t.body, t.children)
                fields += (t.status, t.terms)
                if t.machine_converted:  # its screens say so
                    fields += (t.machine_converted,)
                digest.update(repr(fields).encode())
        return digest.hexdigest()[:12]
