"""Tools for translators and clinicians: `i18n status`, `i18n mark-translated` and `render`
(`i18n convert` and `i18n mark-reviewed` are in convert_commands.py).

See TRANSLATING.md for how a translator uses them.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from bot.cli import convert_commands
from bot.cli.convert_commands import conversion_details, conversion_json
from bot.cli.exits import EXIT_OK, EXIT_PROBLEMS, UsageError
from bot.cli.terminal_screen import numbered_buttons
from bot.config import Settings
from bot.core.content.bundle import load_content
from bot.core.content.freshness import (
    MarkError,
    mark_translated,
)
from bot.core.content.model import RESERVED_FILES, ROOT_ID
from bot.core.content.translation_status import (
    LocaleStatus,
    StatusError,
    StatusReport,
    compute_status,
    status_failures,
)
from bot.core.i18n import (
    DOMAIN,
    SOURCE_LOCALE,
    po_path,
)
from bot.core.render import Renderer, Screen
from bot.core.telegram_html import parse_html


def print_status_table(
    report: StatusReport, settings: Settings, out: TextIO, *, min_percent: float, diffs: bool
) -> None:
    out.write(
        f"Translation status: {report.pot_total} interface strings in "
        f"{settings.locales_dir.name}/{DOMAIN}.pot, topics in {settings.content_dir}; "
        f"source language {SOURCE_LOCALE}; review due after {report.review_max_age_days} days\n\n"
    )
    header = (
        f"{'locale':<10} {'strings':>8} {'done':>5} {'fuzzy':>5} {'todo':>5}   "
        f"{'topics':>7} {'current':>7} {'stale':>5} {'unmarked':>8} {'missing':>7}   "
        f"{'review due':>10} {'no sign-off':>11} {'unreviewed':>10}"
    )
    out.write(header + "\n" + "-" * len(header) + "\n")
    for s in report.locales:
        out.write(_table_row(s) + "\n")
    out.write(
        "\nstrings %: interface strings translated (fuzzy ones do not count); topics %: topics "
        "marked translated from the current English; no sign-off: topics without "
        "'reviewed_by'; unreviewed: parts converted by machine (i18n convert) that no "
        "translator has reviewed yet.\n"
    )
    rel = _relative_to(settings.content_dir.resolve().parent)
    for s in report.locales:
        for line in _locale_details(s, settings, rel, diffs=diffs):
            out.write(line + "\n")
    for note in report.notes:
        out.write(f"\nnote: {note}\n")
    failures = status_failures(report, min_percent)
    if failures:
        why = "; ".join(f"{loc}: {', '.join(f)}" for loc, f in failures.items())
        out.write(f"\ni18n status: FAILED: {why}\n")
    else:
        out.write("\ni18n status: OK\n")


def _table_row(s: LocaleStatus) -> str:
    c = s.catalog
    if s.is_source:
        strings = f"{'source':>8} {'':>5} {'':>5} {'':>5}"
        topics = f"{'source':>7} {len(s.topics):>7} {'':>5} {'':>8} {'':>7}"
    else:
        pct = f"{c.percent:.0f}%" if c.exists else "none"
        strings = f"{pct:>8} {c.translated:>5} {c.fuzzy:>5} {c.untranslated:>5}"
        topics = (
            f"{s.topics_percent:>6.0f}% {len(s.ids('current')):>7} "
            f"{len(s.ids('stale')):>5} {len(s.ids('unmarked')):>8} "
            f"{len(s.ids('missing')):>7}"
        )
    signoff = f"{len(s.review_due):>10} {len(s.no_signoff):>11} {s.unreviewed:>10}"
    return f"{s.locale:<10} {strings}   {topics}   {signoff}"


def _relative_to(base: Path) -> Callable[[Path | None], str]:
    def rel(path: Path | None) -> str:
        if path is None:
            return "-"
        try:
            return str(path.resolve().relative_to(base))
        except ValueError:
            return str(path)

    return rel


def _locale_details(
    s: LocaleStatus, settings: Settings, rel: Callable[[Path | None], str], *, diffs: bool
) -> list[str]:
    """The lines under the table for one locale: what is missing, stale, unmarked, due."""
    lines: list[str] = []
    if not s.catalog.exists and not s.is_source:
        catalog = rel(po_path(settings.locales_dir, s.locale))
        lines.append(f"\n{s.locale}: no catalog {catalog} (see TRANSLATING.md, adding a language)")
    lines += [
        f"\n{s.locale}: missing topic {item.topic_id!r}: {rel(item.path)}"
        for item in s.topics
        if item.state == "missing"
    ]
    for item in s.topics:
        if item.state == "stale":
            lines.append(
                f"\n{s.locale}: stale topic {item.topic_id!r} ({rel(item.path)}): the "
                f"{SOURCE_LOCALE} text changed since it was translated"
            )
            if diffs:
                lines += [f"    {line}" for line in item.diff.splitlines()]
    if unmarked := s.ids("unmarked"):
        lines.append(
            f"\n{s.locale}: {len(unmarked)} topic(s) not marked translated yet: "
            f"{', '.join(unmarked)}"
        )
    lines += [
        f"\n{s.locale}: review due for {topic.id!r} ({rel(topic.path)}): last reviewed "
        f"{topic.reviewed}"
        for topic in s.review_due
    ]
    if unsigned := [t.id for t in s.no_signoff]:
        lines.append(
            f"\n{s.locale}: {len(unsigned)} topic(s) without 'reviewed_by' (no sign-off): "
            f"{', '.join(unsigned)}"
        )
    if s.conversion is not None:
        lines += conversion_details(s.conversion)
    return lines


def status_json(report: StatusReport, min_percent: float) -> dict[str, Any]:
    def topic_ids(s: LocaleStatus, state: str) -> list[str]:
        return s.ids(state)

    return {
        "source_locale": SOURCE_LOCALE,
        "interface_strings": report.pot_total,
        "review_max_age_days": report.review_max_age_days,
        "min_percent": min_percent,
        "ok": not status_failures(report, min_percent),
        "notes": list(report.notes),
        "locales": [
            {
                "locale": s.locale,
                "source": s.is_source,
                "catalog": {
                    "exists": s.catalog.exists,
                    "total": s.catalog.total,
                    "translated": s.catalog.translated,
                    "fuzzy": s.catalog.fuzzy,
                    "untranslated": s.catalog.untranslated,
                    "percent": round(s.catalog.percent, 1),
                },
                "topics": {
                    "total": s.topics_total,
                    "percent": round(s.topics_percent, 1),
                    "current": topic_ids(s, "current"),
                    "stale": [
                        {"topic": t.topic_id, "path": str(t.path), "diff": t.diff}
                        for t in s.topics
                        if t.state == "stale"
                    ],
                    "unmarked": topic_ids(s, "unmarked"),
                    "missing": topic_ids(s, "missing"),
                },
                "review_due": [
                    {"topic": t.id, "reviewed": str(t.reviewed), "path": str(t.path)}
                    for t in s.review_due
                ],
                "no_signoff": [
                    {"topic": t.id, "reviewed": str(t.reviewed), "path": str(t.path)}
                    for t in s.no_signoff
                ],
                "conversion": conversion_json(s.conversion),
                "failures": s.failures(min_percent),
            }
            for s in report.locales
        ],
    }


def status_command(
    settings: Settings,
    out: TextIO,
    *,
    locale: str | None,
    min_percent: float,
    output_format: str,
    review_max_age_days: int | None,
    diffs: bool = True,
) -> int:
    try:
        report = compute_status(settings, only=locale, review_max_age_days=review_max_age_days)
    except StatusError as exc:
        raise UsageError(str(exc)) from None
    if output_format == "json":
        json.dump(status_json(report, min_percent), out, ensure_ascii=False, indent=2)
        out.write("\n")
    else:
        print_status_table(report, settings, out, min_percent=min_percent, diffs=diffs)
    return EXIT_PROBLEMS if status_failures(report, min_percent) else EXIT_OK


# -- i18n mark-translated -------------------------------------------------------------------


def mark_command(
    settings: Settings, out: TextIO, *, locale: str, topics: Sequence[str], all_topics: bool
) -> int:
    if all_topics == bool(topics):
        raise UsageError("mark-translated: name the TOPIC ids, or --all (not both)")
    ids = list(topics)
    if all_topics:
        locale_dir = settings.content_dir / locale
        english = {p.stem for p in (settings.content_dir / SOURCE_LOCALE).glob("*.yaml")}
        # Every topic of the locale that the English has (an extra file is `check`'s business).
        ids = sorted(
            p.stem
            for p in locale_dir.glob("*.yaml")
            if p.stem in english and p.stem not in RESERVED_FILES and locale != SOURCE_LOCALE
        )
        if not ids:
            raise UsageError(f"mark-translated: {locale_dir} has no topic files")
    try:
        lines = mark_translated(settings.content_dir, locale, ids)
    except MarkError as exc:
        raise UsageError(f"mark-translated: {exc}") from None
    for line in lines:
        out.write(line + "\n")
    out.write(
        f"Marked {len(lines)} topic(s) of {locale} as translated from the current "
        f"{SOURCE_LOCALE}. A running bot shows the files after /reload (or SIGHUP).\n"
    )
    return EXIT_OK


# -- render ---------------------------------------------------------------------------------


def format_screen(screen: Screen, *, raw_html: bool = False) -> str:
    """A screen as a patient sees it: visible text, then numbered buttons row by row."""
    text = screen.text if raw_html else parse_html(screen.text).text
    labels = [[button.label for button in row] for row in screen.keyboard]
    return "\n".join([text, "", *numbered_buttons(labels)])


def dispatch(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """`render`, `i18n status` and `i18n mark-translated` with their parsed arguments."""
    if args.command == "render":
        content = load_content(settings)
        renderer = Renderer(content.library, content.catalogs, settings.hospital)
        return render_command(
            renderer,
            out,
            topic_id=args.topic,
            locale=args.lang or settings.default_locale,
            page=args.page,
            raw_html=args.html,
            words=args.words,
        )
    if args.i18n_command == "status":
        return status_command(
            settings,
            out,
            locale=args.locale,
            min_percent=args.min_percent,
            output_format=args.format,
            review_max_age_days=args.review_max_age_days,
            diffs=not args.no_diff,
        )
    if args.i18n_command in ("convert", "mark-reviewed"):
        return convert_commands.dispatch(args, settings, out)
    return mark_command(settings, out, locale=args.locale, topics=args.topics, all_topics=args.all)


def render_command(
    renderer: Renderer,
    out: TextIO,
    *,
    topic_id: str,
    locale: str,
    page: int | None,
    raw_html: bool = False,
    words: bool = False,
) -> int:
    if locale not in renderer.locales:
        raise UsageError(f"--lang: {locale!r} is not one of {', '.join(renderer.locales)}")
    try:
        pages = renderer.page_count(locale, topic_id)
    except KeyError:
        raise UsageError(
            f"TOPIC: {topic_id!r} is not a topic of {locale} reachable from the main menu"
        ) from None
    if page is not None and not 1 <= page <= pages:
        raise UsageError(f"--page: {page}, but {topic_id!r} has {pages} page(s) in {locale}")
    numbers = [page] if page is not None else list(range(1, pages + 1))
    for number in numbers:
        if topic_id == ROOT_ID and number == 1:  # the main menu, as /start shows it
            screen = renderer.home(locale)
        else:
            screen = renderer.topic(locale, topic_id, number - 1)
        out.write(f"── {topic_id} · {locale} · page {number} of {pages} " + "─" * 20 + "\n")
        out.write(format_screen(screen, raw_html=raw_html) + "\n\n")
        if words:
            _render_words(renderer, out, topic_id, locale, number - 1, raw_html=raw_html)
    return EXIT_OK


def _render_words(
    renderer: Renderer, out: TextIO, topic_id: str, locale: str, page: int, *, raw_html: bool
) -> None:
    """The "Words on this page" screens of one page (none when it uses no glossary term)."""
    if not renderer.terms_on_page(locale, topic_id, page):
        out.write(f"── (page {page + 1} uses no glossary term)\n\n")
        return
    count = renderer.terms_page_count(locale, topic_id, page)
    for n in range(count):
        screen = renderer.terms(locale, topic_id, page, n)
        out.write(f"── words on page {page + 1} · {n + 1} of {count} " + "─" * 20 + "\n")
        out.write(format_screen(screen, raw_html=raw_html) + "\n\n")
