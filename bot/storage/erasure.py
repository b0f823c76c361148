"""What the bot stores about one user: shown to them (/mydata) and erased (/forget, retention).

Mixed into :class:`bot.storage.Storage`. Erasing a user removes, in one transaction:

- their user row (language, first and last seen) and their subscription (consent time,
  interests, how it ended);
- their broadcast recipient rows' link to them: a row still ``pending`` or ``sending`` ends
  ``skipped`` with the reason "erased" (never sent), and every row of theirs gets a random
  negative number instead of their user id and loses its message id, so a broadcast's counts
  stay right while nothing in them points at the person;
- their open broadcast drafts, if they are staff;
- their answers to "Was this helpful?" (``topic_votes``). The daily statistics keep their
  counts: those never said who.

Broadcasts an admin queued keep ``created_by`` (staff acting for the hospital). The retention
rule (:meth:`ErasureStore.purge_inactive`) erases every user who is neither subscribed nor
seen within the retention period, the same way.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, and_, bindparam, delete, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import CompoundSelect

from bot.core.times import utc
from bot.storage.recipient_counts import Move, moves_of, shift_counts
from bot.storage.tables import (
    broadcast_drafts,
    broadcast_recipients,
    quiet_chats,
    subscription_interests,
    subscriptions,
    topic_votes,
    users,
)

_r = broadcast_recipients
_s = subscriptions
_u = users

#: The reason a recipient row ends ``skipped`` when its user erased their data.
ERASED = "erased"
# Users erased per transaction by the retention job.
_BATCH = 500


@dataclass(frozen=True)
class Erased:
    """How many rows an erasure removed or changed."""

    people: int = 0  # users of whom anything was erased
    users: int = 0  # user rows (people with a subscription may have none)
    subscriptions: int = 0
    skipped: int = 0  # recipient rows that will now never be sent
    anonymised: int = 0  # recipient rows that no longer carry the user id
    drafts: int = 0
    votes: int = 0  # answers to "Was this helpful?"

    def __add__(self, other: Erased) -> Erased:
        return Erased(
            self.people + other.people,
            self.users + other.users,
            self.subscriptions + other.subscriptions,
            self.skipped + other.skipped,
            self.anonymised + other.anonymised,
            self.drafts + other.drafts,
            self.votes + other.votes,
        )


@dataclass(frozen=True)
class DeliveryCounts:
    """A user's broadcast recipient rows (what /mydata shows)."""

    received: int  # sent to them
    waiting: int  # queued for them, not sent yet


def anonymous_id() -> int:
    """A recipient row's stand-in for a user id: negative (no Telegram user has one), random."""
    return -(secrets.randbits(62) + 1)


class ErasureStore:
    """Erasure methods of :class:`bot.storage.Storage`."""

    _single: AsyncEngine
    _serial: AsyncEngine
    _dialect_insert: Callable[[Table], Any]

    async def delivery_counts(self, user_id: int) -> DeliveryCounts:
        stmt = select(_r.c.state, func.count()).where(_r.c.user_id == user_id).group_by(_r.c.state)
        async with self._single.connect() as conn:
            counts = {str(state): int(n) for state, n in await conn.execute(stmt)}
        return DeliveryCounts(
            received=counts.get("sent", 0),
            waiting=counts.get("pending", 0) + counts.get("sending", 0),
        )

    async def erase_user(self, user_id: int, *, now: datetime | None = None) -> Erased:
        """Erase everything stored about ``user_id`` (see the module docstring)."""
        return await self.erase_users([user_id], now=now)

    async def erase_users(self, user_ids: Sequence[int], *, now: datetime | None = None) -> Erased:
        """Erase each of ``user_ids``, all in one transaction."""
        ids = sorted(set(user_ids))
        if not ids:
            return Erased()
        async with self._serial.begin() as conn:
            return await _erase(conn, ids, utc(now))

    async def purge_inactive(self, retention_days: int, *, now: datetime | None = None) -> Erased:
        """Erase every user neither subscribed nor seen within ``retention_days``.

        Group chats told about private chats longer ago than that are forgotten too, and
        answers to "Was this helpful?" left without their user (a press that raced an
        erasure). (Expired broadcast drafts go with ``purge_expired_drafts``.)
        """
        cutoff = utc(now) - timedelta(days=retention_days)
        total = Erased()
        while True:
            async with self._single.connect() as conn:
                ids = [int(u) for u in await conn.scalars(_inactive_users(cutoff).limit(_BATCH))]
            if not ids:
                break
            total += await self.erase_users(ids, now=now)
        orphans = ~exists().where(_u.c.user_id == topic_votes.c.user_id)
        async with self._single.begin() as conn:
            await conn.execute(delete(quiet_chats).where(quiet_chats.c.noted_at < cutoff))
        async with self._single.begin() as conn:
            await conn.execute(delete(topic_votes).where(orphans))
        return total

    async def note_quiet_chat(self, chat_id: int, *, now: datetime | None = None) -> bool:
        """Remember a group chat told about private chats; True the first time only."""
        stmt = (
            self._dialect_insert(quiet_chats)
            .values(chat_id=chat_id, noted_at=utc(now))
            .on_conflict_do_nothing(index_elements=[quiet_chats.c.chat_id])
        )
        async with self._single.begin() as conn:
            return bool((await conn.execute(stmt)).rowcount)


