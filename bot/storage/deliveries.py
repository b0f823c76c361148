"""The delivery side of broadcasts: what the engine claims, records and recovers.

Mixed into :class:`bot.storage.Storage` (see ``broadcasts.py`` for the states). Recipients are
claimed as ``sending`` before their request leaves, results are written back in batches, and
rows left ``sending`` by a crash go back to ``pending`` as ``in_doubt``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import bindparam, func, or_, select, update

from bot.core.times import as_utc, utc
from bot.storage.broadcasts import (
    REASON_MAX_LENGTH,
    BroadcastStatus,
    BroadcastStore,
    BroadcastSummary,
    Outcome,
    Recipient,
)
from bot.storage.tables import UTCDateTime, broadcast_recipients, broadcasts, subscriptions

_r = broadcast_recipients
_b = broadcasts


class DeliveryStore(BroadcastStore):
    """Delivery methods of :class:`bot.storage.Storage`, used by the engine."""

    async def recover_in_flight(self) -> dict[int, int]:
        """At start: recipients left ``sending`` by a crash go back to ``pending``.

        Their request may have reached Telegram, so each is counted in the broadcast's
        ``in_doubt``. Returns {broadcast_id: count}. Only one engine may run per database.
        """
        async with self._serial.begin() as conn:
            result = await conn.execute(
                select(_r.c.broadcast_id, func.count())
                .where(_r.c.state == "sending")
                .group_by(_r.c.broadcast_id)
            )
            found = {int(bid): int(count) for bid, count in result}
            for broadcast_id, count in found.items():
                await conn.execute(
                    update(_r)
                    .where(_r.c.broadcast_id == broadcast_id, _r.c.state == "sending")
                    .values(state="pending")
                )
                await conn.execute(
                    update(_b)
                    .where(_b.c.id == broadcast_id)
                    .values(in_doubt=_b.c.in_doubt + count)
                )
        return found

    async def due_broadcast(self, now: datetime | None = None) -> BroadcastSummary | None:
        """The next broadcast to deliver: scheduled or sending, ``send_at`` reached."""
        stmt = (
            select(_b.c.id)
            .where(_b.c.status.in_(("scheduled", "sending")), _b.c.send_at <= utc(now))
            .order_by(_b.c.send_at, _b.c.id)
            .limit(1)
        )
        async with self._single.connect() as conn:
            found = (await conn.execute(stmt)).scalar()
        return None if found is None else await self.broadcast_summary(int(found))

    async def broadcast_status(self, broadcast_id: int) -> BroadcastStatus | None:
        async with self._single.connect() as conn:
            status = (
                await conn.execute(select(_b.c.status).where(_b.c.id == broadcast_id))
            ).scalar()
        return None if status is None else status

    async def start_broadcast(self, broadcast_id: int, *, now: datetime | None = None) -> bool:
        """scheduled -> sending (keeps the first start time on a resume); False if cancelled."""
        when = bindparam("when", utc(now), type_=UTCDateTime())
        stmt = (
            update(_b)
            .where(_b.c.id == broadcast_id, _b.c.status.in_(("scheduled", "sending")))
            .values(status="sending", started_at=func.coalesce(_b.c.started_at, when))
        )
        async with self._single.begin() as conn:
            result = await conn.execute(stmt)
        return bool(result.rowcount)

    async def finish_broadcast(self, broadcast_id: int, *, now: datetime | None = None) -> bool:
        """sending -> done; False if it was cancelled meanwhile."""
        stmt = (
            update(_b)
            .where(_b.c.id == broadcast_id, _b.c.status == "sending")
            .values(status="done", finished_at=utc(now))
        )
        async with self._single.begin() as conn:
            result = await conn.execute(stmt)
        return bool(result.rowcount)

    async def claim_recipients(
        self, broadcast_id: int, limit: int, *, now: datetime | None = None
    ) -> list[Recipient]:
        """Up to ``limit`` due pending recipients, marked ``sending`` before they are returned."""
        if limit <= 0:
            return []
        when = utc(now)
        async with self._serial.begin() as conn:
            rows = (
                await conn.execute(
                    select(_r.c.user_id, _r.c.locale, _r.c.attempts)
                    .where(
                        _r.c.broadcast_id == broadcast_id,
                        _r.c.state == "pending",
                        or_(_r.c.retry_at.is_(None), _r.c.retry_at <= when),
                    )
                    .order_by(_r.c.user_id)
                    .limit(limit)
                )
            ).all()
            if rows:
                await conn.execute(
                    update(_r)
                    .where(
                        _r.c.broadcast_id == broadcast_id,
                        _r.c.user_id.in_([row.user_id for row in rows]),
                    )
                    .values(state="sending", updated_at=when)
                )
        return [Recipient(int(r.user_id), str(r.locale), int(r.attempts)) for r in rows]

    async def release_recipients(self, broadcast_id: int, user_ids: Iterable[int]) -> None:
        """Claimed recipients whose request never left go back to ``pending``."""
        ids = list(user_ids)
        if not ids:
            return
        stmt = (
            update(_r)
            .where(
                _r.c.broadcast_id == broadcast_id,
                _r.c.user_id.in_(ids),
                _r.c.state == "sending",
            )
            .values(state="pending")
        )
        async with self._single.begin() as conn:
            await conn.execute(stmt)

    async def record_outcomes(
        self, broadcast_id: int, outcomes: Sequence[Outcome], *, now: datetime | None = None
    ) -> None:
        """Store a batch of results in one transaction; blocked users' subscriptions end."""
        if not outcomes:
            return
        when = utc(now)
        stmt = (
            update(_r)
            .where(_r.c.broadcast_id == broadcast_id, _r.c.user_id == bindparam("u"))
            .values(
                state=bindparam("s"),
                attempts=bindparam("a"),
                message_id=bindparam("m"),
                reason=bindparam("r"),
                retry_at=bindparam("t", type_=UTCDateTime()),
                updated_at=bindparam("w", type_=UTCDateTime()),
            )
        )
        params = [
            {
                "u": o.user_id,
                "s": o.state,
                "a": o.attempts,
                "m": o.message_id,
                "r": None if o.reason is None else o.reason[:REASON_MAX_LENGTH],
                "t": o.retry_at,
                "w": when,
            }
            for o in outcomes
        ]
        blocked = [{"u": o.user_id} for o in outcomes if o.state == "blocked"]
        async with self._serial.begin() as conn:
            await conn.execute(stmt, params)
            if blocked:
                at = bindparam("when", when, type_=UTCDateTime())
                await conn.execute(
                    update(subscriptions)
                    .where(subscriptions.c.user_id == bindparam("u"))
                    .values(
                        blocked_at=func.coalesce(subscriptions.c.blocked_at, at),
                        unsubscribed_at=func.coalesce(subscriptions.c.unsubscribed_at, at),
                    ),
                    blocked,
                )

    async def next_retry_at(self, broadcast_id: int) -> datetime | None:
        """When the earliest pending recipient becomes due (None: nobody is pending)."""
        async with self._single.connect() as conn:
            row = (
                await conn.execute(
                    select(func.count(), func.min(_r.c.retry_at)).where(
                        _r.c.broadcast_id == broadcast_id, _r.c.state == "pending"
                    )
                )
            ).one()
        count, earliest = row
        if not count:
            return None
        if earliest is None:
            return utc()
        return as_utc(earliest)

    async def recipient_states(self, broadcast_id: int) -> dict[int, tuple[str, int | None]]:
        """{user_id: (state, message_id)} for every recipient (tests and ``show``)."""
        async with self._single.connect() as conn:
            result = await conn.execute(
                select(_r.c.user_id, _r.c.state, _r.c.message_id).where(
                    _r.c.broadcast_id == broadcast_id
                )
            )
            return {int(u): (str(s), None if m is None else int(m)) for u, s, m in result}
