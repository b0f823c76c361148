"""Thin handlers for the news opt-in: /subscribe, interests, /unsubscribe, /stop, blocking.

Nobody receives a broadcast without having subscribed here. Subscribing records consent with
its time (``Storage.subscribe``); unsubscribing (a command, or one tap on the "Unsubscribe"
button under every broadcast, callback_data ``1:u``) ends it; blocking the bot marks the user
blocked, and unblocking does not subscribe them again.
"""

from __future__ import annotations

import logging
import time

from telegram import CallbackQuery, Message, Update
from telegram.constants import ChatMemberStatus
from telegram.error import TelegramError

from bot import callbacks
from bot.context import BotContext
from bot.handlers.menu import _describe, _edit, _send, _with_note
from bot.news import (
    ALREADY_UNSUBSCRIBED,
    NOT_SUBSCRIBED,
    SUBSCRIPTION_SAVED,
    UNSUBSCRIBED,
    UNSUBSCRIBED_SHORT,
    news_screen,
    toggled,
)
from bot.render import Screen
from bot.storage import Storage

log = logging.getLogger(__name__)

_CACHE_KEY = "news_subscribers"


class SubscriberCache:
    """Whether each user is subscribed, so the main menu's news button costs no query.

    Read from storage on a user's first update in this process, then kept up to date by the
    handlers below (every change of a subscription made by the chat goes through them). The
    delivery engine may mark a recipient blocked; such a user sees no menu until they unblock
    the bot, and the unblock handler resets the entry. Entries expire after ``ttl`` seconds, so
    a change made by another process (the CLI) shows within that time.
    """

    def __init__(self, storage: Storage, *, ttl: float = 600.0) -> None:
        self.storage = storage
        self.ttl = ttl
        self._active: dict[int, tuple[bool, float]] = {}

    async def is_subscribed(self, user_id: int) -> bool:
        now = time.monotonic()
        entry = self._active.get(user_id)
        if entry is not None and now - entry[1] < self.ttl:
            return entry[0]
        subscription = await self.storage.get_subscription(user_id)
        active = subscription is not None and subscription.active
        self._active[user_id] = (active, now)
        return active

    def set(self, user_id: int, active: bool) -> None:
        self._active[user_id] = (active, time.monotonic())


def subscribers(context: BotContext) -> SubscriberCache:
    cache = context.application.bot_data.get(_CACHE_KEY)
    if cache is None:
        cache = SubscriberCache(context.runtime.storage)
        context.application.bot_data[_CACHE_KEY] = cache
    assert isinstance(cache, SubscriberCache)
    return cache


async def resolve_subscribed(update: Update, context: BotContext) -> None:
    """Whether the user is subscribed (the main menu's news button depends on it)."""
    user = update.effective_user
    if user is None or update.my_chat_member is not None:
        return
    try:
        context.subscribed = await subscribers(context).is_subscribed(user.id)
    except Exception as exc:  # the database is down: still serve the menu
        log.error("event=storage_unavailable where=subscription error=%s", type(exc).__name__)


# -- commands ------------------------------------------------------------------------------


async def subscribe_command(update: Update, context: BotContext) -> None:
    user = update.effective_user
    if user is None:
        return
    await _send(update, await _subscribe(context, user.id))


async def unsubscribe_command(update: Update, context: BotContext) -> None:
    """/unsubscribe and /stop."""
    user = update.effective_user
    if user is None:
        return
    ended = await _unsubscribe(context, user.id)
    await _send(update, _with_note(context, UNSUBSCRIBED if ended else NOT_SUBSCRIBED))


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
                subscribers(context).set(user_id, False)
                context.subscribed = False
                screen = _with_note(context, NOT_SUBSCRIBED)
            elif isinstance(action, callbacks.ToggleInterest):
                interests = context.runtime.interests
                chosen = toggled(subscription.interests, action.interest_id, interests)
                await context.runtime.storage.set_interests(user_id, chosen)
                screen = _news_screen(context, chosen)
            else:  # Done
                screen = _with_note(context, SUBSCRIPTION_SAVED)
        await _edit(query, screen)
    finally:
        await _answer(query, context)


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
    except Exception:
        await _answer(query, context)
        raise
    await _answer(query, context, UNSUBSCRIBED_SHORT if ended else ALREADY_UNSUBSCRIBED)
    if not ended:
        return
    screen = _with_note(context, UNSUBSCRIBED)
    if _is_menu_message(query.message):
        await _edit(query, screen)
    else:  # a broadcast: it stays as it was; the confirmation comes as a new message
        await _send(update, screen)


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
        await storage.mark_blocked(user_id)
        log.info("event=user_blocked_bot user_id=%s", user_id)
    elif status == ChatMemberStatus.MEMBER and (
        change.old_chat_member.status == ChatMemberStatus.BANNED
    ):
        await storage.mark_unblocked(user_id)  # still unsubscribed: consent is not renewed
        log.info("event=user_unblocked_bot user_id=%s", user_id)
    else:
        return
    subscribers(context).set(user_id, False)


# -- internals -----------------------------------------------------------------------------


async def _subscribe(context: BotContext, user_id: int) -> Screen:
    storage = context.runtime.storage
    subscription = await storage.get_subscription(user_id)
    if subscription is None or not subscription.active:
        subscription = await storage.subscribe(user_id, locale=context.lang)
        log.info("event=subscribed user_id=%s locale=%s", user_id, context.lang)
    subscribers(context).set(user_id, True)
    context.subscribed = True
    return _news_screen(context, subscription.interests)


async def _unsubscribe(context: BotContext, user_id: int) -> bool:
    ended = await context.runtime.storage.unsubscribe(user_id)
    subscribers(context).set(user_id, False)
    context.subscribed = False
    if ended:
        log.info("event=unsubscribed user_id=%s", user_id)
    return ended


def _news_screen(context: BotContext, chosen: tuple[str, ...] | list[str]) -> Screen:
    interests = context.runtime.interests
    return news_screen(context.renderer, interests, context.lang, interests.known(chosen))


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


async def _answer(query: CallbackQuery, context: BotContext, note: str | None = None) -> None:
    try:
        await query.answer(context.t(note) if note else None)
    except TelegramError as exc:  # too old, or already answered: nothing left to do
        log.info("event=answer_failed error=%s", _describe(exc))
