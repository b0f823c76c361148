"""`check` for what typed questions use: topic keywords and each locale's urgent.yaml."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from bot.core.content.model import Library, Topic
from bot.core.content.problems import Problem
from bot.core.content.urgent import load_urgent
from bot.core.search.analysis import analyzer_for


def check_typed_questions(
    library: Library, content_dir: Path, locales: Iterable[str]
) -> list[Problem]:
    """What typed questions rely on: the topics' keywords and each locale's urgent.yaml."""
    return check_keywords(library) + check_urgent(content_dir, locales)


def check_keywords(library: Library) -> list[Problem]:
    """Warnings: a keyword listed by two topics of one locale (it finds both; reported on the
    later one), and a keyword made only of words a search ignores ("again", "what is it").

    (The loader already rejects keywords that are not short one-line texts, or listed twice
    in one topic.)
    """
    problems: list[Problem] = []
    for tree in library.trees.values():
        analyzer = analyzer_for(tree.locale)
        owner: dict[str, Topic] = {}
        for topic in sorted(tree.topics.values(), key=lambda t: t.id):
            for keyword in topic.keywords:
                if not analyzer.tokens(keyword):
                    problems.append(
                        Problem(
                            topic.path,
                            topic.line("keywords"),
                            f"keyword {keyword!r} has only common words that a search ignores "
                            "(what, is, it, again…): name the thing itself",
                            "warning",
                        )
                    )
                key = " ".join(keyword.casefold().split())
                first = owner.setdefault(key, topic)
                if first is not topic:
                    problems.append(
                        Problem(
                            topic.path,
                            topic.line("keywords"),
                            f"keyword {keyword!r} is also a keyword of {first.id!r}: a patient "
                            "who types it gets both; keep it on the topic that answers it",
                            "warning",
                        )
                    )
    return problems


def check_urgent(content_dir: Path, locales: Iterable[str]) -> list[Problem]:
    """Every locale's urgent.yaml: present, well formed, every phrase usable, the message
    valid Telegram HTML with known placeholders."""
    return list(load_urgent(content_dir, locales).problems)
