"""Statistics without text: daily counts written in batches, and totals counted on demand.

Mixed into :class:`bot.storage.Storage`. ``daily_counts`` holds ``(day, metric, key) -> count``
(see ``bot/core/daily_counts.py``): :meth:`StatsStore.add_daily_counts` adds a batch with one
upsert per row, in one transaction, so several replicas can each add theirs. The totals of
users and subscribers by language are counted from their tables when asked (``GROUP BY``): no
statistic reads a row that names a user.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.daily_counts import CountKey, utc_today
from bot.core.stats_report import CountRow, StatsReport, Totals, period
from bot.storage.tables import daily_counts, subscriptions, users

_d = daily_counts


class StatsStore:
    """Statistics methods of :class:`bot.storage.Storage`."""

    _single: AsyncEngine
    _serial: AsyncEngine
    _dialect_insert: Callable[[Table], Any]

    async def add_daily_counts(self, counts: Mapping[CountKey, int]) -> None:
        """Add ``counts`` to the stored ones (a row is created the first time)."""
        if not counts:
            return
        stmt = self._dialect_insert(_d).values(
            day=bindparam("d"), metric=bindparam("m"), key=bindparam("k"), count=bindparam("n")
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[_d.c.day, _d.c.metric, _d.c["key"]],
            set_={"count": _d.c["count"] + stmt.excluded["count"]},
        )
        # Sorted, so that two replicas writing at once take the rows' locks in the same order.
        params = [{"d": d, "m": m, "k": k, "n": n} for (d, m, k), n in sorted(counts.items())]
        async with self._serial.begin() as conn:
            await conn.execute(stmt, params)

    async def stats_report(self, days: int, *, today: date | None = None) -> StatsReport:
        """The counts of the ``days`` days that end ``today`` (UTC), and the totals now."""
        first, last = period(days, today or utc_today())
        rows = await self.daily_count_rows(first, last)
        return StatsReport(first, last, rows, await self.current_totals())

    async def daily_count_rows(self, first: date, last: date) -> list[CountRow]:
        """Every count from day ``first`` to day ``last``, both included."""
        stmt = (
            select(_d.c.day, _d.c.metric, _d.c["key"], _d.c["count"])
            .where(_d.c.day >= first, _d.c.day <= last)
            .order_by(_d.c.day, _d.c.metric, _d.c["key"])
        )
        async with self._single.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [CountRow(row[0], str(row[1]), str(row[2]), int(row[3])) for row in rows]

    async def current_totals(self) -> Totals:
        """Users by chosen language (None: never chose) and active subscribers by language."""
        s = subscriptions
        by_user = select(users.c.locale, func.count()).group_by(users.c.locale)
        by_subscriber = (
            select(s.c.locale, func.count())
            .where(s.c.unsubscribed_at.is_(None), s.c.blocked_at.is_(None))
            .group_by(s.c.locale)
        )
        async with self._single.connect() as conn:
            user_rows = (await conn.execute(by_user)).all()
            subscriber_rows = (await conn.execute(by_subscriber)).all()
        return Totals(
            users={(str(loc) if loc is not None else None): int(n) for loc, n in user_rows},
            subscribers={str(loc): int(n) for loc, n in subscriber_rows},
        )
