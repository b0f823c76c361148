"""Thin handlers for the news opt-in: /subscribe, interests, /unsubscribe, /stop, blocking.

Nobody receives a broadcast without having subscribed here. Subscribing records consent with
its time (``Storage.subscribe``); unsubscribing (a command, or one tap on the "Unsubscribe"
button under every broadcast, callback_data ``1:u``) ends it; blocking the bot marks the user
blocked, and unblocking does not subscribe them again.

With the database down (``telegram_side/database_health.py``) nothing can be recorded: every
change is answered with "could not be changed just now", and the user's state stays as it was.
"""

from __future__ import annotations

import contextlib
import logging

from telegram import Message, Update
from telegram.constants import ChatMemberStatus

from bot.core import callbacks, daily_counts
from bot.core.news import (
    ALREADY_UNSUBSCRIBED,
    NEWS_NOT_SAVED,
    NOT_SUBSCRIBED,
    SUBSCRIPTION_SAVED,
    UNSUBSCRIBED,
    UNSUBSCRIBED_SHORT,
    news_screen,
    toggled,
)
from bot.core.pseudonyms import log_ref
from bot.core.render import Screen
from bot.telegram_side.context import BotContext
from bot.telegram_side.database_health import DatabaseOutage
from bot.telegram_side.handlers.replies import answer, edit, home_with_note, send

log = logging.getLogger(__name__)


async def resolve_subscribed(update: Update, context: BotContext) -> None:
    """Whether the user is subscribed (the main menu's news button depends on it)."""
    user = update.effective_user
    if user is None:
        return
    # False when the database cannot say: the menu then offers to subscribe.
    context.subscribed = await context.runtime.subscribers.is_subscribed(user.id)


# -- commands ------------------------------------------------------------------------------


async def subscribe_command(update: Update, context: BotContext) -> None:
    user = update.effective_user
    if user is None:
        return
    try:
        screen = await _subscribe(context, user.id)
    except DatabaseOutage:
        screen = home_with_note(context, NEWS_NOT_SAVED)
    await send(update, screen)


async def unsubscribe_command(update: Update, context: BotContext) -> None:
    """/unsubscribe and /stop."""
    user = update.effective_user
    if user is None:
        return
    try:
        ended = await _unsubscribe(context, user.id)
    except DatabaseOutage:
        await send(update, home_with_note(context, NEWS_NOT_SAVED))
        return
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
        try:
            screen = await _news_action(context, user_id, action)
        except DatabaseOutage:
            screen = home_with_note(context, NEWS_NOT_SAVED)
        await edit(query, screen)
    finally:
        await answer(query)


async def _news_action(context: BotContext, user_id: int, action: object) -> Screen:
    """What a press on the news screen does; :class:`DatabaseOutage` when it cannot."""
    runtime = context.runtime
    if isinstance(action, callbacks.Subscribe):
        return await _subscribe(context, user_id)
    subscription = await runtime.database.call(
        lambda: runtime.storage.get_subscription(user_id), "get_subscription"
    )
    if subscription is None or not subscription.active:
        runtime.subscribers.set(user_id, False)
        context.subscribed = False
        return home_with_note(context, NOT_SUBSCRIBED)
    if isinstance(action, callbacks.ToggleInterest):
        chosen = toggled(subscription.interests, action.interest_id, runtime.interests)
        await runtime.database.call(
            lambda: runtime.storage.set_interests(user_id, chosen), "set_interests"
        )
        return _news_screen(context, chosen)
    return home_with_note(context, SUBSCRIPTION_SAVED)  # Done


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
    except DatabaseOutage:
        await answer(query, context.t(NEWS_NOT_SAVED))
        return
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
    runtime = context.runtime
    storage = runtime.storage
    status = change.new_chat_member.status
    # With the database down this is not recorded: a send to a user who blocked the bot is
    # refused by Telegram (403) and the delivery engine records it then.
    with contextlib.suppress(DatabaseOutage):
        if status == ChatMemberStatus.BANNED:  # "kicked": the user blocked the bot
            subscription = await runtime.database.call(
                lambda: storage.get_subscription(user_id), "get_subscription"
            )
            await runtime.database.call(lambda: storage.mark_blocked(user_id), "mark_blocked")
            if subscription is not None and subscription.active:
                runtime.counts.add(daily_counts.SUBSCRIPTION_ENDED, "blocked")
            log.info("event=user_blocked_bot user_id=%s", log_ref(user_id))
        elif status == ChatMemberStatus.MEMBER and (
            change.old_chat_member.status == ChatMemberStatus.BANNED
        ):
            # Still unsubscribed: consent is not renewed.
            await runtime.database.call(lambda: storage.mark_unblocked(user_id), "mark_unblocked")
            log.info("event=user_unblocked_bot user_id=%s", log_ref(user_id))
        else:
            return
    runtime.subscribers.set(user_id, False)


# -- internals -----------------------------------------------------------------------------


async def _subscribe(context: BotContext, user_id: int) -> Screen:
    """Subscribe (consent, recorded) unless subscribed; :class:`DatabaseOutage` if it cannot."""
    storage = context.runtime.storage
    call = context.runtime.database.call
    subscription = await call(lambda: storage.get_subscription(user_id), "get_subscription")
    if subscription is None or not subscription.active:
        subscription = await call(
            lambda: storage.subscribe(user_id, locale=context.locale), "subscribe"
        )
        context.runtime.counts.add(daily_counts.SUBSCRIPTION_STARTED)
        log.info("event=subscribed user_id=%s locale=%s", log_ref(user_id), context.locale)
    context.runtime.subscribers.set(user_id, True)
    context.subscribed = True
    return _news_screen(context, subscription.interests)


async def _unsubscribe(context: BotContext, user_id: int) -> bool:
    """End the subscription; :class:`DatabaseOutage` (nothing changed) if it cannot."""
    storage = context.runtime.storage
    ended = await context.runtime.database.call(
        lambda: storage.unsubscribe(user_id), "unsubscribe"
    )
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
