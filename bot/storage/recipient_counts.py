"""How many recipients of a broadcast are in each state, kept on the broadcast's row.

Every statement that changes a recipient's state also says how many rows it changed (its
rowcount, or the rows its RETURNING gave back), and the same transaction moves those counts
between the ``recipients_<state>`` columns of ``broadcasts`` (``tables.RECIPIENT_STATES``).
Progress and summaries then read one row, whatever the number of recipients, instead of
grouping them all every two seconds. Counts are written after the recipient rows, in broadcast
id order, so transactions that touch several broadcasts never lock them in opposite orders.

``tests/test_recipient_counts.py`` compares the counts with a ``GROUP BY`` after a random mix
of every operation, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ColumnElement

from bot.storage.tables import RECIPIENT_STATES, broadcasts

_b = broadcasts

#: One change of state: (broadcast id, state before, state after).
Move = tuple[int, str, str]


def count_column(state: str) -> ColumnElement[int]:
    """The column counting the recipients in ``state``."""
    if state not in RECIPIENT_STATES:
        raise ValueError(f"{state!r} is not a recipient state")
    column: ColumnElement[int] = _b.c[f"recipients_{state}"]
    return column


def counts_of(row: Any) -> dict[str, int]:
    """{state: count} from a ``broadcasts`` row."""
    return {state: int(getattr(row, f"recipients_{state}")) for state in RECIPIENT_STATES}


def deltas(moves: Mapping[Move, int]) -> dict[int, Counter[str]]:
    """{broadcast id: {state: net change}} from {(broadcast, before, after): rows}."""
    net: dict[int, Counter[str]] = {}
    for (broadcast_id, before, after), n in moves.items():
        if not n or before == after:
            continue
        change = net.setdefault(broadcast_id, Counter())
        change[before] -= n
        change[after] += n
    return net


async def shift_counts(conn: AsyncConnection, moves: Mapping[Move, int]) -> None:
    """Move ``n`` recipients between the counts for each ``(broadcast, before, after): n``, in
    the caller's transaction (one UPDATE per broadcast, in id order)."""
    for broadcast_id, change in sorted(deltas(moves).items()):
        values = {
            f"recipients_{state}": count_column(state) + n for state, n in change.items() if n
        }
        if values:
            await conn.execute(update(_b).where(_b.c.id == broadcast_id).values(values))


async def shift(
    conn: AsyncConnection, broadcast_id: int, before: str, after: str, n: int | None
) -> None:
    """``n`` recipients of one broadcast went from ``before`` to ``after`` (None or 0: none)."""
    if n:
        await shift_counts(conn, {(broadcast_id, before, after): int(n)})


def moves_of(broadcast_ids: Iterable[Any], before: str, after: str) -> Counter[Move]:
    """The moves of rows returned one broadcast id each (``RETURNING broadcast_id``)."""
    return Counter((int(b), before, after) for b in broadcast_ids)
