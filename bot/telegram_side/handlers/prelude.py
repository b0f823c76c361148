"""Group -1: what every handler of an update needs, resolved once before any of them runs.

It runs only for updates the gate (group -2, ``gate.py``) let through. ``my_chat_member`` (the
user blocked or unblocked the bot) needs neither language nor menu, and must not record the
user as seen; a press of /forget's confirmation reads the user's language without recording
them (it is about to erase them).
"""

from __future__ import annotations

from telegram import Update

from bot.telegram_side.context import BotContext
from bot.telegram_side.handlers import menu, news_optin, privacy


async def prepare_update(update: Update, context: BotContext) -> None:
    # One handler rather than one per concern: each handler group costs every update a pass
    # through PTB's dispatch, and both steps only read caches in the common case.
    if update.my_chat_member is not None:
        return
    query = update.callback_query
    touch = query is None or not privacy.is_forget_button(query.data)
    await news_optin.resolve_subscribed(update, context)  # the home menu's news button
    await menu.resolve_user_locale(update, context, touch=touch)  # locale, renderer
