"""How every handler answers: send a screen, edit one in place, answer a button, retry once.

Every keyboard goes through :class:`~bot.core.render.Screen` (built by the core) and
:func:`~bot.telegram_side.markup.to_markup`; no handler builds PTB markup itself.

The transport paces replies per chat (``reply_pacing.py``): a reply may wait for its chat's
turn, and is dropped (:class:`~bot.telegram_side.reply_pacing.ReplyDropped`) when a newer
press's screen replaces it or when its chat must wait longer than :data:`MAX_REPLY_WAIT`.
Both are normal under a flood and end quietly here: the press is answered all the same, and
such outcomes, like failed answers, are counted in one log line per interval, not one each.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from telegram import CallbackQuery, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.core.render import Screen
from bot.telegram_side.api_errors import describe, retry_after_seconds
from bot.telegram_side.burst_log import BurstLog
from bot.telegram_side.context import BotContext
from bot.telegram_side.markup import to_markup
from bot.telegram_side.reply_pacing import MAX_REPLY_WAIT, ReplyDropped

log = logging.getLogger(__name__)

# The pause before the one retry after a network blip.
NETWORK_RETRY_DELAY = 0.2

#: Replies not sent and answers that failed, summed up: one INFO line per interval.
not_delivered = BurstLog(log, "replies_not_delivered", level=logging.INFO)


def _markup(screen: Screen) -> InlineKeyboardMarkup | None:
    return to_markup(screen.keyboard) if screen.keyboard else None


async def retrying(call: Callable[[], Awaitable[object]]) -> None:
    """Run ``call`` (a zero-argument coroutine factory) once more after a network blip or a
    short 429, so that a single transient failure does not leave a patient without a reply.

    After a 429 the transport holds the retry until the chat's ``retry_after`` has passed
    (``reply_pacing.py``); a longer one, or a reply that is no longer wanted, ends here.
    """
    try:
        await call()
    except ReplyDropped as exc:
        not_delivered.add(exc.reason)
    except RetryAfter as exc:
        if retry_after_seconds(exc) > MAX_REPLY_WAIT:
            not_delivered.add("rate_limited")
            return
        try:
            await call()
        except (ReplyDropped, RetryAfter):
            not_delivered.add("rate_limited")
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
            # PTB capitalizes Telegram's description ("Message is not modified: …").
            if "message is not modified" in exc.message.lower():
                return
            not_delivered.add("edit_failed")
            log.debug("event=edit_failed error=%s", describe(exc))
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
        not_delivered.add("answer_failed")
        log.debug("event=answer_failed error=%s", describe(exc))


def home_with_note(context: BotContext, note: str) -> Screen:
    """The main menu with a short localized note above it (``note`` is a gettext msgid)."""
    home = context.renderer.home(context.locale, subscribed=context.subscribed)
    text = f"<i>{context.renderer.note(context.locale, note)}</i>\n\n{home.text}"
    return Screen(text, home.keyboard)
