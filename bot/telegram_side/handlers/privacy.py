"""What a patient controls about their data: /privacy, /mydata and /forget.

- /privacy sends the hospital's privacy notice in the patient's language (content data:
  ``content/<locale>/privacy.yaml``).
- /mydata shows every stored fact about them, read from the database as it is now.
- /forget asks first, with a button bound to that user (``pseudonyms.user_tag``) and to the
  minute it was offered; a press within :data:`FORGET_BUTTON_MINUTES` erases them
  (``Storage.erase_user``), an older or foreign one only says it is out of date. Pressing it
  again after the erasure erases nothing more and recreates nothing. The next /start is a new
  user.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from telegram import CallbackQuery, Update

from bot.broadcast.progress import format_time
from bot.core import callbacks, daily_counts
from bot.core.i18n import Translator, _, display_name
from bot.core.pseudonyms import log_ref, user_tag
from bot.core.render import Button, Screen, esc
from bot.storage import DATABASE_ERRORS, DeliveryCounts, Subscription, TopicVote, UserRecord
from bot.telegram_side.context import BotContext
from bot.telegram_side.handlers.replies import answer, edit, home_with_note, send

log = logging.getLogger(__name__)

#: How long /forget's confirmation button stays valid.
FORGET_BUTTON_MINUTES = 10
_TAG_PURPOSE = "forget"

NOTHING_ERASED = _("Nothing was erased. Here is the main menu.")
NO_NOTICE = _("The privacy notice is not available right now. Please ask your care team.")


def is_forget_button(data: object) -> bool:
    return isinstance(data, str) and isinstance(
        callbacks.decode(data), callbacks.ForgetConfirm | callbacks.ForgetCancel
    )


# -- /privacy ------------------------------------------------------------------------------


async def privacy_command(update: Update, context: BotContext) -> None:
    notice = context.runtime.privacy.get(context.locale)
    if notice is None:
        await send(update, home_with_note(context, NO_NOTICE))
        return
    home = context.renderer.home_button(context.locale)
    await send(update, Screen(notice.html(), ((home,),)))


# -- /mydata -------------------------------------------------------------------------------


async def mydata_command(update: Update, context: BotContext) -> None:
    user = update.effective_user
    if user is None:
        return
    storage = context.runtime.storage
    record = await storage.get_user(user.id)
    subscription = await storage.get_subscription(user.id)
    counts = await storage.delivery_counts(user.id)
    votes = await storage.votes_of(user.id)
    text = mydata_text(context, user.id, record, subscription, counts, votes=votes)
    await send(update, Screen(text, ((context.renderer.home_button(context.locale),),)))


def mydata_text(
    context: BotContext,
    user_id: int,
    record: UserRecord | None,
    subscription: Subscription | None,
    counts: DeliveryCounts,
    *,
    votes: Sequence[TopicVote] = (),
) -> str:
    """Everything stored about the user, one line per fact (Telegram HTML)."""
    t = context.t
    lines = [
        "<b>" + esc(t("What this bot stores about you")) + "</b>",
        esc(t("Your Telegram user number: {id}").format(id=user_id)),
    ]
    if record is not None and record.locale:
        language = t("{language} (you chose it)").format(language=display_name(record.locale))
    else:
        language = t("none chosen (the bot follows your Telegram language)")
    lines.append(esc(t("Language: {language}").format(language=language)))
    if record is not None:
        lines.append(esc(t("First used: {time}").format(time=format_time(record.first_seen))))
        lines.append(esc(t("Last used: {time}").format(time=format_time(record.last_seen))))
    lines.append(esc(_subscription_line(context, t, subscription)))
    lines.append(esc(t("News messages delivered to you: {count}").format(count=counts.received)))
    if counts.waiting:
        lines.append(
            esc(t("News messages waiting to be sent to you: {count}").format(count=counts.waiting))
        )
    lines += _vote_lines(context, t, votes)
    lines.append("")
    lines.append(
        esc(
            t(
                "Nothing else is stored: no names, no phone numbers, nothing you typed. "
                "/privacy explains why; /forget erases all of this."
            )
        )
    )
    return "\n".join(lines)


def _vote_lines(context: BotContext, t: Translator, votes: Sequence[TopicVote]) -> list[str]:
    """Each answer to "Was this helpful?": 👍 or 👎, the topic's title, when."""
    if not votes:
        return [esc(t("Your answers to “Was this helpful?”: none"))]
    tree = context.renderer.library.trees.get(context.locale)
    lines = [esc(t("Your answers to “Was this helpful?”:"))]
    for vote in votes:
        topic = tree.get(vote.topic_id) if tree else None
        title = topic.title if topic else vote.topic_id
        mark = "👍" if vote.helpful else "👎"
        lines.append(f"{mark} {esc(title)} ({format_time(vote.voted_at)})")
    return lines


