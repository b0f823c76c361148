"""Subscriptions to hospital news: consent with its time, how it ended, and interests.

Mixed into :class:`bot.storage.Storage`; one row per user who ever subscribed, and one row in
``subscription_interests`` per interest they picked. A subscription
is *active* while it was neither ended by the user (``unsubscribed_at``) nor by Telegram
telling us the user blocked the bot (``blocked_at``, which ends it too).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, bindparam, case, delete, exists, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.core.interests import ID_PATTERN, is_interest_id
from bot.core.times import utc
from bot.storage.tables import (
    LOCALE_MAX_LENGTH,
    UTCDateTime,
    subscription_interests,
    subscriptions,
)

_i = subscription_interests


@dataclass(frozen=True)
class Subscription:
    """One user's subscription; datetimes are timezone-aware UTC."""

    user_id: int
    locale: str
    interests: tuple[str, ...]
    subscribed_at: datetime  # the time of consent
    unsubscribed_at: datetime | None
    blocked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.unsubscribed_at is None and self.blocked_at is None


def checked_interests(interests: Sequence[str]) -> tuple[str, ...]:
    """The ids once each; raises ValueError for a bad id."""
    unique: list[str] = []
    for interest in interests:
        if not is_interest_id(interest):
            raise ValueError(f"{interest!r} is not an interest id ({ID_PATTERN})")
        if interest not in unique:
            unique.append(interest)
    return tuple(unique)


def _check_locale(locale: str) -> None:
    if not 0 < len(locale) <= LOCALE_MAX_LENGTH:
        raise ValueError(f"locale must be 1-{LOCALE_MAX_LENGTH} characters, got {locale!r}")


def _subscription(row: Any, interests: Sequence[str]) -> Subscription:
    return Subscription(
        user_id=int(row.user_id),
        locale=row.locale,
        interests=tuple(interests),
        subscribed_at=row.subscribed_at,
        unsubscribed_at=row.unsubscribed_at,
        blocked_at=row.blocked_at,
    )


async def _interests_of(conn: AsyncConnection, user_id: int) -> list[str]:
    """The subscriber's interest ids, in id order (screens put them in the file's order)."""
    stmt = select(_i.c.interest_id).where(_i.c.user_id == user_id).order_by(_i.c.interest_id)
    return [str(i) for i in await conn.scalars(stmt)]


async def _replace_interests(conn: AsyncConnection, user_id: int, picked: Sequence[str]) -> None:
    await conn.execute(delete(_i).where(_i.c.user_id == user_id))
    if picked:
        await conn.execute(insert(_i), [{"user_id": user_id, "interest_id": i} for i in picked])


