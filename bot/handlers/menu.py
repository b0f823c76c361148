"""Thin handlers for the patient's menus: decode the update, call the pure core, send."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress

from telegram import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot import callbacks
from bot.context import BotContext
from bot.i18n import _, resolve_locale
from bot.render import Keyboard, Screen

log = logging.getLogger(__name__)

# Interface notes, extracted by Babel through the _() marker.
STALE_BUTTON = _("That button is out of date. Here is the main menu.")
UNKNOWN_TEXT = _("I answer through the buttons below. Please choose a topic:")
UNKNOWN_COMMAND = _("Sorry, I don't know that command. Please choose a topic:")
# TRANSLATORS: shown after a patient picks your language: put its name, e.g. "语言：中文".
LANGUAGE_SET = _("Language: English")
# The longest an interactive reply waits out a 429 before giving up on that reply.
_MAX_INTERACTIVE_WAIT = 5.0


def to_markup(screen: Screen) -> InlineKeyboardMarkup:
    return _markup(screen.keyboard)


@functools.lru_cache(maxsize=1024)
def _markup(keyboard: Keyboard) -> InlineKeyboardMarkup:
    # Cached: a menu has a few dozen distinct keyboards, and PTB objects are immutable.
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b.label, callback_data=b.data) for b in row] for row in keyboard]
    )


async def resolve_user_locale(update: Update, context: BotContext) -> None:
    """Resolve the locale of every update once, before any handler runs (see prepare.py)."""
    runtime = context.runtime
    # Take this update's content now: every handler of the update uses this one renderer, so
    # a hot reload (bot/reload.py) in the middle of an update cannot mix old and new screens.
    renderer = context.renderer
    user = update.effective_user
    saved: str | None = None
    if user is not None:
        try:
            saved = await runtime.users.saved_locale(user.id)
        except Exception as exc:  # the database is down: still serve the menu
            log.error("event=storage_unavailable error=%s", type(exc).__name__)
    context.locale = resolve_locale(
        saved,
        user.language_code if user else None,
        renderer.locales,
        runtime.settings.default_locale,
    )


async def start(update: Update, context: BotContext) -> None:
    renderer = context.renderer
    screen = renderer.home(context.lang, subscribed=context.subscribed)
    # A deep link (t.me/<bot>?start=<topic id>) opens that topic directly.
    if context.args:
        action = callbacks.decode(f"{callbacks.VERSION}:t:{context.args[0]}")
        if isinstance(action, callbacks.ShowTopic):
            with suppress(KeyError):
                screen = renderer.topic(context.lang, action.topic_id)
    await _send(update, screen)


async def show_help(update: Update, context: BotContext) -> None:
    await _send(update, context.renderer.help(context.lang))


async def language(update: Update, context: BotContext) -> None:
    await _send(update, context.renderer.language_menu(context.lang))


async def unknown_text(update: Update, context: BotContext) -> None:
    await _send(update, _with_note(context, UNKNOWN_TEXT))


async def unknown_command(update: Update, context: BotContext) -> None:
    await _send(update, _with_note(context, UNKNOWN_COMMAND))


async def button(update: Update, context: BotContext) -> None:
    """Every inline button: edit the same message in place; always answer the query."""
    query = update.callback_query
    if query is None:
        return
    note: str | None = None
    try:
        screen, note = await _screen_for(query, context)
        if note is not None:
            screen = _with_note(context, note)
        await _edit(query, screen)
    finally:
        try:
            await query.answer(context.t(note) if note else None)
        except TelegramError as exc:  # too old, or already answered: nothing left to do
            log.info("event=answer_failed error=%s", _describe(exc))


async def _screen_for(query: CallbackQuery, context: BotContext) -> tuple[Screen, str | None]:
    renderer = context.renderer
    action = callbacks.decode(query.data)
    if isinstance(action, callbacks.Home):
        return renderer.home(context.lang, subscribed=context.subscribed), None
    if isinstance(action, callbacks.LanguageMenu):
        return renderer.language_menu(context.lang), None
    if isinstance(action, callbacks.SetLanguage) and action.locale in renderer.locales:
        await context.runtime.users.set_locale(query.from_user.id, action.locale)
        if context.subscribed:  # broadcasts follow the subscriber's language
            await context.runtime.storage.set_subscription_locale(
                query.from_user.id, action.locale
            )
        context.locale = action.locale
        return _with_note(context, LANGUAGE_SET), None
    if isinstance(action, callbacks.ShowTopic):
        try:
            return renderer.topic(context.lang, action.topic_id, action.page), None
        except KeyError:
            pass  # a topic (or page) this content version no longer has
    log.info("event=stale_button kind=%s", type(action).__name__)
    return renderer.home(context.lang, subscribed=context.subscribed), STALE_BUTTON


def _with_note(context: BotContext, note: str) -> Screen:
    home = context.renderer.home(context.lang, subscribed=context.subscribed)
    text = f"<i>{context.renderer.note(context.lang, note)}</i>\n\n{home.text}"
    return Screen(text, home.keyboard)


async def _send(update: Update, screen: Screen) -> None:
    message = update.effective_message
    if message is None:
        return
    await _retrying(lambda: message.reply_text(screen.text, reply_markup=to_markup(screen)))


async def _edit(query: CallbackQuery, screen: Screen) -> None:
    markup = to_markup(screen)
    message = query.message
    if isinstance(message, Message):
        try:
            await _retrying(lambda: message.edit_text(screen.text, reply_markup=markup))
            return
        except BadRequest as exc:
            if "message is not modified" in exc.message:
                return
            # Too old to edit, or deleted: fall through and send the screen afresh.
            log.info("event=edit_failed error=%s", _describe(exc))
    await _retrying(
        lambda: query.get_bot().send_message(query.from_user.id, screen.text, reply_markup=markup)
    )


async def _retrying(call: Callable[[], Awaitable[object]]) -> None:
    """Run ``call`` (a zero-argument coroutine factory) once more after a network blip or a
    short 429, so that a single transient failure does not leave a patient without a reply."""
    try:
        await call()
    except RetryAfter as exc:
        delay = _retry_after_seconds(exc)
        if delay > _MAX_INTERACTIVE_WAIT:
            raise
        await asyncio.sleep(delay)
        await call()
    except Forbidden:
        raise
    except NetworkError as exc:
        if isinstance(exc, BadRequest):
            raise
        log.info("event=retry error=%s", _describe(exc))
        await asyncio.sleep(0.2)
        await call()


def _retry_after_seconds(exc: RetryAfter) -> float:
    value = exc.retry_after
    return value.total_seconds() if hasattr(value, "total_seconds") else float(value)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}:{getattr(exc, 'message', '')!s}".replace(" ", "_")[:120]


async def on_error(update: object, context: BotContext) -> None:
    """Log every unhandled error as one line; never the token, never what a patient typed."""
    exc = context.error
    update_id = update.update_id if isinstance(update, Update) else None
    if isinstance(exc, Forbidden):
        log.info("event=forbidden update_id=%s", update_id)
        return
    log.error(
        "event=handler_error update_id=%s error=%s",
        update_id,
        _describe(exc) if exc else "unknown",
        exc_info=exc if exc and not isinstance(exc, TelegramError) else None,
    )
