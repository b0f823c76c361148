"""Group -1: what every handler of an update needs, resolved once before any of them runs."""

from __future__ import annotations

from telegram import Update

from bot.telegram_side.context import BotContext
from bot.telegram_side.handlers import menu, news_optin


async def prepare_update(update: Update, context: BotContext) -> None:
    # One handler rather than one per concern: each handler group costs every update a pass
    # through PTB's dispatch, and both steps only read caches in the common case.
    await news_optin.resolve_subscribed(update, context)  # the home menu's news button
    await menu.resolve_user_locale(update, context)  # the locale, and this update's renderer
