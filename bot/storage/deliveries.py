"""The delivery side of broadcasts: what the engine claims, records and recovers.

Mixed into :class:`bot.storage.Storage` (see ``broadcasts.py`` for the states). Recipients are
claimed as ``sending`` before their request leaves, and consent is checked in the claiming
statement itself: a recipient whose subscription ended (or is gone) since queueing becomes
``skipped`` instead, and a claimed one takes the subscription's current language. Results are
written back in batches, and rows left ``sending`` by a crash go back to ``pending``, counted
as resent after a crash.

Every statement here is safe to repeat after an error whose outcome is unknown (a connection
lost during COMMIT): results are only written to rows still ``sending``, and a broadcast is
``done`` only when the finishing statement itself finds nothing ``pending`` or ``sending``.

Several processes on one database: only the holder of the ``broadcast`` lease delivers
(``leases.py``). Methods that take ``epoch`` are fenced by it: a claim happens only while the
lease is still at that epoch (checked under a share lock in the same transaction), each claimed
row records the epoch (``claim_epoch``), and results and releases change only rows claimed
under the caller's epoch, so a holder that lost the lease without knowing cannot overwrite what
its successor does. ``epoch=None`` (tests, tools) skips the fence. On PostgreSQL the claim also
locks the rows it picks with ``FOR UPDATE SKIP LOCKED``, so concurrent claims never pick the
same row.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, bindparam, exists, func, or_, select, update

from bot.core.times import as_utc, utc
from bot.storage.broadcasts import (
    BroadcastStatus,
    BroadcastStore,
    BroadcastSummary,
    Outcome,
    Recipient,
    SkipReason,
)
from bot.storage.delivery_statements import (
    claimed_under,
    consents,
    first_due,
    outcome_params,
    outcome_statement,
    skip_reason,
)
from bot.storage.leases import lease_fence
from bot.storage.recipient_counts import moves_of, shift, shift_counts
from bot.storage.tables import UTCDateTime, broadcast_recipients, broadcasts, subscriptions

#: The lease whose holder delivers broadcasts.
BROADCAST_LEASE = "broadcast"

_r = broadcast_recipients
_b = broadcasts
_s = subscriptions


@dataclass(frozen=True)
class Claim:
    """What one claim did: the recipients now ``sending``, and how many became ``skipped``;
    ``fenced``: nothing was done, the lease is no longer at the claimer's epoch."""

    recipients: list[Recipient]
    skipped: int
    fenced: bool = False


