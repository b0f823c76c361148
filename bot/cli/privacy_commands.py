"""``interventional-bot privacy purge | forget USER_ID``: erasure from the command line.

``purge`` applies the retention rule now, as ``run`` does once a day: every user neither
subscribed nor seen within ``USER_RETENTION_DAYS`` is erased. ``forget`` erases one user, as
their own /forget does (for a request that reached the hospital another way). Both print what
they changed; the arguments are declared in ``bot/cli/main.py``.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from bot.cli.exits import EXIT_OK
from bot.config import Settings
from bot.core import daily_counts
from bot.storage import Erased, open_storage
from bot.telegram_side.retention import purge_once


async def run(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout  # read now: a default bound at import would keep an old stream
    action: str = args.action
    async with await open_storage(settings.database_url) as storage:
        if action == "purge":
            erased = await purge_once(storage, settings.user_retention_days)
            out.write(
                f"erased {erased.people} user(s) neither subscribed nor seen within "
                f"{settings.user_retention_days} days (USER_RETENTION_DAYS): {_what(erased)}\n"
            )
            return EXIT_OK
        if action == "forget":
            subscription = await storage.get_subscription(args.user_id)
            erased = await storage.erase_user(args.user_id)
            if subscription is not None and subscription.active:  # as the bot counts /forget
                ended = (daily_counts.utc_today(), daily_counts.SUBSCRIPTION_ENDED, "erased")
                await storage.add_daily_counts({ended: 1})
            found = "erased" if erased.people else "nothing stored for"
            out.write(f"{found} user {args.user_id}: {_what(erased)}\n")
            return EXIT_OK
    raise AssertionError(action)


def _what(erased: Erased) -> str:
    return (
        f"{erased.subscriptions} subscription(s) deleted, {erased.skipped} queued broadcast "
        f"message(s) skipped, {erased.anonymised} broadcast record(s) anonymised, "
        f"{erased.drafts} draft(s) deleted, {erased.votes} answer(s) to 'Was this helpful?' "
        "deleted"
    )
