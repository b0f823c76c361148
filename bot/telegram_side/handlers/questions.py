"""Typed messages: the urgent-care message first when they describe a warning sign, then the
topic that answers them (the core's :class:`~bot.core.search.desk.QuestionDesk` decides).

What a patient typed is handed to the core and forgotten: it is never stored, never logged;
only the counts (matched, unmatched, urgent) are kept, in ``runtime.typed_counts``; a topic
shown by itself counts as a view of it.
"""

from __future__ import annotations

from telegram import Update

from bot.core import daily_counts
from bot.telegram_side.context import BotContext
from bot.telegram_side.handlers.replies import send


async def typed_text(update: Update, context: BotContext) -> None:
    message = update.effective_message
    if message is None or not message.text:
        return
    reply = context.desk.reply(message.text, context.locale, subscribed=context.subscribed)
    context.runtime.typed_counts.record(matched=reply.matched, urgent=reply.urgent)
    if reply.shown_topic is not None:
        key = daily_counts.view_key(reply.shown_topic, context.locale)
        context.runtime.counts.add(daily_counts.VIEW, key)
    for screen in reply.screens:  # the urgent-care message, when there is one, goes first
        await send(update, screen)
