"""Thin handlers for the patient's menus: decode the update, call the pure core, send."""

from __future__ import annotations

import logging
from contextlib import suppress

from telegram import CallbackQuery, Update
from telegram.error import Forbidden, TelegramError

from bot.core import callbacks
from bot.core.i18n import _, resolve_locale
from bot.core.render import Screen
from bot.storage import DATABASE_ERRORS
from bot.telegram_side.api_errors import describe
from bot.telegram_side.context import BotContext
from bot.telegram_side.handlers.replies import answer, edit, home_with_note, send

log = logging.getLogger(__name__)

# Interface notes, extracted by Babel through the _() marker.
STALE_BUTTON = _("That button is out of date. Here is the main menu.")
UNKNOWN_COMMAND = _("Sorry, I don't know that command. Please choose a topic:")
# TRANSLATORS: shown after a patient picks your language: put its name, e.g. "语言：中文".
LANGUAGE_SET = _("Language: English")


async def resolve_user_locale(update: Update, context: BotContext, *, touch: bool = True) -> None:
    """Resolve the locale of every update once, before any handler runs (see prelude.py).

    ``touch``: record the user as seen (creating them when new).
    """
    runtime = context.runtime
    # Take this update's content now: every handler of the update uses this one renderer, so
    # a hot reload in the middle of an update cannot mix old and new screens.
    renderer = context.renderer
    user = update.effective_user
    saved: str | None = None
    if user is not None:
        try:
            saved = await runtime.users.saved_locale(user.id, touch=touch)
        except DATABASE_ERRORS as exc:  # the database is down: still serve the menu
            log.error("event=storage_unavailable error=%s", type(exc).__name__)
    context.locale = resolve_locale(
        saved,
        user.language_code if user else None,
        renderer.locales,
        runtime.settings.default_locale,
    )


async def start(update: Update, context: BotContext) -> None:
    renderer = context.renderer
    screen = renderer.home(context.locale, subscribed=context.subscribed)
    # A deep link (t.me/<bot>?start=<topic id>) opens that topic directly.
    if context.args:
        action = callbacks.decode(f"{callbacks.VERSION}:t:{context.args[0]}")
        if isinstance(action, callbacks.ShowTopic):
            with suppress(KeyError):
                screen = renderer.topic(context.locale, action.topic_id)
    await send(update, screen)


async def show_help(update: Update, context: BotContext) -> None:
    await send(update, context.renderer.help(context.locale))


async def language(update: Update, context: BotContext) -> None:
    await send(update, context.renderer.language_menu(context.locale))


async def unknown_command(update: Update, context: BotContext) -> None:
    await send(update, home_with_note(context, UNKNOWN_COMMAND))


async def button(update: Update, context: BotContext) -> None:
    """Every inline button: edit the same message in place; always answer the query."""
    query = update.callback_query
    if query is None:
        return
    note: str | None = None
    try:
        screen, note = await _screen_for(query, context)
        if note is not None:
            screen = home_with_note(context, note)
        await edit(query, screen)
    finally:
        await answer(query, context.t(note) if note else None)


async def _screen_for(query: CallbackQuery, context: BotContext) -> tuple[Screen, str | None]:
    renderer = context.renderer
    action = callbacks.decode(query.data)
    if isinstance(action, callbacks.Home):
        return renderer.home(context.locale, subscribed=context.subscribed), None
    if isinstance(action, callbacks.LanguageMenu):
        return renderer.language_menu(context.locale), None
    if isinstance(action, callbacks.SetLanguage) and action.locale in renderer.locales:
        await context.runtime.users.set_locale(query.from_user.id, action.locale)
        if context.subscribed:  # broadcasts follow the subscriber's language
            await context.runtime.storage.set_subscription_locale(
                query.from_user.id, action.locale
            )
        context.locale = action.locale
        return home_with_note(context, LANGUAGE_SET), None
    try:
        if isinstance(action, callbacks.ShowTopic):
            return renderer.topic(context.locale, action.topic_id, action.page), None
        if isinstance(action, callbacks.ShowTerms):
            screen = renderer.terms(
                context.locale, action.topic_id, action.page, action.terms_page
            )
            return screen, None
    except KeyError:
        pass  # a topic, page or glossary word this content version no longer has
    log.info("event=stale_button kind=%s", type(action).__name__)
    return renderer.home(context.locale, subscribed=context.subscribed), STALE_BUTTON


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
        describe(exc) if exc else "unknown",
        exc_info=exc if exc and not isinstance(exc, TelegramError) else None,
    )
