""" "Was this helpful?": each user's current answer per topic, changeable and erasable.

Mixed into :class:`bot.storage.Storage`. One row per user and topic (``topic_votes``): pressing
the other button changes it, pressing the same again keeps it. /mydata shows a user's rows and
erasure deletes them (``erasure.py``). The statistics never read these rows: the handler counts
each answer in ``daily_counts`` as it is given.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.times import utc
from bot.storage.tables import topic_votes

_v = topic_votes


class VoteOutcome(enum.Enum):
    NEW = "new"  # the user's first answer on this topic
    CHANGED = "changed"  # 👍 became 👎 or the reverse
    SAME = "same"  # the same answer again: nothing changed


@dataclass(frozen=True)
class VoteChange:
    """What a press did, and the answer it replaced (for the daily counts)."""

    outcome: VoteOutcome
    previous_at: datetime | None = None  # when the replaced (or repeated) answer was given


@dataclass(frozen=True)
class TopicVote:
    topic_id: str
    helpful: bool
    voted_at: datetime


class VoteStore:
    """Vote methods of :class:`bot.storage.Storage`."""

    _single: AsyncEngine
    _serial: AsyncEngine
    _dialect_insert: Callable[[Table], Any]

    async def record_vote(
        self, user_id: int, topic_id: str, *, helpful: bool, now: datetime | None = None
    ) -> VoteChange:
        """Store the user's answer on ``topic_id``; say whether it is new, changed or the same.

        Two presses at once cannot both count as new: the insert does nothing when the row
        exists, and the row is then read locked (``FOR UPDATE``; SQLite's write lock) before
        it is compared and changed.
        """
        when = utc(now)
        where = (_v.c.user_id == user_id, _v.c.topic_id == topic_id)
        insert = (
            self._dialect_insert(_v)
            .values(user_id=user_id, topic_id=topic_id, helpful=helpful, voted_at=when)
            .on_conflict_do_nothing(index_elements=[_v.c.user_id, _v.c.topic_id])
        )
        async with self._serial.begin() as conn:
            if (await conn.execute(insert)).rowcount:
                return VoteChange(VoteOutcome.NEW)
            row = (
                await conn.execute(
                    select(_v.c.helpful, _v.c.voted_at).where(*where).with_for_update()
                )
            ).one()
            if bool(row.helpful) == helpful:
                return VoteChange(VoteOutcome.SAME, row.voted_at)
            await conn.execute(update(_v).where(*where).values(helpful=helpful, voted_at=when))
        return VoteChange(VoteOutcome.CHANGED, row.voted_at)

    async def votes_of(self, user_id: int) -> list[TopicVote]:
        """The user's answers, oldest first (what /mydata shows)."""
        stmt = (
            select(_v.c.topic_id, _v.c.helpful, _v.c.voted_at)
            .where(_v.c.user_id == user_id)
            .order_by(_v.c.voted_at, _v.c.topic_id)
        )
        async with self._single.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [TopicVote(str(r.topic_id), bool(r.helpful), r.voted_at) for r in rows]
