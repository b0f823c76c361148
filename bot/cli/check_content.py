"""`interventional-bot check`: validate content and catalogs, print a file:line report."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from bot.cli.exits import EXIT_OK, EXIT_PROBLEMS
from bot.config import Settings
from bot.core.content.checks import Report, run_checks


def check_command(settings: Settings, out: TextIO, *, strict: bool) -> int:
    """Exit 0 when clean, 1 when there are errors (``strict``: warnings too)."""
    report = run_checks(settings)
    print_report(report, settings, out)
    failed = bool(report.errors) or (strict and bool(report.warnings))
    return EXIT_PROBLEMS if failed else EXIT_OK


def print_report(report: Report, settings: Settings, out: TextIO) -> None:
    base = _common_base(settings.content_dir, settings.locales_dir)
    out.write(
        f"Checked content in {settings.content_dir} and catalogs in {settings.locales_dir}\n"
    )
    for locale in report.locales:
        topics = report.topics.get(locale, 0)
        messages = report.messages.get(locale, 0)
        out.write(f"  {locale:<10} {topics:>3} topics, {messages:>3} interface strings\n")
    for severity, problems in (("Errors", report.errors), ("Warnings", report.warnings)):
        if problems:
            out.write(f"\n{severity} ({len(problems)}):\n")
            for problem in sorted(problems, key=lambda p: (str(p.path), p.line or 0)):
                out.write(f"  {problem.format(base)}\n")
                for line in problem.detail.splitlines():
                    out.write(f"      {line}\n")
    verdict = "FAILED" if report.errors else "OK"
    out.write(
        f"\ncheck: {verdict}: {len(report.errors)} error(s), {len(report.warnings)} warning(s)\n"
    )


def _common_base(*paths: Path) -> Path | None:
    parents = [p.resolve().parent for p in paths]
    return parents[0] if all(p == parents[0] for p in parents) else None