class DeliveryStore(BroadcastStore):
    """Delivery methods of :class:`bot.storage.Storage`, used by the engine."""

    async def recover_in_flight(self, epoch: int | None = None) -> dict[int, int]:
        """On taking the lease: recipients left ``sending`` by a holder that is gone (claimed
        under an older epoch, or before the lease existed) go back to ``pending``.

        Their request may have reached Telegram, so each is counted in the broadcast's
        ``in_doubt``. Returns {broadcast_id: count}. ``epoch``: the caller's lease epoch (rows
        of that epoch are its own; nothing is done unless the lease is still at it); None:
        every ``sending`` row (a single process).
        """
        gone = [_r.c.state == "sending"]
        if epoch is not None:
            gone.append(or_(_r.c.claim_epoch.is_(None), _r.c.claim_epoch < epoch))
        async with self._serial.begin() as conn:
            if epoch is not None and not await lease_fence(conn, BROADCAST_LEASE, epoch):
                return {}
            # Only broadcasts whose counts say something is in flight: the index on
            # (broadcast_id, state) then serves, instead of a scan of every recipient ever.
            in_flight = select(_b.c.id).where(_b.c.recipients_sending > 0)
            result = await conn.execute(
                select(_r.c.broadcast_id, func.count())
                .where(_r.c.broadcast_id.in_(in_flight), *gone)
                .group_by(_r.c.broadcast_id)
            )
            found = {int(bid): int(count) for bid, count in result}
            for broadcast_id, count in found.items():
                moved = await conn.execute(
                    update(_r)
                    .where(_r.c.broadcast_id == broadcast_id, *gone)
                    .values(state="pending")
                )
                await shift(conn, broadcast_id, "sending", "pending", moved.rowcount)
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
        """sending -> done, only if no recipient is ``pending`` or ``sending`` (checked in the
        statement); False if it was cancelled meanwhile or recipients remain."""
        remaining = exists().where(
            _r.c.broadcast_id == broadcast_id, _r.c.state.in_(("pending", "sending"))
        )
        stmt = (
            update(_b)
            .where(_b.c.id == broadcast_id, _b.c.status == "sending", ~remaining)
            .values(status="done", finished_at=utc(now))
        )
        async with self._single.begin() as conn:
            result = await conn.execute(stmt)
        return bool(result.rowcount)

    async def claim_recipients(
        self,
        broadcast_id: int,
        limit: int,
        *,
        now: datetime | None = None,
        epoch: int | None = None,
    ) -> Claim:
        """Up to ``limit`` due pending recipients, marked ``sending`` before they are returned.

        Consent is checked in the same statements: due recipients whose subscription ended or
        is gone become ``skipped`` (with the reason), and only those who still consent are
        claimed, each with the subscription's current locale (stored in the row too). Both
        statements re-check ``state = 'pending'`` on the row they change. With ``epoch``, the
        rows record it, and nothing is claimed (``fenced``) when the lease has moved on.
        """
        if limit <= 0:
            return Claim([], 0)
        when = utc(now)
        at = bindparam("when", when, type_=UTCDateTime())
        locking = self._serial.dialect.name == "postgresql"
        mine = and_(_r.c.broadcast_id == broadcast_id, _r.c.state == "pending")
        skip = (
            update(_r)
            .where(mine, first_due(broadcast_id, when, limit, locking=locking), ~consents())
            .values(state="skipped", reason=skip_reason(), retry_at=None, updated_at=at)
        )
        current_locale = select(_s.c.locale).where(_s.c.user_id == _r.c.user_id)
        claim = (
            update(_r)
            .where(mine, first_due(broadcast_id, when, limit, locking=locking), consents())
            .values(
                state="sending",
                locale=current_locale.scalar_subquery(),
                updated_at=at,
                claim_epoch=epoch,
            )
            .returning(_r.c.user_id, _r.c.locale, _r.c.attempts)
        )
        async with self._serial.begin() as conn:
            if epoch is not None and not await lease_fence(conn, BROADCAST_LEASE, epoch):
                return Claim([], 0, fenced=True)
            skipped = (await conn.execute(skip)).rowcount
            rows = (await conn.execute(claim)).all()
            await shift_counts(
                conn,
                {
                    (broadcast_id, "pending", "skipped"): int(skipped or 0),
                    (broadcast_id, "pending", "sending"): len(rows),
                },
            )
        recipients = [Recipient(int(r.user_id), str(r.locale), int(r.attempts)) for r in rows]
        recipients.sort(key=lambda recipient: recipient.user_id)
        return Claim(recipients, int(skipped or 0))

    async def skip_pending_recipients(
        self, user_id: int, reason: SkipReason = "erased", *, now: datetime | None = None
    ) -> int:
        """Every ``pending`` recipient row of ``user_id``, in any broadcast, becomes ``skipped``.

        For ``/forget`` (reason ``erased``): run it in the same breath as deleting the
        subscription. Rows already ``sending`` are in flight and get their outcome from the
        engine; the engine would skip the pending ones at their turn anyway (no subscription),
        this only makes it immediate. Returns the number of rows skipped.
        """
        stmt = (
            update(_r)
            .where(_r.c.user_id == user_id, _r.c.state == "pending")
            .values(state="skipped", reason=reason, retry_at=None, updated_at=utc(now))
            .returning(_r.c.broadcast_id)
        )
        async with self._serial.begin() as conn:
            found = (await conn.scalars(stmt)).all()
            await shift_counts(conn, moves_of(found, "pending", "skipped"))
        return len(found)

    async def release_recipients(
        self, broadcast_id: int, user_ids: Iterable[int], *, epoch: int | None = None
    ) -> None:
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
                *claimed_under(epoch),
            )
            .values(state="pending")
        )
        async with self._serial.begin() as conn:
            released = (await conn.execute(stmt)).rowcount
            await shift(conn, broadcast_id, "sending", "pending", released)

    async def release_unheld(
        self, broadcast_id: int, held: Collection[int], *, epoch: int | None = None
    ) -> int:
        """``sending`` rows of the broadcast other than ``held`` go back to ``pending``.

        After a claim whose answer was lost (the connection dropped during COMMIT) the rows it
        marked are ``sending`` but nobody sends them; ``held`` are the ones the engine knows it
        claimed. With ``epoch``, only rows claimed under it (without: every ``sending`` row, for
        a single process). Returns the rows released.
        """
        conditions = [
            _r.c.broadcast_id == broadcast_id,
            _r.c.state == "sending",
            *claimed_under(epoch),
        ]
        if held:
            conditions.append(_r.c.user_id.not_in(list(held)))
        stmt = update(_r).where(*conditions).values(state="pending")
        async with self._serial.begin() as conn:
            released = int((await conn.execute(stmt)).rowcount or 0)
            await shift(conn, broadcast_id, "sending", "pending", released)
        return released

    async def record_outcomes(
        self,
        broadcast_id: int,
        outcomes: Sequence[Outcome],
        *,
        now: datetime | None = None,
        epoch: int | None = None,
    ) -> None:
        """Store a batch of results in one transaction; blocked users' subscriptions end.

        Reasons are redacted here, whoever wrote them: an error text may quote the request URL,
        which holds the bot token (``bot.core.redaction``).

        Only rows still ``sending`` change, so writing a batch again (after an error whose
        outcome was unknown) changes nothing that moved on; with ``epoch``, only rows claimed
        under it (a successor's claims are not overwritten). Those rows are locked first
        (``FOR UPDATE``; SQLite's write lock is taken at BEGIN), so the counts move by exactly
        the rows the update changes.
        """
        if not outcomes:
            return
        when = utc(now)
        stmt = outcome_statement(broadcast_id)
        params = outcome_params(outcomes, when)
        blocked = [{"u": o.user_id} for o in outcomes if o.state == "blocked"]
        still_sending = (
            select(_r.c.user_id)
            .where(
                _r.c.broadcast_id == broadcast_id,
                _r.c.user_id.in_([o.user_id for o in outcomes]),
                _r.c.state == "sending",
                *claimed_under(epoch),
            )
            .order_by(_r.c.user_id)
            .with_for_update()
        )
        async with self._serial.begin() as conn:
            held = {int(u) for u in await conn.scalars(still_sending)}
            params = [p for p in params if p["u"] in held]
            if params:
                await conn.execute(stmt, params)
                await shift_counts(
                    conn, Counter((broadcast_id, "sending", str(p["s"])) for p in params)
                )
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
