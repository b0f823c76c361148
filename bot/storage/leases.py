"""Leases and replicas: how several processes on one database agree on who does what.

Mixed into :class:`bot.storage.Storage`.

A lease (``leases``: name, holder, epoch, expires_at) is held by one process at a time. The
holder renews it every few seconds; anyone may take it over once ``expires_at`` has passed, and
a takeover increments ``epoch``. The epoch fences an old holder that does not know it lost the
lease (a frozen process, a network partition): claims check the lease row under a share lock in
the same transaction (:func:`lease_fence`), and results and releases only change rows claimed
under the writer's own epoch (``broadcast_recipients.claim_epoch``). The holder's identity is
``host:pid:random`` (``bot/broadcast/lease.py``), so a restarted process with a recycled pid is
someone else.

Times are the caller's clock (UTC). Replicas' clocks differ by at most NTP's milliseconds; a
larger skew only makes a takeover come early, and the epoch keeps that safe.

A replica row (``replicas``) is each running process's heartbeat with the rate of messages its
interactive bot sent lately; the broadcast lease holder subtracts the others' rates from
Telegram's per-bot limit (:meth:`LeaseStore.others_interactive_rate`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Table,
    and_,
    bindparam,
    case,
    delete,
    false,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.core.times import utc
from bot.storage.tables import UTCDateTime, leases, replicas

_l = leases

#: A replica row older than this is a process that is gone (it beats every second or two).
REPLICA_STALE = timedelta(seconds=5)


@dataclass(frozen=True)
class LeaseRow:
    """A lease as stored (tests, ``broadcast show``)."""

    name: str
    holder: str
    epoch: int
    expires_at: datetime


async def lease_fence(conn: AsyncConnection, name: str, epoch: int) -> bool:
    """Inside a transaction: the lease ``name`` is still at ``epoch``, and stays so until the
    transaction ends (a share lock on its row: a takeover waits for the commit). SQLite has no
    row locks, and needs none: its write transactions are serial."""
    stmt = (
        select(_l.c.epoch).where(_l.c.name == name, _l.c.epoch == epoch).with_for_update(read=True)
    )
    return (await conn.execute(stmt)).first() is not None


class LeaseStore:
    """Lease and replica methods of :class:`bot.storage.Storage`."""

    _single: AsyncEngine
    _serial: AsyncEngine
    _dialect_insert: Callable[[Table], Any]

    async def acquire_lease(
        self,
        name: str,
        holder: str,
        ttl: float,
        *,
        now: datetime | None = None,
        force: bool = False,
    ) -> int | None:
        """Take or renew the lease ``name`` for ``ttl`` seconds: its epoch, or None when
        another holder's lease has not expired.

        Renewing keeps the epoch; taking over an expired (or released) lease increments it. One
        conditional statement each, so two processes trying at once cannot both succeed.
        ``force``: take it whoever holds it (SQLite, whose OS file lock proves that no other
        ``run`` is alive).
        """
        when = utc(now)
        until = when + timedelta(seconds=ttl)
        create = (
            self._dialect_insert(_l)
            .values(name=name, holder=holder, epoch=1, expires_at=until)
            .on_conflict_do_nothing(index_elements=[_l.c.name])
            .returning(_l.c.epoch)
        )
        at = bindparam("at", when, type_=UTCDateTime())
        take = (
            update(_l)
            .where(
                _l.c.name == name,
                or_(_l.c.holder == holder, _l.c.expires_at <= at, true() if force else false()),
            )
            .values(
                holder=holder,
                epoch=case((_l.c.holder == holder, _l.c.epoch), else_=_l.c.epoch + 1),
                expires_at=bindparam("until", until, type_=UTCDateTime()),
            )
            .returning(_l.c.epoch)
        )
        async with self._serial.begin() as conn:
            epoch = (await conn.execute(create)).scalar()
            if epoch is None:
                epoch = (await conn.execute(take)).scalar()
        return None if epoch is None else int(epoch)

    async def release_lease(
        self, name: str, holder: str, epoch: int, *, now: datetime | None = None
    ) -> bool:
        """Give the lease up at once (a clean stop): the next to try takes it over."""
        stmt = (
            update(_l)
            .where(_l.c.name == name, _l.c.holder == holder, _l.c.epoch == epoch)
            .values(expires_at=utc(now))
        )
        async with self._single.begin() as conn:
            result = await conn.execute(stmt)
        return bool(result.rowcount)

    async def lease(self, name: str) -> LeaseRow | None:
        async with self._single.connect() as conn:
            row = (await conn.execute(select(*_l.c).where(_l.c.name == name))).first()
        if row is None:
            return None
        return LeaseRow(str(row.name), str(row.holder), int(row.epoch), row.expires_at)

    # -- replicas ---------------------------------------------------------------------------------

    async def replica_beat(
        self, replica_id: str, interactive_rate: float, *, now: datetime | None = None
    ) -> None:
        """This process is alive and its interactive bot sent ``interactive_rate`` messages a
        second lately."""
        stmt = self._dialect_insert(replicas).values(
            replica_id=replica_id, interactive_rate=interactive_rate, seen_at=utc(now)
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[replicas.c.replica_id],
            set_={
                "interactive_rate": stmt.excluded.interactive_rate,
                "seen_at": stmt.excluded.seen_at,
            },
        )
        async with self._single.begin() as conn:
            await conn.execute(stmt)

    async def others_interactive_rate(
        self, replica_id: str, *, now: datetime | None = None
    ) -> float:
        """The summed recent interactive send rate of every other live replica."""
        since = utc(now) - REPLICA_STALE
        stmt = select(func.coalesce(func.sum(replicas.c.interactive_rate), 0.0)).where(
            and_(replicas.c.replica_id != replica_id, replicas.c.seen_at >= since)
        )
        async with self._single.connect() as conn:
            return float((await conn.execute(stmt)).scalar() or 0.0)

    async def forget_replica(
        self, replica_id: str | None, *, older_than: datetime | None = None
    ) -> None:
        """Delete ``replica_id``'s row (a clean stop), or the rows of replicas not seen since
        ``older_than``."""
        gone = [] if replica_id is None else [replicas.c.replica_id == replica_id]
        if older_than is not None:
            gone.append(replicas.c.seen_at < utc(older_than))
        if gone:
            async with self._single.begin() as conn:
                await conn.execute(delete(replicas).where(or_(*gone)))