class SubscriptionStore:
    """Subscription methods of :class:`bot.storage.Storage`."""

    _single: AsyncEngine
    _serial: AsyncEngine
    # postgresql.insert or sqlite.insert (both have on_conflict_do_update), set by Storage.
    _dialect_insert: Callable[[Table], Any]

    async def subscribe(
        self,
        user_id: int,
        *,
        locale: str,
        interests: Sequence[str] = (),
        now: datetime | None = None,
    ) -> Subscription:
        """Record consent (now) and make the subscription active again if it had ended.

        Subscribing while already subscribed keeps the original consent time, and keeps the
        interests unless new ones are given. Ending clears ``unsubscribed_at`` and ``blocked_at``.
        """
        _check_locale(locale)
        picked = checked_interests(interests)
        s = subscriptions
        # One statement (INSERT … ON CONFLICT DO UPDATE): two taps on /subscribe at once cannot
        # both insert. The SET expressions read the row as it was before this statement.
        stmt = self._dialect_insert(s).values(
            user_id=user_id,
            locale=locale,
            subscribed_at=utc(now),
            unsubscribed_at=None,
            blocked_at=None,
        )
        active = and_(s.c.unsubscribed_at.is_(None), s.c.blocked_at.is_(None))
        stmt = stmt.on_conflict_do_update(
            index_elements=[s.c.user_id],
            set_={
                "locale": stmt.excluded.locale,
                "subscribed_at": case(
                    (active, s.c.subscribed_at), else_=stmt.excluded.subscribed_at
                ),
                "unsubscribed_at": None,
                "blocked_at": None,
            },
        ).returning(*s.c)
        # A new consent starts without the interests of an ended subscription.
        ended = exists().where(s.c.user_id == user_id, ~active)
        async with self._serial.begin() as conn:
            if not picked:
                await conn.execute(delete(_i).where(_i.c.user_id == user_id, ended))
            stored = (await conn.execute(stmt)).one()
            if picked:
                await _replace_interests(conn, user_id, picked)
            return _subscription(stored, await _interests_of(conn, user_id))

    async def unsubscribe(self, user_id: int, *, now: datetime | None = None) -> bool:
        """End the subscription; True if it was active."""
        stmt = (
            update(subscriptions)
            .where(
                subscriptions.c.user_id == user_id,
                subscriptions.c.unsubscribed_at.is_(None),
                subscriptions.c.blocked_at.is_(None),
            )
            .values(unsubscribed_at=utc(now))
        )
        async with self._single.begin() as conn:
            result = await conn.execute(stmt)
        return bool(result.rowcount)

    async def set_interests(self, user_id: int, interests: Sequence[str]) -> None:
        """Replace the subscriber's interests (nothing happens for a user who never subscribed)."""
        picked = checked_interests(interests)
        found = select(subscriptions.c.user_id).where(subscriptions.c.user_id == user_id)
        async with self._serial.begin() as conn:
            # Locked, so an erasure cannot delete it between here and the insert.
            if (await conn.execute(found.with_for_update())).first() is not None:
                await _replace_interests(conn, user_id, picked)

    async def set_subscription_locale(self, user_id: int, locale: str) -> None:
        """The language future broadcasts reach this subscriber in."""
        _check_locale(locale)
        stmt = (
            update(subscriptions).where(subscriptions.c.user_id == user_id).values(locale=locale)
        )
        async with self._single.begin() as conn:
            await conn.execute(stmt)

    async def get_subscription(self, user_id: int) -> Subscription | None:
        # One statement (on every new user's first update): a row per interest, or one with
        # NULL when none was picked.
        s, picked = subscriptions, _i.c.interest_id
        stmt = (
            select(*s.c, picked)
            .select_from(s.outerjoin(_i, _i.c.user_id == s.c.user_id))
            .where(s.c.user_id == user_id)
            .order_by(picked)
        )
        async with self._single.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        if not rows:
            return None
        return _subscription(rows[0], [str(r.interest_id) for r in rows if r.interest_id])

    async def mark_blocked(self, user_id: int, *, now: datetime | None = None) -> None:
        """The user blocked the bot: the subscription ends (blocked and unsubscribed)."""
        when = bindparam("when", utc(now), type_=UTCDateTime())
        stmt = (
            update(subscriptions)
            .where(subscriptions.c.user_id == user_id)
            .values(
                blocked_at=func.coalesce(subscriptions.c.blocked_at, when),
                unsubscribed_at=func.coalesce(subscriptions.c.unsubscribed_at, when),
            )
        )
        async with self._single.begin() as conn:
            await conn.execute(stmt)

    async def mark_unblocked(self, user_id: int) -> None:
        """The user unblocked the bot. This does NOT subscribe them again."""
        stmt = (
            update(subscriptions).where(subscriptions.c.user_id == user_id).values(blocked_at=None)
        )
        async with self._single.begin() as conn:
            await conn.execute(stmt)

    async def count_active_subscriptions(self) -> int:
        stmt = (
            select(func.count())
            .select_from(subscriptions)
            .where(subscriptions.c.unsubscribed_at.is_(None), subscriptions.c.blocked_at.is_(None))
        )
        async with self._single.connect() as conn:
            return int((await conn.execute(stmt)).scalar_one())
