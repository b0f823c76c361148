"""`interventional-bot check`: content and catalogs, as a list of problems with file:line."""

from __future__ import annotations

import gettext
import io
import string
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from babel.messages.catalog import Catalog, Message

from bot.config import Settings
from bot.core.content.conversion_review import conversion_problems
from bot.core.content.freshness import freshness_problems, review_problems, signoff_problems
from bot.core.content.glossary import collisions
from bot.core.content.loader import content_locales, load_library
from bot.core.content.model import ROOT_ID, ContentTree, Library, Topic
from bot.core.content.privacy_text import privacy_problems
from bot.core.content.problems import Problem
from bot.core.content.screen_checks import MAX_DEPTH, check_rendering
from bot.core.content.search_checks import check_typed_questions
from bot.core.i18n import (
    DOMAIN,
    SOURCE_LOCALE,
    CatalogError,
    Catalogs,
    Translator,
    catalog_locales,
    compile_catalog,
    format_field_problems,
    is_translated,
    message_key,
    po_path,
    read_catalog,
    read_template,
)
from bot.core.interests import load_interests
from bot.core.render import Renderer


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    locales: list[str] = field(default_factory=list)
    topics: dict[str, int] = field(default_factory=dict)
    messages: dict[str, int] = field(default_factory=dict)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]


def run_checks(settings: Settings, *, today: date | None = None) -> Report:
    report = Report()
    content_dir, locales_dir = settings.content_dir, settings.locales_dir
    with_content = set(content_locales(content_dir))
    with_catalog = set(catalog_locales(locales_dir))
    report.locales = sorted(with_content | with_catalog)
    report.problems.extend(_locale_problems(settings, with_content, with_catalog))

    loaded = load_library(content_dir, sorted(with_content))
    report.problems.extend(loaded.problems)
    library = loaded.library
    # A file that failed to load leaves a hole in its tree: checking that tree's shape would
    # bury the one real error under "not reachable" noise, so those checks wait for the fix.
    broken = {
        loc
        for loc in library.trees
        for p in loaded.errors
        if p.path is not None and (content_dir / loc) in p.path.parents
    }
    for loc, tree in library.trees.items():
        report.topics[loc] = len(tree.topics)
        if loc not in broken:
            report.problems.extend(check_tree(tree))
    if SOURCE_LOCALE not in broken:
        report.problems.extend(check_parity(library, skip=broken))
    report.problems.extend(check_typed_questions(library, content_dir, sorted(with_content)))
    # Warnings: stale translations, medical reviews past their age or naming nobody.
    report.problems += freshness_problems(library, content_dir) + signoff_problems(library)
    # ... and locales converted by machine (i18n convert): what is not reviewed yet.
    report.problems += conversion_problems(content_dir, locales_dir, report.locales)
    age = settings.review_max_age_days
    report.problems += review_problems(library, age, today or date.today())
    report.problems.extend(_data_file_problems(settings, sorted(with_content), today))

    translators: dict[str, Translator] = {}
    pot = _read_pot(locales_dir, report.problems)
    for loc in sorted(with_catalog):
        catalog = _read_catalog(locales_dir, loc, report.problems)
        if catalog is None:
            continue
        report.messages[loc] = sum(1 for m in catalog if m.id)
        report.problems.extend(check_catalog(catalog, po_path(locales_dir, loc), loc, pot))
        translators[loc] = Translator(
            loc, gettext.GNUTranslations(io.BytesIO(compile_catalog(catalog)))
        )

    # Drafts are validated like published topics, though patients never see them.
    renderer = Renderer(library, Catalogs(translators), settings.hospital, include_drafts=True)
    for tree in library.trees.values():
        report.problems.extend(check_rendering(renderer, tree))
    return report


def _data_file_problems(
    settings: Settings, locales: list[str], today: date | None
) -> list[Problem]:
    """The content files besides topics: the news interests and the privacy notices."""
    _interests, problems = load_interests(settings.content_dir, locales, settings.default_locale)
    return problems + privacy_problems(settings, locales, today or date.today())


