"""Translation coverage per language: `i18n status` computes it here, the CLI prints it.

Interface strings (gettext catalogs against ``messages.pot``), topics (current, stale,
unmarked, missing; see :mod:`bot.core.content.freshness`), medical reviews that are due,
topics whose sign-off names nobody (no ``reviewed_by``), and in a locale converted by machine
the parts no translator has reviewed (:mod:`bot.core.content.conversion_review`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from babel.messages.catalog import Catalog, Message

from bot.config import Settings
from bot.core.content.conversion_review import LocaleConversion, locale_conversion
from bot.core.content.freshness import (
    TopicFreshness,
    missing_signoff,
    review_due,
    topic_states,
)
from bot.core.content.loader import content_locales, load_library
from bot.core.content.model import Topic
from bot.core.i18n import (
    SOURCE_LOCALE,
    CatalogError,
    catalog_locales,
    is_translated,
    po_path,
    read_catalog,
    read_template,
)


class StatusError(Exception):
    """The status cannot be computed (unknown locale, unreadable template); one line."""


@dataclass(frozen=True)
class CatalogStatus:
    exists: bool
    total: int
    translated: int = 0
    fuzzy: int = 0

    @property
    def untranslated(self) -> int:
        return self.total - self.translated - self.fuzzy

    @property
    def percent(self) -> float:
        return 100.0 if self.total == 0 else 100.0 * self.translated / self.total


@dataclass(frozen=True)
class LocaleStatus:
    locale: str
    is_source: bool
    catalog: CatalogStatus
    topics: tuple[TopicFreshness, ...]
    review_due: tuple[Topic, ...]
    # Topics with no `reviewed_by` (counted, and warned about by `check`; not a failure).
    no_signoff: tuple[Topic, ...] = ()
    # A locale converted by machine (`i18n convert`): its parts not (or no longer) reviewed.
    conversion: LocaleConversion | None = None

    @property
    def unreviewed(self) -> int:
        """Parts converted by machine that no translator has reviewed yet."""
        if self.conversion is None:
            return 0
        return len({p.name for p in self.conversion.parts if p.state != "source changed"})

    def ids(self, state: str) -> list[str]:
        return [t.topic_id for t in self.topics if t.state == state]

    @property
    def topics_total(self) -> int:
        return len(self.topics)

    @property
    def topics_percent(self) -> float:
        if not self.topics:
            return 100.0
        return 100.0 * len(self.ids("current")) / len(self.topics)

    def failures(self, min_percent: float) -> list[str]:
        """Why this locale fails `i18n status` (empty when it passes)."""
        if self.is_source:
            return []
        out: list[str] = []
        if missing := self.ids("missing"):
            out.append(f"{len(missing)} missing topic(s)")
        if stale := self.ids("stale"):
            out.append(f"{len(stale)} stale topic(s)")
        if self.conversion is not None:
            if outdated := self.conversion.names("outdated"):
                out.append(f"{len(outdated)} machine conversion(s) out of date")
            if changed := self.conversion.names("source changed"):
                source = self.conversion.source
                out.append(f"{len(changed)} reviewed conversion(s) whose {source} changed")
        if self.catalog.percent < min_percent:
            out.append(
                f"interface strings {self.catalog.percent:.1f}% translated "
                f"(below --min-percent {min_percent:g})"
            )
        if self.topics_percent < min_percent:
            out.append(
                f"topics {self.topics_percent:.1f}% translated (below --min-percent "
                f"{min_percent:g})"
            )
        return out


@dataclass(frozen=True)
class StatusReport:
    pot_total: int
    review_max_age_days: int
    locales: tuple[LocaleStatus, ...]
    notes: tuple[str, ...] = field(default=())


def compute_status(
    settings: Settings,
    *,
    only: str | None = None,
    review_max_age_days: int | None = None,
    today: date | None = None,
) -> StatusReport:
    content_dir, locales_dir = settings.content_dir, settings.locales_dir
    max_age = review_max_age_days or settings.review_max_age_days
    today = today or date.today()
    pot = _read_pot(locales_dir)
    pot_keys = [m for m in pot if m.id]
    with_content = content_locales(content_dir)
    with_catalog = catalog_locales(locales_dir)
    locales = sorted(set(with_content) | set(with_catalog), key=lambda x: (x != SOURCE_LOCALE, x))
    if only is not None:
        if only not in locales:
            raise StatusError(
                f"--locale: {only!r} has neither {content_dir}/{only}/ nor a catalog "
                f"(known: {', '.join(locales)})"
            )
        locales = [only]
    loaded = load_library(content_dir, sorted(set(with_content) | {SOURCE_LOCALE}))
    notes: list[str] = []
    if loaded.errors:
        notes.append(
            f"{len(loaded.errors)} content file problem(s) (first: {loaded.errors[0].format()}); "
            "run `interventional-bot check`"
        )
    out: list[LocaleStatus] = []
    for locale in locales:
        is_source = locale == SOURCE_LOCALE
        catalog = _catalog_status(locales_dir, locale, pot_keys, is_source, notes)
        states = topic_states(loaded.library, content_dir, locale)
        if is_source:  # the English is what the others follow: always current
            states = [
                TopicFreshness(locale, s.topic_id, "current", s.path)
                for s in states
                if s.state != "missing"
            ]
        tree = loaded.library.trees.get(locale)
        due = review_due(tree, max_age, today) if tree is not None else []
        unsigned = missing_signoff(tree) if tree is not None else []
        conversion = locale_conversion(content_dir, locales_dir, locale)
        out.append(
            LocaleStatus(
                locale,
                is_source,
                catalog,
                tuple(states),
                tuple(due),
                tuple(unsigned),
                conversion if conversion.parts else None,
            )
        )
    return StatusReport(len(pot_keys), max_age, tuple(out), tuple(notes))


def _read_pot(locales_dir: Path) -> Catalog:
    try:
        return read_template(locales_dir)
    except CatalogError as exc:
        raise StatusError(str(exc)) from None


def _catalog_status(
    locales_dir: Path, locale: str, pot: Sequence[Message], is_source: bool, notes: list[str]
) -> CatalogStatus:
    total = len(pot)
    if is_source:  # msgids are the English text itself
        return CatalogStatus(True, total, total, 0)
    path = po_path(locales_dir, locale)
    if not path.is_file():
        return CatalogStatus(False, total)
    try:
        catalog = read_catalog(path, locale)
    except CatalogError as exc:
        notes.append(f"{exc} (counted as untranslated)")
        return CatalogStatus(False, total)
    translated = fuzzy = 0
    for template in pot:
        message = catalog.get(template.id, template.context)
        if message is None:
            continue
        if message.fuzzy:
            fuzzy += 1
        elif is_translated(message):
            translated += 1
    return CatalogStatus(True, total, translated, fuzzy)


def status_failures(report: StatusReport, min_percent: float) -> dict[str, list[str]]:
    return {s.locale: fails for s in report.locales if (fails := s.failures(min_percent))}
