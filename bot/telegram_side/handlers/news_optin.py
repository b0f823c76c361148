"""Thin handlers for the news opt-in: /subscribe, interests, /unsubscribe, /stop, blocking.

Nobody receives a broadcast without having subscribed here. Subscribing records consent with
its time (``Storage.subscribe``); unsubscribing (a command, or one tap on the "Unsubscribe"
button under every broadcast, callback_data ``1:u``) ends it; blocking the bot marks the user
blocked, and unblocking does not subscribe them again.
"""

from __future__ import annotations

import logging

from telegram import Message, Update
from telegram.constants import ChatMemberStatus

from bot.core import callbacks, daily_counts
from bot.core.news import (
    ALREADY_UNSUBSCRIBED,
    NOT_SUBSCRIBED,
    SUBSCRIPTION_SAVED,
    UNSUBSCRIBED,
    UNSUBSCRIBED_SHORT,
    news_screen,
    toggled,
)
from bot.core.pseudonyms import log_ref
from bot.core.render import Screen
from bot.storage import DATABASE_ERRORS
from bot.telegram_side.context import BotContext
from bot.telegram_side.handlers.replies import answer, edit, home_with_note, send

log = logging.getLogger(__name__)


async def resolve_subscribed(update: Update, context: BotContext) -> None:
    """Whether the user is subscribed (the main menu's news button depends on it)."""
    user = update.effective_user
    if user is None:
        return
    try:
        context.subscribed = await context.runtime.subscribers.is_subscribed(user.id)
    except DATABASE_ERRORS as exc:  # the database is down: still serve the menu
        log.error("event=storage_unavailable where=subscription error=%s", type(exc).__name__)


# -- commands ------------------------------------------------------------------------------


async def subscribe_command(update: Update, context: BotContext) -> None:
    user = update.effective_user
    if user is None:
        return
    await send(update, await _subscribe(context, user.id))


async def unsubscribe_command(update: Update, context: BotContext) -> None:
    """/unsubscribe and /stop."""
    user = update.effective_user
    if user is None:
        return
    ended = await _unsubscribe(context, user.id)
    await send(update, home_with_note(context, UNSUBSCRIBED if ended else NOT_SUBSCRIBED))


# -- buttons -------------------------------------------------------------------------------


def is_news_button(data: object) -> bool:
    """The callback_data this module answers (the pattern of its CallbackQueryHandler)."""
    return isinstance(data, str) and isinstance(
        callbacks.decode(data),
        callbacks.Subscribe | callbacks.ToggleInterest | callbacks.InterestsDone,
    )


def is_unsubscribe_button(data: object) -> bool:
    return isinstance(data, str) and isinstance(callbacks.decode(data), callbacks.Unsubscribe)


async def news_button(update: Update, context: BotContext) -> None:
    """The news screen's buttons: edit the message in place; always answer the query."""
    query = update.callback_query
    if query is None:
        return
    user_id = query.from_user.id
    action = callbacks.decode(query.data)
    try:
        if isinstance(action, callbacks.Subscribe):
            screen = await _subscribe(context, user_id)
        else:
            subscription = await context.runtime.storage.get_subscription(user_id)
            if subscription is None or not subscription.active:
                context.runtime.subscribers.set(user_id, False)
                context.subscribed = False
                screen = home_with_note(context, NOT_SUBSCRIBED)
            elif isinstance(action, callbacks.ToggleInterest):
                interests = context.runtime.interests
                chosen = toggled(subscription.interests, action.interest_id, interests)
                await context.runtime.storage.set_interests(user_id, chosen)
                screen = _news_screen(context, chosen)
            else:  # Done
                screen = home_with_note(context, SUBSCRIPTION_SAVED)
        await edit(query, screen)
    finally:
        await answer(query)


async def unsubscribe_button(update: Update, context: BotContext) -> None:
    """One tap under a broadcast (or on the news screen) ends the subscription.

    A confirmation pops up and is also sent as a note above the main menu (on the news screen,
    that screen is replaced by it). Tapping again only says that they are not subscribed.
    """
    query = update.callback_query
    if query is None:
        return
    try:
        ended = await _unsubscribe(context, query.from_user.id)
    except BaseException:  # answer the press whatever happened, then let the error handler log
        await answer(query)
        raise
    await answer(query, context.t(UNSUBSCRIBED_SHORT if ended else ALREADY_UNSUBSCRIBED))
    if not ended:
        return
    screen = home_with_note(context, UNSUBSCRIBED)
    if _is_menu_message(query.message):
        await edit(query, screen)
    else:  # a broadcast: it stays as it was; the confirmation comes as a new message
        await send(update, screen)


# -- blocking ------------------------------------------------------------------------------


async def member_status(update: Update, context: BotContext) -> None:
    """``my_chat_member`` in a private chat: the user blocked (kicked) or unblocked the bot."""
    change = update.my_chat_member
    if change is None or change.chat.type != "private":
        return
    user_id = change.chat.id
    storage = context.runtime.storage
    status = change.new_chat_member.status
    if status == ChatMemberStatus.BANNED:  # "kicked": the user blocked the bot
        subscription = await storage.get_subscription(user_id)
        await storage.mark_blocked(user_id)
        if subscription is not None and subscription.active:
            context.runtime.counts.add(daily_counts.SUBSCRIPTION_ENDED, "blocked")
        log.info("event=user_blocked_bot user_id=%s", log_ref(user_id))
    elif status == ChatMemberStatus.MEMBER and (
        change.old_chat_member.status == ChatMemberStatus.BANNED
    ):
        await storage.mark_unblocked(user_id)  # still unsubscribed: consent is not renewed
        log.info("event=user_unblocked_bot user_id=%s", log_ref(user_id))
    else:
        return
    context.runtime.subscribers.set(user_id, False)


# -- internals -----------------------------------------------------------------------------


async def _subscribe(context: BotContext, user_id: int) -> Screen:
    storage = context.runtime.storage
    subscription = await storage.get_subscription(user_id)
    if subscription is None or not subscription.active:
        subscription = await storage.subscribe(user_id, locale=context.locale)
        context.runtime.counts.add(daily_counts.SUBSCRIPTION_STARTED)
        log.info("event=subscribed user_id=%s locale=%s", log_ref(user_id), context.locale)
    context.runtime.subscribers.set(user_id, True)
    context.subscribed = True
    return _news_screen(context, subscription.interests)


async def _unsubscribe(context: BotContext, user_id: int) -> bool:
    ended = await context.runtime.storage.unsubscribe(user_id)
    context.runtime.subscribers.set(user_id, False)
    context.subscribed = False
    if ended:
        context.runtime.counts.add(daily_counts.SUBSCRIPTION_ENDED, "unsubscribed")
        log.info("event=unsubscribed user_id=%s", log_ref(user_id))
    return ended


def _news_screen(context: BotContext, chosen: tuple[str, ...] | list[str]) -> Screen:
    interests = context.runtime.interests
    return news_screen(context.renderer, interests, context.locale, interests.known(chosen))


def _is_menu_message(message: object) -> bool:
    """A screen of the bot's menus (it has a Home button), as opposed to a broadcast."""
    if not isinstance(message, Message) or message.reply_markup is None:
        return False
    home = callbacks.encode(callbacks.Home())
    return any(
        button.callback_data == home
        for row in message.reply_markup.inline_keyboard
        for button in row
    )
