"""/stats for admins (Settings.admin_ids, private chats): the statistics of the last days.

``/stats`` covers 7 days, ``/stats 30`` thirty. Counts per day only (views, answers, typed
questions, urgent replies, deep-link sources, new users, subscriptions) and the totals of users
and subscribers by language now: nothing that says who. Anyone else gets the answer to an
unknown command (``wiring.py`` filters on the admins).
"""

from __future__ import annotations

import re

from telegram import Update

from bot.core.i18n import _
from bot.core.render import Screen, esc
from bot.core.stats_report import MAX_DAYS
from bot.telegram_side.context import BotContext
from bot.telegram_side.handlers.replies import send

DEFAULT_DAYS = 7
USAGE = _("Send /stats for the last 7 days, or /stats 30 for the last 30 (at most {max}).")


async def stats_command(update: Update, context: BotContext) -> None:
    days = DEFAULT_DAYS
    if context.args:
        raw = context.args[0]
        if not re.fullmatch(r"[0-9]{1,4}", raw) or not 1 <= int(raw) <= MAX_DAYS:
            await send(update, Screen(esc(context.t(USAGE).format(max=MAX_DAYS)), ()))
            return
        days = int(raw)
    runtime = context.runtime
    await runtime.flush_counts()  # what this replica counted in the last seconds
    report = await runtime.storage.stats_report(days)
    await send(update, Screen(report.telegram_html(context.t), ()))
