"""How every handler answers: send a screen, edit one in place, answer a button, retry once.

Every keyboard goes through :class:`~bot.core.render.Screen` (built by the core) and
:func:`~bot.telegram_side.markup.to_markup`; no handler builds PTB markup itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from telegram import CallbackQuery, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.core.render import Screen
from bot.telegram_side.api_errors import describe, retry_after_seconds
from bot.telegram_side.context import BotContext
from bot.telegram_side.markup import to_markup

log = logging.getLogger(__name__)

# The longest an interactive reply waits out a 429 before giving up on that reply.
MAX_INTERACTIVE_WAIT = 5.0
# The pause before the one retry after a network blip.
NETWORK_RETRY_DELAY = 0.2


def _markup(screen: Screen) -> InlineKeyboardMarkup | None:
    return to_markup(screen.keyboard) if screen.keyboard else None


async def retrying(call: Callable[[], Awaitable[object]]) -> None:
    """Run ``call`` (a zero-argument coroutine factory) once more after a network blip or a
    short 429, so that a single transient failure does not leave a patient without a reply."""
    try:
        await call()
    except RetryAfter as exc:
        delay = retry_after_seconds(exc)
        if delay > MAX_INTERACTIVE_WAIT:
            raise
        await asyncio.sleep(delay)
        await call()
    except Forbidden:
        raise
    except NetworkError as exc:
        if isinstance(exc, BadRequest):
            raise
        log.info("event=retry error=%s", describe(exc))
        await asyncio.sleep(NETWORK_RETRY_DELAY)
        await call()


async def send(update: Update, screen: Screen) -> None:
    """A new message with ``screen`` in the chat of ``update``."""
    message = update.effective_message
    if message is None:
        return
    markup = _markup(screen)
    await retrying(lambda: message.reply_text(screen.text, reply_markup=markup))


async def edit(query: CallbackQuery, screen: Screen, *, or_send: bool = True) -> None:
    """Show ``screen`` in the message of the pressed button; when that message cannot be
    edited (too old, deleted), send it afresh unless ``or_send`` is False."""
    markup = _markup(screen)
    message = query.message
    if isinstance(message, Message):
        try:
            await retrying(lambda: message.edit_text(screen.text, reply_markup=markup))
            return
        except BadRequest as exc:
            if "message is not modified" in exc.message:
                return
            log.info("event=edit_failed error=%s", describe(exc))
            if not or_send:
                return
    if not or_send:
        return
    await retrying(
        lambda: query.get_bot().send_message(query.from_user.id, screen.text, reply_markup=markup)
    )


async def answer(query: CallbackQuery, text: str | None = None) -> None:
    """Answer a button press (Telegram shows ``text`` as a pop-up); never raises."""
    try:
        await query.answer(text)
    except TelegramError as exc:  # too old, or already answered: nothing left to do
        log.info("event=answer_failed error=%s", describe(exc))


def home_with_note(context: BotContext, note: str) -> Screen:
    """The main menu with a short localized note above it (``note`` is a gettext msgid)."""
    home = context.renderer.home(context.locale, subscribed=context.subscribed)
    text = f"<i>{context.renderer.note(context.locale, note)}</i>\n\n{home.text}"
    return Screen(text, home.keyboard)