def _locale_problems(
    settings: Settings, with_content: set[str], with_catalog: set[str]
) -> list[Problem]:
    """Each locale has both content and a catalog, and the source locale has content."""
    content_dir, locales_dir = settings.content_dir, settings.locales_dir
    problems = [
        Problem(po_path(locales_dir, loc), None, f"locale {loc!r} has content but no catalog")
        for loc in sorted(with_content - with_catalog)
    ]
    problems += [
        Problem(content_dir / loc, None, f"locale {loc!r} has a catalog but no content")
        for loc in sorted(with_catalog - with_content)
    ]
    if SOURCE_LOCALE not in with_content:
        problems.append(
            Problem(content_dir / SOURCE_LOCALE, None, "the source locale has no content")
        )
    return problems


def check_tree(tree: ContentTree) -> list[Problem]:
    if ROOT_ID not in tree.topics:
        return []
    return _check_children(tree) + _check_reachable(tree) + check_glossary(tree)


def check_glossary(tree: ContentTree) -> list[Problem]:
    """No word (term or alias) of the locale's glossary belongs to two terms: a screen that
    uses it could not say which explanation it means."""
    return [
        Problem(
            c.topic.path,
            c.term.line or c.topic.line("terms"),
            f"glossary word {c.name!r} of {c.term.term!r} is also a word of "
            f"{c.first_term.term!r}"
            + (f" in {c.first_topic.id!r}" if c.first_topic.id != c.topic.id else "")
            + ": each term and alias may belong to one term only",
        )
        for c in collisions(tree.topics[tid] for tid in sorted(tree.topics))
    ]


def _check_children(tree: ContentTree) -> list[Problem]:
    """Every child exists, is not the home topic, and has one parent."""
    problems: list[Problem] = []
    parents: dict[str, str] = {}
    for topic in tree.topics.values():
        for child in topic.children:
            if child not in tree.topics:
                problems.append(
                    _at(topic, "children", f"child {child!r} has no file {child}.yaml")
                )
            elif child == ROOT_ID:
                problems.append(_at(topic, "children", "the home topic cannot be a child"))
    for topic in tree.topics.values():
        for child in topic.children:
            if child in parents and child in tree.topics:
                problems.append(
                    _at(
                        topic,
                        "children",
                        f"topic {child!r} is listed under both {parents[child]!r} "
                        f"and {topic.id!r}; a topic has one parent",
                    )
                )
            parents.setdefault(child, topic.id)
    return problems


def _check_reachable(tree: ContentTree) -> list[Problem]:
    """Every topic is reachable from the main menu, within MAX_DEPTH taps."""
    problems: list[Problem] = []
    reachable = {t.id for t in tree.walk()}
    for topic in tree.topics.values():
        if topic.id not in reachable:
            problems.append(
                _at(topic, "id", f"topic {topic.id!r} is not reachable from the main menu")
            )
            continue
        depth = len(tree.path_to(topic.id)) - 1
        if depth > MAX_DEPTH:
            problems.append(
                _at(
                    topic,
                    "id",
                    f"topic {topic.id!r} is {depth} taps from the main menu (at most {MAX_DEPTH})",
                )
            )
    return problems


def check_parity(library: Library, skip: Iterable[str] = ()) -> list[Problem]:
    """Every locale's tree has the source locale's shape: same ids, same children, same order,
    and each glossary topic the same number of terms."""
    source = library.trees.get(SOURCE_LOCALE)
    if source is None:
        return []
    problems: list[Problem] = []
    for loc, tree in library.trees.items():
        if loc == SOURCE_LOCALE or loc in skip:
            continue
        for tid, src in source.topics.items():
            mine = tree.topics.get(tid)
            if mine is None:
                problems.append(
                    Problem(
                        (src.path.parent.parent / loc / f"{tid}.yaml") if src.path else None,
                        None,
                        f"topic {tid!r} is missing in {loc} (tree shape differs from "
                        f"{SOURCE_LOCALE})",
                    )
                )
            elif (problem := _topic_parity(mine, src)) is not None:
                problems.append(problem)
        for tid, mine in tree.topics.items():
            if tid not in source.topics:
                problems.append(
                    _at(mine, "id", f"topic {tid!r} exists in {loc} but not in {SOURCE_LOCALE}")
                )
    return problems


