"""`i18n convert SOURCE TARGET` and `i18n mark-reviewed LOCALE NAME… | --all`, and how
`i18n status` shows a locale converted by machine. See TRANSLATING.md, "Traditional Chinese".
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TextIO

from bot.cli.exits import EXIT_OK, UsageError
from bot.config import Settings
from bot.core.content.conversion_review import (
    CATALOG,
    INTERESTS,
    LocaleConversion,
    describe,
    mark_reviewed,
)
from bot.core.content.freshness import MarkError
from bot.core.content.locale_conversion import ConversionReport, convert_locale
from bot.core.content.script_conversion import ConversionError

_VARIANT_NAMES = {"s2twp": "Taiwan characters and phrases", "s2hk": "Hong Kong characters"}


def dispatch(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    if args.i18n_command == "convert":
        return convert_command(
            settings,
            out,
            source=args.source,
            target=args.target,
            variant=args.variant,
            force=args.force,
            dry_run=args.dry_run,
        )
    names = None if args.all else list(args.names)
    if args.all == bool(args.names):
        raise UsageError("mark-reviewed: name the parts (topic ids, urgent, privacy, "
                         f"{INTERESTS}, {CATALOG}), or --all (not both)")  # fmt: skip
    return mark_reviewed_command(settings, out, locale=args.locale, names=names)


def convert_command(
    settings: Settings,
    out: TextIO,
    *,
    source: str,
    target: str,
    variant: str,
    force: bool = False,
    dry_run: bool = False,
) -> int:
    try:
        report = convert_locale(
            settings.content_dir,
            settings.locales_dir,
            source,
            target,
            variant=variant,
            force=force,
            dry_run=dry_run,
        )
    except ConversionError as exc:
        raise UsageError(f"convert: {exc}") from None
    _print_report(report, settings, out, dry_run=dry_run)
    return EXIT_OK


def _print_report(
    report: ConversionReport, settings: Settings, out: TextIO, *, dry_run: bool
) -> None:
    base = settings.content_dir.resolve().parent
    kind = _VARIANT_NAMES.get(report.config, report.config)
    verb = "would write" if dry_run else "wrote"
    out.write(f"{report.source} -> {report.target} with OpenCC {report.config} ({kind}):\n")
    for outcome in report.outcomes:
        if outcome.action == "unchanged":
            continue
        note = f" ({outcome.note})" if outcome.note else ""
        out.write(f"  {outcome.action:<10} {_rel(outcome.path, base)}{note}\n")
    out.write(
        f"{report.target}: {verb} {report.count('new')} new and {report.count('updated')} "
        f"updated file(s); {report.count('unchanged')} unchanged; {report.count('kept')} kept "
        f"(reviewed); {report.count('left alone')} left alone.\n"
    )
    if not dry_run and report.count("new", "updated"):
        out.write(
            f"Next: `interventional-bot check`; review the files, then `interventional-bot "
            f"i18n mark-reviewed {report.target} NAME…`. A running bot shows them after "
            "/reload (or SIGHUP).\n"
        )


def _rel(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base))
    except ValueError:
        return str(path)


def mark_reviewed_command(
    settings: Settings, out: TextIO, *, locale: str, names: list[str] | None
) -> int:
    if not (settings.content_dir / locale).is_dir():
        raise UsageError(f"mark-reviewed: {settings.content_dir / locale} is not a directory")
    try:
        lines = mark_reviewed(settings.content_dir, settings.locales_dir, locale, names)
    except MarkError as exc:
        raise UsageError(f"mark-reviewed: {exc}") from None
    for line in lines:
        out.write(line + "\n")
    out.write(
        f"Marked {len(lines)} part(s) of {locale} as reviewed. A running bot drops the "
        "machine-conversion note after /reload (or SIGHUP).\n"
    )
    return EXIT_OK


# -- i18n status ----------------------------------------------------------------------------


def conversion_details(conv: LocaleConversion) -> list[str]:
    """The lines `i18n status` prints under its table for a locale converted by machine."""
    loc, source = conv.locale, conv.source
    lines: list[str] = []
    unreviewed = [p for p in conv.parts if p.state == "unreviewed"]
    if unreviewed:
        lines.append(
            f"\n{loc}: converted by machine from {source} (OpenCC {conv.config}), not reviewed "
            f"yet: {describe(unreviewed)}. Review them, then run `interventional-bot i18n "
            f"mark-reviewed {loc} NAME…` (topic ids, urgent, privacy, {INTERESTS}, {CATALOG}) "
            "or --all"
        )
    if outdated := [p for p in conv.parts if p.state == "outdated"]:
        lines.append(
            f"\n{loc}: converted from an older {source}: {describe(outdated)}; run "
            f"`interventional-bot i18n convert {source} {loc}`"
        )
    if changed := [p for p in conv.parts if p.state == "source changed"]:
        lines.append(
            f"\n{loc}: reviewed, but {source} changed since: {describe(changed)}; carry the "
            f"changes over by hand, then `interventional-bot i18n mark-reviewed {loc} NAME…`"
        )
    return lines


def conversion_json(conv: LocaleConversion | None) -> dict[str, Any] | None:
    if conv is None:
        return None
    strings = {p.state: p.strings for p in conv.parts if p.name == CATALOG}
    files = [p for p in conv.parts if p.name != CATALOG]
    return {
        "source": conv.source,
        "config": conv.config,
        "unreviewed": [p.name for p in files if p.state == "unreviewed"],
        "outdated": [p.name for p in files if p.state == "outdated"],
        "source_changed": [p.name for p in files if p.state == "source changed"],
        "strings_unreviewed": strings.get("unreviewed", 0),
        "strings_outdated": strings.get("outdated", 0),
    }
