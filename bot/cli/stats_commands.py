"""``interventional-bot stats [--days N] [--format table|json]``: the statistics of the last days.

The same report as /stats (``bot/core/stats_report.py``): per day counts of topic views,
answers to "Was this helpful?" and the helpful ratio per topic, typed questions matched and
unmatched, urgent replies, deep-link sources, new users and subscriptions; and users and
subscribers by language now. What a running bot counted in the last few seconds is written
by it shortly (every 5 s, and when it stops). A bad value is one line and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import re
from typing import TextIO

from bot.cli.exits import EXIT_OK, UsageError
from bot.config import Settings
from bot.core.stats_report import MAX_DAYS
from bot.storage import open_storage

DEFAULT_DAYS = 7
FORMATS = ("table", "json")


def parse_days(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_DAYS
    if not re.fullmatch(r"[0-9]{1,5}", raw.strip()) or not 1 <= int(raw) <= MAX_DAYS:
        raise UsageError(f"--days: {raw!r} is not a number of days from 1 to {MAX_DAYS}")
    return int(raw)


async def run(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    days = parse_days(args.days)
    if args.format not in FORMATS:
        raise UsageError(f"--format: {args.format!r} is not one of {', '.join(FORMATS)}")
    async with await open_storage(settings.database_url) as storage:
        report = await storage.stats_report(days)
    if args.format == "json":
        out.write(json.dumps(report.as_json(), ensure_ascii=False, indent=2) + "\n")
    else:
        out.write(report.table() + "\n")
    return EXIT_OK