def _topic_parity(mine: Topic, src: Topic) -> Problem | None:
    """How a translated topic's structure differs from its source topic (None: it does not)."""
    if mine.children != src.children:
        return _at(
            mine,
            "children",
            f"tree shape differs from {SOURCE_LOCALE}: children "
            f"[{', '.join(mine.children)}] here, [{', '.join(src.children)}] in {SOURCE_LOCALE}",
        )
    if mine.contact != src.contact:
        return _at(mine, "contact", f"'contact' differs from {SOURCE_LOCALE}")
    if len(mine.terms) != len(src.terms):
        return _at(
            mine,
            "terms" if mine.terms else "id",
            f"glossary {src.id!r} has {len(mine.terms)} term(s) here, {len(src.terms)} in "
            f"{SOURCE_LOCALE}: translate each term once",
        )
    return None


def check_catalog(catalog: Catalog, path: Path, locale: str, pot: Catalog | None) -> list[Problem]:
    problems: list[Problem] = []
    is_source = locale == SOURCE_LOCALE
    for message in catalog:
        if not message.id:
            continue
        line = message.lineno or None
        label = _msgid_label(message)
        if message.fuzzy and not is_source:
            problems.append(
                Problem(path, line, f"fuzzy entry {label}: review it, then remove the fuzzy flag")
            )
        translated = is_translated(message)
        if not translated and not is_source:
            problems.append(Problem(path, line, f"untranslated entry {label}"))
        unsafe = _unsafe_field_problems(message, path, line, label)
        problems.extend(unsafe)
        if translated and not unsafe:
            problems.extend(_placeholder_problems(message, path, line, label))
    if pot is not None:
        have = {message_key(m) for m in catalog if m.id}
        for message in pot:
            if message.id and message_key(message) not in have:
                problems.append(
                    Problem(
                        path,
                        None,
                        f"entry {_msgid_label(message)} of {DOMAIN}.pot is missing here "
                        "(run pybabel update, see README)",
                    )
                )
    return problems


def _unsafe_field_problems(
    message: Message, path: Path, line: int | None, label: str
) -> list[Problem]:
    """Format specs, conversions and other fields than ``{name}``, in msgid and msgstr."""
    ids = [message.id] if isinstance(message.id, str) else list(message.id)
    strs = [message.string] if isinstance(message.string, str) else list(message.string or ())
    problems: list[Problem] = []
    for what, texts in (("msgid", ids), ("msgstr", strs)):
        for text in texts:
            try:
                found = format_field_problems(text or "")
            except ValueError:
                continue  # a broken brace: reported by _placeholder_problems
            problems.extend(Problem(path, line, f"{what} of {label}: {p}") for p in found)
    return problems


def _placeholder_problems(
    message: Message, path: Path, line: int | None, label: str
) -> list[Problem]:
    ids = [message.id] if isinstance(message.id, str) else list(message.id)
    strs = [message.string] if isinstance(message.string, str) else list(message.string or ())
    try:
        expected = set().union(*(_placeholders(i) for i in ids))
    except ValueError as exc:
        return [Problem(path, line, f"msgid {label} has a broken placeholder: {exc}")]
    problems: list[Problem] = []
    for translated in strs:
        if not translated:
            continue
        try:
            found = _placeholders(translated)
        except ValueError as exc:
            problems.append(
                Problem(path, line, f"msgstr of {label} has a broken placeholder: {exc}")
            )
            continue
        if found != expected:
            problems.append(
                Problem(
                    path,
                    line,
                    f"placeholders differ in {label}: msgid has "
                    f"{_fmt(expected)}, msgstr has {_fmt(found)}",
                )
            )
    return problems


def _placeholders(text: str) -> set[str]:
    return {
        name for _lit, name, _spec, _conv in string.Formatter().parse(text) if name is not None
    }


def _fmt(names: Iterable[str]) -> str:
    items = sorted(names)
    return ", ".join("{" + n + "}" for n in items) if items else "none"


def _msgid_label(message: Message) -> str:
    msgid = message_key(message)
    short = msgid if len(msgid) <= 50 else msgid[:47] + "..."
    return repr(short)


def _read_pot(locales_dir: Path, problems: list[Problem]) -> Catalog | None:
    try:
        return read_template(locales_dir)
    except CatalogError as exc:
        problems.append(Problem(exc.path, exc.line, exc.reason))
        return None


def _read_catalog(locales_dir: Path, locale: str, problems: list[Problem]) -> Catalog | None:
    try:
        return read_catalog(po_path(locales_dir, locale), locale)
    except CatalogError as exc:
        problems.append(Problem(exc.path, exc.line, exc.reason))
        return None


def _at(topic: Topic, field_name: str, message: str) -> Problem:
    return Problem(topic.path, topic.line(field_name), message)
