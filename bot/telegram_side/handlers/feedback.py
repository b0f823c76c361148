""" "Was this helpful? 👍 👎" under a topic: one answer per user and topic, changeable.

The answer is stored per user (``Storage.record_vote``), so that pressing the other button
changes it, /mydata shows it and /forget erases it. The statistics only count: each answer
given adds one to that day's 👍 or 👎 of the topic (``runtime.counts``); a changed answer moves
the count when the first one was given the same day (a mistaken tap), and counts for its new
side otherwise. Pressing the same button again changes nothing. The press is answered with a
short pop-up; the screen stays as it is.
"""

from __future__ import annotations

import logging

from telegram import Update

from bot.core import callbacks, daily_counts
from bot.core.i18n import _
from bot.core.pseudonyms import log_ref
from bot.storage import DATABASE_ERRORS, VoteChange, VoteOutcome
from bot.telegram_side.context import BotContext
from bot.telegram_side.handlers.replies import answer

log = logging.getLogger(__name__)

THANKS = _("Thank you for your answer!")
CHANGED = _("Thank you: your answer is changed.")
SAME = _("Thank you: your answer is kept.")
NOT_SAVED = _("Your answer could not be saved just now. Please try again later.")
OUT_OF_DATE = _("That button is out of date.")

_SAYS = {VoteOutcome.NEW: THANKS, VoteOutcome.CHANGED: CHANGED, VoteOutcome.SAME: SAME}


def is_vote_button(data: object) -> bool:
    return isinstance(data, str) and isinstance(callbacks.decode(data), callbacks.Vote)


async def vote_button(update: Update, context: BotContext) -> None:
    query = update.callback_query
    if query is None:
        return
    action = callbacks.decode(query.data)
    tree = context.renderer.library.trees.get(context.locale)
    if (
        not isinstance(action, callbacks.Vote)
        or tree is None
        or not tree.is_served(action.topic_id)
    ):
        await answer(query, context.t(OUT_OF_DATE))  # a topic this content no longer has
        return
    user_id = query.from_user.id
    try:
        change = await context.runtime.storage.record_vote(
            user_id, action.topic_id, helpful=action.helpful
        )
    except DATABASE_ERRORS as exc:
        log.error("event=vote_failed user_id=%s error=%s", log_ref(user_id), type(exc).__name__)
        await answer(query, context.t(NOT_SAVED))
        return
    count_answer(context.runtime.counts, action, change)
    await answer(query, context.t(_SAYS[change.outcome]))


def count_answer(
    counts: daily_counts.DailyCounts, vote: callbacks.Vote, change: VoteChange
) -> None:
    """Today's 👍/👎 of the topic, after a press (see the module docstring)."""
    if change.outcome is VoteOutcome.SAME:
        return
    sides = (daily_counts.NOT_HELPFUL, daily_counts.HELPFUL)
    counts.add(sides[vote.helpful], vote.topic_id)
    earlier = change.previous_at
    # Both days are UTC days: the answer it replaces was counted today, so it is taken back.
    if change.outcome is VoteOutcome.CHANGED and earlier and earlier.date() == counts.today():
        counts.add(sides[not vote.helpful], vote.topic_id, -1)