def _inactive_users(cutoff: datetime) -> CompoundSelect[Any]:
    """The ids of users to erase: not seen since ``cutoff`` and without an active
    subscription; and ended subscriptions whose user has no row seen since then."""
    active = and_(_s.c.unsubscribed_at.is_(None), _s.c.blocked_at.is_(None))
    unseen = select(_u.c.user_id).where(
        _u.c.last_seen < cutoff,
        ~exists().where(_s.c.user_id == _u.c.user_id, active),
    )
    ended = select(_s.c.user_id).where(
        ~active,
        ~exists().where(_u.c.user_id == _s.c.user_id, _u.c.last_seen >= cutoff),
    )
    return unseen.union(ended)


async def _erase(conn: AsyncConnection, ids: list[int], when: datetime) -> Erased:
    user_ids = (
        await conn.scalars(delete(_u).where(_u.c.user_id.in_(ids)).returning(_u.c.user_id))
    ).all()
    await conn.execute(
        delete(subscription_interests).where(subscription_interests.c.user_id.in_(ids))
    )
    subscription_ids = (
        await conn.scalars(delete(_s).where(_s.c.user_id.in_(ids)).returning(_s.c.user_id))
    ).all()
    skipped = await _skip_unsent(conn, ids, when)
    rows = (
        await conn.execute(select(_r.c.broadcast_id, _r.c.user_id).where(_r.c.user_id.in_(ids)))
    ).all()
    await _anonymise(conn, ((int(b), int(u)) for b, u in rows))
    drafts = (
        await conn.scalars(
            delete(broadcast_drafts)
            .where(broadcast_drafts.c.admin_id.in_(ids))
            .returning(broadcast_drafts.c.admin_id)
        )
    ).all()
    votes = (
        await conn.scalars(
            delete(topic_votes)
            .where(topic_votes.c.user_id.in_(ids))
            .returning(topic_votes.c.user_id)
        )
    ).all()
    people = {int(u) for u in (*user_ids, *subscription_ids, *drafts, *votes)}
    people.update(int(u) for _b, u in rows)
    return Erased(
        people=len(people),
        users=len(user_ids),
        subscriptions=len(subscription_ids),
        skipped=skipped,
        anonymised=len(rows),
        drafts=len(drafts),
        votes=len(votes),
    )


async def _skip_unsent(conn: AsyncConnection, ids: list[int], when: datetime) -> int:
    """Their ``pending`` and ``sending`` rows become ``skipped`` ("erased"), counted as they
    move (one statement per state before, so the counts know where each row came from)."""
    moves: Counter[Move] = Counter()
    for before in ("pending", "sending"):
        found = await conn.scalars(
            update(_r)
            .where(_r.c.user_id.in_(ids), _r.c.state == before)
            .values(state="skipped", reason=ERASED, retry_at=None, updated_at=when)
            .returning(_r.c.broadcast_id)
        )
        moves += moves_of(found, before, "skipped")
    await shift_counts(conn, moves)
    return sum(moves.values())


async def _anonymise(conn: AsyncConnection, rows: Iterable[tuple[int, int]]) -> None:
    params = [{"b": b, "u": u, "anon": anonymous_id()} for b, u in rows]
    if not params:
        return
    await conn.execute(
        update(_r)
        .where(_r.c.broadcast_id == bindparam("b"), _r.c.user_id == bindparam("u"))
        .values(user_id=bindparam("anon"), message_id=None),
        params,
    )
