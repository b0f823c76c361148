"""The SQL of deliveries (``deliveries.py``): which rows a claim picks, whether a recipient
still consents, and how a batch of results is written. Expressions and statements only; the
transactions that run them are in ``deliveries.py``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, exists, or_, select, update
from sqlalchemy.sql import Update
from sqlalchemy.sql.elements import ColumnElement

from bot.core.redaction import redact
from bot.storage.broadcasts import REASON_MAX_LENGTH, Outcome
from bot.storage.tables import UTCDateTime, broadcast_recipients, subscriptions

_r = broadcast_recipients
_s = subscriptions


def has_subscription() -> ColumnElement[bool]:
    return exists().where(_s.c.user_id == _r.c.user_id)


def consents() -> ColumnElement[bool]:
    """The recipient row's user has an active subscription (correlated to ``_r``)."""
    return exists().where(
        _s.c.user_id == _r.c.user_id, _s.c.unsubscribed_at.is_(None), _s.c.blocked_at.is_(None)
    )


def skip_reason() -> ColumnElement[str]:
    """Why a recipient without consent is skipped (see ``SkipReason``)."""
    blocked = exists().where(_s.c.user_id == _r.c.user_id, _s.c.blocked_at.is_not(None))
    return case((~has_subscription(), "erased"), (blocked, "blocked"), else_="unsubscribed")


def claimed_under(epoch: int | None) -> list[ColumnElement[bool]]:
    """Rows claimed under ``epoch`` (no condition when None)."""
    return [] if epoch is None else [_r.c.claim_epoch == epoch]


def first_due(
    broadcast_id: int, when: datetime, limit: int, *, locking: bool
) -> ColumnElement[bool]:
    """``_r.user_id`` is among the first ``limit`` due pending recipients of the broadcast.

    ``locking`` (PostgreSQL): the rows are picked in a CTE with ``FOR UPDATE SKIP LOCKED``, so
    rows another transaction is claiming are passed over, not waited for, and the pick runs
    once (a locking subquery inside ``IN`` may be scanned again while the UPDATE runs and pick
    rows past ``limit``). SQLite needs no lock (its write transactions are serial) and keeps
    the plain subquery: its driver reports no row count for a statement starting with WITH.
    """
    due = _r.alias("due")
    first = (
        select(due.c.user_id)
        .where(
            due.c.broadcast_id == broadcast_id,
            due.c.state == "pending",
            or_(due.c.retry_at.is_(None), due.c.retry_at <= when),
        )
        .order_by(due.c.user_id)
        .limit(limit)
    )
    if not locking:
        return _r.c.user_id.in_(first)
    picked = first.with_for_update(skip_locked=True).cte("first_due")
    return _r.c.user_id.in_(select(picked.c.user_id))


def outcome_statement(broadcast_id: int) -> Update:
    """One recipient's result (executed once per outcome), only while it is ``sending``."""
    return (
        update(_r)
        .where(
            _r.c.broadcast_id == broadcast_id,
            _r.c.user_id == bindparam("u"),
            _r.c.state == "sending",
        )
        .values(
            state=bindparam("s"),
            attempts=bindparam("a"),
            message_id=bindparam("m"),
            reason=bindparam("r"),
            retry_at=bindparam("t", type_=UTCDateTime()),
            updated_at=bindparam("w", type_=UTCDateTime()),
        )
    )


def outcome_params(outcomes: Sequence[Outcome], when: datetime) -> list[dict[str, Any]]:
    """The outcomes as ``record_outcomes``' parameters; each reason redacted and bounded."""
    return [
        {
            "u": o.user_id,
            "s": o.state,
            "a": o.attempts,
            "m": o.message_id,
            "r": None if o.reason is None else redact(o.reason)[:REASON_MAX_LENGTH],
            "t": o.retry_at,
            "w": when,
        }
        for o in outcomes
    ]
