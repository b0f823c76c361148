"""The glossary of one locale: which of its terms a screen's text uses.

Glossary topics list their terms in ``terms:`` (see :class:`~bot.core.content.model.GlossaryTerm`).
A screen "uses" a term when its visible text contains the term or one of its aliases:

- case-insensitively, with any run of white space matching any other;
- where the name starts or ends with a Latin letter or digit, only as a whole word (``stent``
  is not found in ``stents``: list the plural as an alias); Chinese has no spaces between words,
  so a Chinese name is found anywhere (``支架`` in ``内支架置入术``);
- longest name first: in "hepatic artery embolization" the text is read as the longest names
  it holds, so ``chemoembolization`` is not also read as ``embolization``.

Only published glossary topics that patients can reach count (see ``ContentTree.served_topics``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.core.content.model import ContentTree, GlossaryTerm, Topic

_EDGE = "A-Za-z0-9"


@dataclass(frozen=True)
class Entry:
    """A term and the glossary topic that explains it."""

    term: GlossaryTerm
    topic_id: str


class Glossary:
    """Finds the terms of one locale's glossary in a text."""

    def __init__(self, entries: Sequence[Entry]) -> None:
        self.entries = tuple(entries)
        self._by_name: dict[str, Entry] = {}
        for entry in self.entries:
            for name in entry.term.names:
                self._by_name.setdefault(normalize(name), entry)
        names = sorted(self._by_name, key=lambda n: (-len(n), n))
        self._pattern = (
            re.compile("|".join(f"({_name_pattern(n)})" for n in names), re.IGNORECASE)
            if names
            else None
        )
        self._names = names

    @classmethod
    def of(cls, tree: ContentTree) -> Glossary:
        """The glossary of the topics patients can reach in ``tree``."""
        topics = tree.served_topics()
        return cls([Entry(term, topic.id) for topic in topics for term in topic.terms])

    def __bool__(self) -> bool:
        return bool(self.entries)

    def find(self, text: str) -> list[Entry]:
        """The entries whose term (or an alias) ``text`` contains, in order of first use."""
        if self._pattern is None:
            return []
        found: dict[Entry, None] = {}
        for match in self._pattern.finditer(text):
            found.setdefault(self._by_name[self._names[(match.lastindex or 1) - 1]])
        return list(found)


def normalize(name: str) -> str:
    """The form in which names are compared: case-folded, white space collapsed."""
    return " ".join(name.split()).casefold()


def _name_pattern(name: str) -> str:
    words = (re.escape(w) for w in name.split(" "))
    body = r"\s+".join(words)
    before = f"(?<![{_EDGE}])" if re.match(f"[{_EDGE}]", name) else ""
    after = f"(?![{_EDGE}])" if re.search(f"[{_EDGE}]$", name) else ""
    return f"{before}{body}{after}"


@dataclass(frozen=True)
class Collision:
    """``name`` belongs to ``term`` of ``topic`` and, earlier, to ``first_term``."""

    topic: Topic
    term: GlossaryTerm
    name: str
    first_topic: Topic
    first_term: GlossaryTerm


def collisions(topics: Iterable[Topic]) -> list[Collision]:
    """Every name (term or alias, compared as :func:`normalize` does) given to two terms."""
    first: dict[str, tuple[Topic, GlossaryTerm]] = {}
    out: list[Collision] = []
    for topic in topics:
        for term in topic.terms:
            for name in dict.fromkeys(normalize(n) for n in term.names):
                if name in first:
                    out.append(Collision(topic, term, name, *first[name]))
                else:
                    first[name] = (topic, term)
    return out
