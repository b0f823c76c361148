"""The readable report of `interventional-bot check`."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from bot.config import Settings
from bot.content.checks import Report


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