def _subscription_line(
    context: BotContext, t: Translator, subscription: Subscription | None
) -> str:
    if subscription is None:
        return t("News: never subscribed")
    if subscription.active:
        interests = context.runtime.interests
        picked = interests.known(subscription.interests)
        topics = (
            ", ".join(interests.label(i, context.locale) for i in picked)
            if picked
            else t("all the news")
        )
        return t("News: subscribed since {time} (your consent); topics: {topics}").format(
            time=format_time(subscription.subscribed_at), topics=topics
        )
    if subscription.blocked_at is not None:
        return t("News: ended on {time} (you blocked the bot)").format(
            time=format_time(subscription.blocked_at)
        )
    ended = subscription.unsubscribed_at or subscription.subscribed_at
    return t("News: ended on {time} (you unsubscribed)").format(time=format_time(ended))


# -- /forget -------------------------------------------------------------------------------


async def forget_command(update: Update, context: BotContext) -> None:
    user = update.effective_user
    if user is None:
        return
    t = context.t
    confirm = callbacks.ForgetConfirm(user_tag(_TAG_PURPOSE, user.id), int(time.time() // 60))
    text = "\n\n".join(
        (
            "<b>" + esc(t("Erase everything this bot stores about you?")) + "</b>",
            esc(
                t(
                    "Your language, your news subscription and topics, your answers to “Was "
                    "this helpful?” and the record of news sent to you are erased. This cannot "
                    "be undone. Afterwards the bot treats you as a new user."
                )
            ),
        )
    )
    keyboard = (
        (
            Button("🗑 " + t("Yes, erase my data"), callbacks.encode(confirm)),
            Button("✖ " + t("No, keep it"), callbacks.encode(callbacks.ForgetCancel())),
        ),
    )
    await send(update, Screen(text, keyboard))


async def forget_button(update: Update, context: BotContext) -> None:
    query = update.callback_query
    if query is None:
        return
    action = callbacks.decode(query.data)
    t = context.t
    if isinstance(action, callbacks.ForgetCancel):
        await answer(query)
        await edit(query, home_with_note(context, NOTHING_ERASED))
        return
    if not isinstance(action, callbacks.ForgetConfirm) or not _valid(action, query):
        await answer(
            query, t("That button is out of date. Send /forget again to erase your data.")
        )
        return
    await _erase(query, context)


def _valid(action: callbacks.ForgetConfirm, query: CallbackQuery) -> bool:
    """Offered to this user, and not too long ago."""
    age = int(time.time() // 60) - action.minute
    return action.tag == user_tag(_TAG_PURPOSE, query.from_user.id) and (
        -1 <= age <= FORGET_BUTTON_MINUTES
    )


async def _erase(query: CallbackQuery, context: BotContext) -> None:
    runtime = context.runtime
    user_id = query.from_user.id
    t = context.t
    try:
        await runtime.users.forget(user_id)
        subscription = await runtime.storage.get_subscription(user_id)
        erased = await runtime.storage.erase_user(user_id)
    except DATABASE_ERRORS as exc:
        log.error("event=erase_failed user_id=%s error=%s", log_ref(user_id), type(exc).__name__)
        await answer(query, t("Your data could not be erased just now. Please try again later."))
        return
    if subscription is not None and subscription.active:
        runtime.counts.add(daily_counts.SUBSCRIPTION_ENDED, "erased")
    runtime.users.drop(user_id)
    runtime.subscribers.set(user_id, False)
    context.subscribed = False
    log.info(
        "event=user_erased user_id=%s users=%d subscriptions=%d recipients_skipped=%d "
        "recipients_anonymised=%d drafts=%d votes=%d",
        log_ref(user_id),
        erased.users,
        erased.subscriptions,
        erased.skipped,
        erased.anonymised,
        erased.drafts,
        erased.votes,
    )
    await answer(query, t("Erased."))
    done = esc(
        t(
            "Everything this bot stored about you has been erased. If you send /start, "
            "the bot starts afresh and treats you as a new user."
        )
    )
    await edit(query, Screen("✅ " + done, ()))
