"""The interests a subscriber can pick for hospital news: data in ``content/interests.yaml``.

The file lists stable ids (stored with each subscription and named in broadcast files) with a
label per locale::

    interests:
      - id: treatments
        labels:
          en: New treatments
          zh_Hans: 新疗法

A new locale adds its labels here; a missing label falls back to the default locale's (and is
reported as a warning). The file is optional: without it patients subscribe to everything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.core.content.problems import Problem, Severity
from bot.core.content.yamlfile import mapping_value, read_yaml

FILENAME = "interests.yaml"
# Short, because an id travels in callback_data ("1:i:<id>") and in broadcast files.
ID_PATTERN = r"[a-z0-9][a-z0-9_-]{0,31}"
_ID_RE = re.compile(rf"^{ID_PATTERN}$")


def is_interest_id(value: object) -> bool:
    """``value`` is a well-formed interest id (the one pattern every layer checks)."""
    return isinstance(value, str) and _ID_RE.match(value) is not None


# More would not fit on one screen of toggles (and Telegram allows 100 buttons).
MAX_INTERESTS = 20


@dataclass(frozen=True)
class Interest:
    id: str
    labels: Mapping[str, str]

    def label(self, locale: str, default_locale: str = "en") -> str:
        return self.labels.get(locale) or self.labels.get(default_locale) or self.id


@dataclass(frozen=True)
class Interests:
    items: tuple[Interest, ...] = ()
    default_locale: str = "en"
    path: Path | None = field(default=None, compare=False)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(i.id for i in self.items)

    def get(self, interest_id: str) -> Interest | None:
        return next((i for i in self.items if i.id == interest_id), None)

    def label(self, interest_id: str, locale: str) -> str:
        interest = self.get(interest_id)
        return interest.label(locale, self.default_locale) if interest else interest_id

    def known(self, ids: Iterable[str]) -> tuple[str, ...]:
        """``ids`` that this file still lists, in the file's order."""
        wanted = set(ids)
        return tuple(i for i in self.ids if i in wanted)


def load_interests(
    content_dir: Path, locales: Iterable[str], default_locale: str
) -> tuple[Interests, list[Problem]]:
    """Read ``content_dir/interests.yaml``; errors and warnings come back as problems."""
    path = content_dir / FILENAME
    if not path.is_file():
        return Interests(default_locale=default_locale), []
    parsed = read_yaml(path)
    if isinstance(parsed, Problem):
        return Interests(default_locale=default_locale), [parsed]
    reader = _InterestsReader(path, list(locales), default_locale)
    items_node = mapping_value(parsed.node, "interests")
    if not isinstance(items_node, yaml.SequenceNode):
        reader.problem(parsed.node, "expected `interests:` followed by a list of {id, labels}")
        return Interests(default_locale=default_locale, path=path), reader.problems
    items: list[Interest] = []
    for entry in items_node.value:
        interest = reader.interest(entry, {i.id for i in items})
        if interest is not None:
            items.append(interest)
    if len(items) > MAX_INTERESTS:
        reader.problem(items_node, f"at most {MAX_INTERESTS} interests fit on the screen")
        items = items[:MAX_INTERESTS]
    return Interests(tuple(items), default_locale, path), reader.problems


class _InterestsReader:
    def __init__(self, path: Path, locales: list[str], default_locale: str) -> None:
        self.path = path
        self.locales = locales
        self.default_locale = default_locale
        self.problems: list[Problem] = []

    def problem(self, node: yaml.Node | None, message: str, severity: str = "error") -> None:
        line = node.start_mark.line + 1 if node is not None else 1
        level: Severity = "warning" if severity == "warning" else "error"
        self.problems.append(Problem(self.path, line, message, level))

    def interest(self, entry: yaml.Node, seen: set[str]) -> Interest | None:
        """One ``{id, labels}`` entry, or None when it is unusable (reported)."""
        id_node = mapping_value(entry, "id")
        if not isinstance(id_node, yaml.ScalarNode) or not is_interest_id(id_node.value):
            self.problem(
                id_node or entry,
                f"an interest needs an `id:` matching {ID_PATTERN} (a-z, 0-9, _-)",
            )
            return None
        interest_id = id_node.value
        if interest_id in seen:
            self.problem(id_node, f"duplicate interest id {interest_id!r}")
            return None
        labels_node = mapping_value(entry, "labels")
        if not isinstance(labels_node, yaml.MappingNode):
            self.problem(
                entry, f"interest {interest_id!r} needs `labels:` with one label per locale"
            )
            return None
        labels: dict[str, str] = {}
        for key, value in labels_node.value:
            if isinstance(value, yaml.ScalarNode) and value.value.strip():
                labels[str(key.value)] = value.value.strip()
            else:
                self.problem(value, f"label {key.value!r} of {interest_id!r} must be text")
        if self.default_locale not in labels:
            self.problem(
                labels_node, f"interest {interest_id!r} has no {self.default_locale} label"
            )
            return None
        for locale in self.locales:
            if locale not in labels:
                self.problem(
                    labels_node,
                    f"interest {interest_id!r} has no {locale} label "
                    f"(shows the {self.default_locale} one)",
                    "warning",
                )
        return Interest(interest_id, labels)
