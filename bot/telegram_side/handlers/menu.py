"""Thin handlers for the patient's menus: decode the update, call the pure core, send."""

from __future__ import annotations

import logging

from telegram import CallbackQuery, Update
from telegram.error import Forbidden, RetryAfter, TelegramError

from bot.core import callbacks, daily_counts, deep_links
from bot.core.content.model import ROOT_ID
from bot.core.i18n import _, resolve_locale
from bot.core.render import Screen
from bot.storage import DATABASE_ERRORS
from bot.telegram_side.api_errors import describe
from bot.telegram_side.context import BotContext
from bot.telegram_side.database_health import DatabaseOutage
from bot.telegram_side.handlers.replies import answer, edit, home_with_note, send

log = logging.getLogger(__name__)

# Interface notes, extracted by Babel through the _() marker.
STALE_BUTTON = _("That button is out of date. Here is the main menu.")
UNKNOWN_COMMAND = _("Sorry, I don't know that command. Please choose a topic:")
# TRANSLATORS: shown after a patient picks your language: put its name, e.g. "语言：中文".
LANGUAGE_SET = _("Language: English")
LANGUAGE_NOT_SAVED = _(
    "Sorry, your choice of language could not be saved just now. Please choose it again in a "
    "few minutes."
)


async def resolve_user_locale(update: Update, context: BotContext, *, touch: bool = True) -> None:
    """Resolve the locale of every update once, before any handler runs (see prelude.py).

    ``touch``: record the user as seen (creating them when new).
    """
    runtime = context.runtime
    # Take this update's content now: every handler of the update uses this one renderer, so
    # a hot reload in the middle of an update cannot mix old and new screens.
    renderer = context.renderer
    user = update.effective_user
    # None when never chosen, or when the database is down (then Telegram's language decides;
    # the outage is logged once, by DatabaseHealth).
    saved: str | None = None
    if user is not None:
        visit = await runtime.users.visit(user.id, touch=touch)
        saved, context.new_user = visit.locale, visit.new
    context.locale = resolve_locale(
        saved,
        user.language_code if user else None,
        renderer.locales,
        runtime.settings.default_locale,
    )


async def start(update: Update, context: BotContext) -> None:
    """/start: the main menu, or what a deep link names (t.me/<bot>?start=<payload>, see
    core/deep_links.py). A payload that is not ours, or names a topic or language this content
    does not serve, opens the main menu: never an error."""
    screen = None
    link = deep_links.decode(context.args[0]) if context.args else None
    if link is not None:
        screen = await _open_link(update, context, link)
    if screen is None:
        screen = context.renderer.home(context.locale, subscribed=context.subscribed)
    await send(update, screen)


async def _open_link(
    update: Update, context: BotContext, link: deep_links.DeepLink
) -> Screen | None:
    """The screen a link of ours opens (None: the main menu), counted by its source.

    The link's language applies to the screen it opens. A new user also keeps it as their
    choice: they scanned a poster in that language, and the next screen (the buttons carry no
    language) should not switch to Telegram's; 🌐 Language changes it and /mydata shows it.
    Someone who already uses the bot keeps their own language after that one screen.
    """
    renderer = context.renderer
    counts = context.runtime.counts
    if link.version:  # the source of a poster counts even if its topic is gone since
        counts.add_source(link.source)
    locale = context.locale
    if link.lang is not None:
        found = deep_links.match_locale(link.lang, renderer.locales)
        if found is None:
            return None
        locale = found
    if link.topic_id == ROOT_ID:
        screen = renderer.home(locale, subscribed=context.subscribed)
    elif renderer.library.trees[locale].is_served(link.topic_id):
        screen = renderer.topic(locale, link.topic_id)
        counts.add(daily_counts.VIEW, daily_counts.view_key(link.topic_id, locale))
    else:
        return None  # a topic this content does not have, or a draft
    if not link.version:
        counts.add_source(None)  # the bare form: counted once it proved to be ours
    user = update.effective_user
    if locale != context.locale and context.new_user and user is not None:
        await context.runtime.users.set_locale(user.id, locale)
        context.locale = locale
    return screen


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
        saved = await _save_language(context, query.from_user.id, action.locale)
        context.locale = action.locale  # this screen in the chosen language, saved or not
        if not saved:  # the main menu with the note above it, and as a pop-up
            return renderer.home(context.locale, subscribed=context.subscribed), LANGUAGE_NOT_SAVED
        return home_with_note(context, LANGUAGE_SET), None
    try:
        if isinstance(action, callbacks.ShowTopic):
            screen = renderer.topic(context.locale, action.topic_id, action.page)
            if action.page == 0:  # a topic opened (Next and Previous are the same view)
                key = daily_counts.view_key(action.topic_id, context.locale)
                context.runtime.counts.add(daily_counts.VIEW, key)
            return screen, None
        if isinstance(action, callbacks.ShowTerms):
            screen = renderer.terms(
                context.locale, action.topic_id, action.page, action.terms_page
            )
            return screen, None
    except KeyError:
        pass  # a topic, page or glossary word this content version no longer has
    log.info("event=stale_button kind=%s", type(action).__name__)
    return renderer.home(context.locale, subscribed=context.subscribed), STALE_BUTTON


async def _save_language(context: BotContext, user_id: int, locale: str) -> bool:
    """Save a patient's choice of language; False when the database could not take it."""
    runtime = context.runtime
    try:
        await runtime.users.set_locale(user_id, locale)
        if context.subscribed:  # broadcasts follow the subscriber's language
            await runtime.database.call(
                lambda: runtime.storage.set_subscription_locale(user_id, locale),
                "set_subscription_locale",
            )
    except DatabaseOutage:
        return False
    return True


async def on_error(update: object, context: BotContext) -> None:
    """Log every unhandled error as one line; never the token, never what a patient typed.

    Not logged here: a 429 (the transport sums 429s up in one line per interval,
    ``rate_limit_watch.py``) and the database being down (one line per outage,
    ``database_health.py``).
    """
    exc = context.error
    update_id = update.update_id if isinstance(update, Update) else None
    if isinstance(exc, Forbidden):
        log.info("event=forbidden update_id=%s", update_id)
        return
    if isinstance(exc, RetryAfter):
        return
    if isinstance(exc, DATABASE_ERRORS):
        if not isinstance(exc, DatabaseOutage):  # not yet seen by DatabaseHealth
            context.runtime.database.failed(exc, "handler")
        return
    log.error(
        "event=handler_error update_id=%s error=%s",
        update_id,
        describe(exc) if exc else "unknown",
        exc_info=exc if exc and not isinstance(exc, TelegramError) else None,
    )
