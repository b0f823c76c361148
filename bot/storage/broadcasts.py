"""Broadcasts and their recipients: what was queued, and what became of each recipient.

Mixed into :class:`bot.storage.Storage`. A broadcast is ``scheduled`` until the delivery engine
(``bot.broadcast.engine``) starts it, then ``sending``, then ``done``; ``cancelled`` at any point
before ``done``. Its recipients are a snapshot of the matching active subscribers, taken when it
is queued; consent and language are looked at again when each recipient is claimed
(``deliveries.py``). A recipient is ``pending``, then ``sending`` (written *before* the request
leaves, so a crash leaves it marked as possibly delivered), then one final state:

- ``sent`` (with the message id);
- ``blocked``: Telegram answered 403 (the user blocked the bot; the subscription ends);
- ``failed``: with the reason (a 400, or retries used up);
- ``skipped``: never sent, because consent was gone when its turn came; the reason says why:
  ``unsubscribed``, ``blocked`` (a ``my_chat_member`` update said so) or ``erased`` (no
  subscription any more: ``/forget``);
- ``in_doubt``: the request left but its answer did not come (a read timeout, or the engine
  stopped while waiting): Telegram may have delivered it, so it is not sent again.

A retriable failure puts it back to ``pending`` with ``retry_at``. Besides the ``in_doubt``
state, a broadcast counts ``resent_after_crash``: recipients found ``sending`` after a crash and
sent again (they may have got it twice). The two are the two sources of doubt: one may have
missed nothing and got nothing twice; the other may have got it twice.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import and_, exists, func, insert, literal, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from bot.core.interests import is_interest_id
from bot.core.times import utc
from bot.storage.recipient_counts import counts_of
from bot.storage.tables import (
    broadcast_recipients,
    broadcasts,
    subscription_interests,
    subscriptions,
)

BroadcastStatus = Literal["scheduled", "sending", "done", "cancelled"]
RecipientState = Literal["pending", "sending", "sent", "blocked", "failed", "skipped", "in_doubt"]
FINAL_STATES: tuple[RecipientState, ...] = ("sent", "blocked", "failed", "skipped", "in_doubt")
REASON_MAX_LENGTH = 200

#: Why a recipient was ``skipped`` (its ``reason``): consent was gone when its turn came.
SkipReason = Literal["unsubscribed", "blocked", "erased"]

_r = broadcast_recipients
_b = broadcasts


@dataclass(frozen=True)
class BroadcastSummary:
    """A broadcast as ``broadcast show`` and ``/broadcasts`` present it."""

    id: int
    status: BroadcastStatus
    texts: Mapping[str, str]
    locales: tuple[str, ...] | None
    interests: tuple[str, ...] | None
    paid: bool
    created_by: int | None
    created_at: datetime
    send_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    progress_chat_id: int | None
    progress_message_id: int | None
    total: int
    pending: int
    sending: int
    sent: int
    blocked: int
    failed: int
    skipped: int  # consent gone before their turn: never sent
    in_doubt: int  # the answer was lost (read timeout): may have been delivered, not resent
    failure_reasons: tuple[tuple[str, int], ...]  # (reason, count), most frequent first
    skip_reasons: tuple[tuple[str, int], ...]  # (unsubscribed/blocked/erased, count)
    resent_after_crash: int  # found "sending" after a crash and sent again: maybe twice
    eta_seconds: float | None  # from the pace so far; None before it starts or when finished

    @property
    def remaining(self) -> int:
        return self.pending + self.sending

    @property
    def settled(self) -> int:
        return self.sent + self.blocked + self.failed + self.skipped + self.in_doubt

    @property
    def progress(self) -> float:
        """Share of recipients in a final state, 0.0-1.0."""
        return 1.0 if self.total == 0 else self.settled / self.total


@dataclass(frozen=True)
class Recipient:
    user_id: int
    locale: str
    attempts: int


@dataclass(frozen=True)
class Outcome:
    """What happened to one recipient: a final state, or ``pending`` again to retry."""

    user_id: int
    state: RecipientState
    attempts: int
    message_id: int | None = None
    reason: str | None = None
    retry_at: datetime | None = None


def _json_list(value: str | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(json.loads(value))


class BroadcastStore:
    """Broadcast methods of :class:`bot.storage.Storage`."""

    _single: AsyncEngine
    _serial: AsyncEngine

    @asynccontextmanager
    async def _queueing(self) -> AsyncIterator[AsyncEngine]:
        """The engine a broadcast is queued on (``Storage`` gives a bounded PostgreSQL
        database a longer statement bound for it)."""
        yield self._serial

    # -- authoring ------------------------------------------------------------------------------

    async def create_broadcast(
        self,
        *,
        texts: Mapping[str, str],
        locales: Sequence[str] | None,
        interests: Sequence[str] | None,
        send_at: datetime | None,
        paid: bool,
        created_by: int | None,
        progress_chat_id: int | None = None,
        progress_message_id: int | None = None,
        now: datetime | None = None,
    ) -> int:
        """Queue a broadcast and plan its recipients; returns its id.

        Recipients: every active subscriber whose locale is in ``locales`` (None: any) and who
        picked at least one of ``interests`` or picked none (a subscriber who chose no topic
        asked for all the news; ``interests`` None: regardless of interests). The selection runs
        inside the database (INSERT … SELECT), so queueing 100,000 recipients costs no memory.
        """
        async with self._queueing() as engine, engine.begin() as conn:
            return await self._insert_broadcast(
                conn,
                texts=texts,
                locales=locales,
                interests=interests,
                send_at=send_at,
                paid=paid,
                created_by=created_by,
                progress_chat_id=progress_chat_id,
                progress_message_id=progress_message_id,
                now=now,
            )

    async def _insert_broadcast(
        self,
        conn: AsyncConnection,
        *,
        texts: Mapping[str, str],
        locales: Sequence[str] | None,
        interests: Sequence[str] | None,
        send_at: datetime | None,
        paid: bool,
        created_by: int | None,
        progress_chat_id: int | None,
        progress_message_id: int | None,
        now: datetime | None,
    ) -> int:
        """The broadcast and its recipients, inside the caller's transaction; its id."""
        when = utc(now)
        for interest in interests or ():
            if not is_interest_id(interest):
                raise ValueError(f"{interest!r} is not an interest id")
        result = await conn.execute(
            insert(_b)
            .values(
                status="scheduled",
                texts=json.dumps(dict(texts), ensure_ascii=False, sort_keys=True),
                audience_locales=None if locales is None else json.dumps(list(locales)),
                audience_interests=None if interests is None else json.dumps(list(interests)),
                paid=paid,
                created_by=created_by,
                created_at=when,
                send_at=utc(send_at) if send_at is not None else when,
                progress_chat_id=progress_chat_id,
                progress_message_id=progress_message_id,
                total=0,
                in_doubt=0,
            )
            .returning(_b.c.id)
        )
        broadcast_id = int(result.scalar_one())
        total = await self._plan_recipients(conn, broadcast_id, locales, interests)
        await conn.execute(
            update(_b).where(_b.c.id == broadcast_id).values(total=total, recipients_pending=total)
        )
        return broadcast_id

    @staticmethod
    async def _plan_recipients(
        conn: AsyncConnection,
        broadcast_id: int,
        locales: Sequence[str] | None,
        interests: Sequence[str] | None,
    ) -> int:
        """One ``pending`` row per matching active subscriber, in one ``INSERT … SELECT``
        inside the database (no row passes through Python); its rowcount is the count."""
        s = subscriptions
        conditions: list[ColumnElement[bool]] = [
            s.c.unsubscribed_at.is_(None),
            s.c.blocked_at.is_(None),
        ]
        if locales is not None:
            conditions.append(s.c.locale.in_(list(locales)))
        if interests is not None:
            picked = subscription_interests
            conditions.append(
                or_(
                    # no topic chosen: all the news
                    ~exists().where(picked.c.user_id == s.c.user_id),
                    exists().where(
                        picked.c.user_id == s.c.user_id,
                        picked.c.interest_id.in_(list(interests)),
                    ),
                )
            )
        planned = select(
            literal(broadcast_id, _r.c.broadcast_id.type),
            s.c.user_id,
            s.c.locale,
            literal("pending", _r.c.state.type),
            literal(0, _r.c.attempts.type),
        ).where(and_(*conditions))
        result = await conn.execute(
            insert(_r).from_select(
                ["broadcast_id", "user_id", "locale", "state", "attempts"], planned
            )
        )
        return int(result.rowcount)

    async def cancel_broadcast(self, broadcast_id: int, *, now: datetime | None = None) -> bool:
        """Stop a scheduled or sending broadcast (the engine stops within a second)."""
        stmt = (
            update(_b)
            .where(_b.c.id == broadcast_id, _b.c.status.in_(("scheduled", "sending")))
            .values(status="cancelled", finished_at=utc(now))
        )
        async with self._single.begin() as conn:
            result = await conn.execute(stmt)
        return bool(result.rowcount)

    async def list_broadcasts(self, limit: int = 20) -> list[BroadcastSummary]:
        """The most recent broadcasts first."""
        async with self._single.connect() as conn:
            rows = (await conn.execute(select(*_b.c).order_by(_b.c.id.desc()).limit(limit))).all()
            return await self._summaries(conn, rows)

    async def broadcast_summary(
        self, broadcast_id: int, *, reasons: bool = True
    ) -> BroadcastSummary | None:
        """One broadcast; ``reasons=False``: without the failure and skip reasons (empty), so
        one row is read whatever the number of recipients (the progress while sending, which
        shows no reasons)."""
        async with self._single.connect() as conn:
            rows = (await conn.execute(select(*_b.c).where(_b.c.id == broadcast_id))).all()
            summaries = await self._summaries(conn, rows, reasons=reasons)
        return summaries[0] if summaries else None

    async def progress_summary(self, broadcast_id: int) -> BroadcastSummary | None:
        """The summary without reasons: what the progress message shows while sending."""
        return await self.broadcast_summary(broadcast_id, reasons=False)

    async def _summaries(
        self, conn: Any, rows: Sequence[Row[Any]], *, reasons: bool = True
    ) -> list[BroadcastSummary]:
        if not rows:
            return []
        ids = [int(row.id) for row in rows]
        # The counts are columns of the row (``recipient_counts.py``); the reasons are read from
        # the failed and skipped rows only, found through ``ix_broadcast_recipients_state``.
        found = await self._reasons(conn, ids) if reasons else {}
        now = utc()
        return [
            self._summary(
                row,
                counts_of(row),
                _by_count(found.get((int(row.id), "failed"), [])),
                _by_count(found.get((int(row.id), "skipped"), [])),
                now,
            )
            for row in rows
        ]

    @staticmethod
    async def _reasons(conn: Any, ids: list[int]) -> dict[tuple[int, str], list[tuple[str, int]]]:
        """{(broadcast, failed/skipped): [(reason, n)]}: only those rows are read, through
        ``ix_broadcast_recipients_state`` (broadcast, state, …)."""
        reasons: dict[tuple[int, str], list[tuple[str, int]]] = {}
        result = await conn.execute(
            select(_r.c.broadcast_id, _r.c.state, _r.c.reason, func.count())
            .where(_r.c.broadcast_id.in_(ids), _r.c.state.in_(("failed", "skipped")))
            .group_by(_r.c.broadcast_id, _r.c.state, _r.c.reason)
        )
        for broadcast_id, state, reason, count in result:
            key = (int(broadcast_id), str(state))
            reasons.setdefault(key, []).append((str(reason or "unknown"), int(count)))
        return reasons

    @staticmethod
    def _summary(
        row: Row[Any],
        counts: Mapping[str, int],
        failures: tuple[tuple[str, int], ...],
        skips: tuple[tuple[str, int], ...],
        now: datetime,
    ) -> BroadcastSummary:
        pending, sending = counts.get("pending", 0), counts.get("sending", 0)
        settled = sum(counts.get(state, 0) for state in FINAL_STATES)
        eta: float | None = None
        if row.status == "sending" and row.started_at is not None and settled:
            elapsed = (now - row.started_at).total_seconds()
            eta = max(0.0, elapsed / settled * (pending + sending)) if elapsed > 0 else None
        return BroadcastSummary(
            id=int(row.id),
            status=row.status,
            texts=json.loads(row.texts),
            locales=_json_list(row.audience_locales),
            interests=_json_list(row.audience_interests),
            paid=bool(row.paid),
            created_by=None if row.created_by is None else int(row.created_by),
            created_at=row.created_at,
            send_at=row.send_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            progress_chat_id=row.progress_chat_id,
            progress_message_id=row.progress_message_id,
            total=int(row.total),
            pending=pending,
            sending=sending,
            sent=counts.get("sent", 0),
            blocked=counts.get("blocked", 0),
            failed=counts.get("failed", 0),
            skipped=counts.get("skipped", 0),
            in_doubt=counts.get("in_doubt", 0),
            failure_reasons=failures,
            skip_reasons=skips,
            # The column keeps its first name: it counted the only doubt there was then.
            resent_after_crash=int(row.in_doubt),
            eta_seconds=eta,
        )


def _by_count(reasons: list[tuple[str, int]]) -> tuple[tuple[str, int], ...]:
    """Most frequent first, then alphabetically."""
    return tuple(sorted(reasons, key=lambda item: (-item[1], item[0])))
