"""UTC handling, defined once: every stored or compared time is an aware UTC datetime."""

from __future__ import annotations

from datetime import UTC, datetime


def utc(value: datetime | None = None) -> datetime:
    """``value`` in UTC (now when None); a naive datetime is refused rather than guessed."""
    if value is None:
        return datetime.now(UTC)
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetimes must be timezone-aware, got a naive one")
    return value.astimezone(UTC)


def as_utc(value: datetime | str) -> datetime:
    """A value read back from a database: naive means UTC (SQLite stores no offset)."""
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
