"""Versioned schema migrations and the runner that applies them.

To change the schema, append a :class:`Migration` to :data:`MIGRATIONS` with the next version
number; never edit or reorder one that has shipped. Each migration runs in its own
transaction together with the row that records it in ``schema_migrations``, so a failing
migration leaves neither half-made tables nor a recorded version (DDL is transactional on
PostgreSQL, and on SQLite because the engine emits ``BEGIN`` itself, see ``engine.py``).

Concurrency: two processes may start at once. On PostgreSQL every migration transaction first
takes ``pg_advisory_xact_lock`` (keyed by the schema), on SQLite it starts with
``BEGIN IMMEDIATE``; either way the second process waits, then sees the version the first one
recorded and applies nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.schema import CreateIndex, CreateSchema, CreateTable

from bot.storage.errors import StorageSchemaError
from bot.storage.tables import UTCDateTime, schema_migrations

MigrationStep = Callable[[AsyncConnection], Awaitable[None]]

#: First key of the two-key advisory lock; the second is ``hashtext(schema)``.
_PG_LOCK_CLASS = 0x1B0_7DB


@dataclass(frozen=True, slots=True)
class Migration:
    """One step of the schema: ``apply`` runs inside the transaction that records it."""

    version: int
    name: str
    apply: MigrationStep


async def _m0001_create_users(conn: AsyncConnection) -> None:
    # The table as it was at version 1 (see tables.py for why it is repeated here).
    users_v1 = Table(
        "users",
        MetaData(),
        Column("user_id", BigInteger, primary_key=True, autoincrement=False),
        Column("locale", String(35), nullable=True),
        Column("first_seen", UTCDateTime(), nullable=False),
        Column("last_seen", UTCDateTime(), nullable=False),
    )
    await conn.execute(CreateTable(users_v1))


async def _m0002_create_subscriptions(conn: AsyncConnection) -> None:
    subscriptions_v2 = Table(
        "subscriptions",
        MetaData(),
        Column("user_id", BigInteger, primary_key=True, autoincrement=False),
        Column("locale", String(35), nullable=False),
        Column("interests", String(1000), nullable=False),
        Column("subscribed_at", UTCDateTime(), nullable=False),
        Column("unsubscribed_at", UTCDateTime(), nullable=True),
        Column("blocked_at", UTCDateTime(), nullable=True),
    )
    await conn.execute(CreateTable(subscriptions_v2))


async def _m0003_create_broadcasts(conn: AsyncConnection) -> None:
    meta = MetaData()
    broadcasts_v3 = Table(
        "broadcasts",
        meta,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("status", String(16), nullable=False),
        Column("texts", Text, nullable=False),
        Column("audience_locales", Text, nullable=True),
        Column("audience_interests", Text, nullable=True),
        Column("paid", Boolean, nullable=False),
        Column("created_by", BigInteger, nullable=True),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("send_at", UTCDateTime(), nullable=False),
        Column("started_at", UTCDateTime(), nullable=True),
        Column("finished_at", UTCDateTime(), nullable=True),
        Column("progress_chat_id", BigInteger, nullable=True),
        Column("progress_message_id", BigInteger, nullable=True),
        Column("total", Integer, nullable=False),
        Column("in_doubt", Integer, nullable=False),
    )
    recipients_v3 = Table(
        "broadcast_recipients",
        meta,
        Column(
            "broadcast_id",
            Integer,
            ForeignKey("broadcasts.id", ondelete="CASCADE"),
            primary_key=True,
            autoincrement=False,
        ),
        Column("user_id", BigInteger, primary_key=True, autoincrement=False),
        Column("locale", String(35), nullable=False),
        Column("state", String(8), nullable=False),
        Column("attempts", Integer, nullable=False),
        Column("retry_at", UTCDateTime(), nullable=True),
        Column("message_id", BigInteger, nullable=True),
        Column("reason", String(200), nullable=True),
        Column("updated_at", UTCDateTime(), nullable=True),
    )
    index = Index(
        "ix_broadcast_recipients_state",
        recipients_v3.c.broadcast_id,
        recipients_v3.c.state,
        recipients_v3.c.user_id,
    )
    await conn.execute(CreateTable(broadcasts_v3))
    await conn.execute(CreateTable(recipients_v3))
    await conn.execute(CreateIndex(index))


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "create users", _m0001_create_users),
    Migration(2, "create subscriptions", _m0002_create_subscriptions),
    Migration(3, "create broadcasts", _m0003_create_broadcasts),
)


def check_migrations(migrations: Sequence[Migration]) -> None:
    """Versions must be 1, 2, 3 … in order: a gap or a duplicate is a programming error."""
    for expected, migration in enumerate(migrations, start=1):
        if migration.version != expected:
            raise ValueError(
                f"migration {migration.name!r} has version {migration.version}, "
                f"expected {expected}"
            )


async def current_version(conn: AsyncConnection) -> int:
    """Highest recorded version; 0 when nothing has been applied."""
    result = await conn.execute(select(func.coalesce(func.max(schema_migrations.c.version), 0)))
    return int(result.scalar_one())


async def apply_migrations(
    engine: AsyncEngine,
    *,
    schema: str | None,
    migrations: Sequence[Migration] = MIGRATIONS,
) -> int:
    """Bring the database up to the last of ``migrations``; returns the resulting version.

    ``engine`` must open write transactions that serialise with other writers (on SQLite the
    storage passes its ``BEGIN IMMEDIATE`` engine). Idempotent: with nothing pending it only
    reads the version.
    """
    check_migrations(migrations)
    latest = len(migrations)
    while True:
        async with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(:cls, hashtext(:key))"),
                    {"cls": _PG_LOCK_CLASS, "key": schema or ""},
                )
                if schema is not None:
                    await conn.execute(CreateSchema(schema, if_not_exists=True))
            await conn.execute(CreateTable(schema_migrations, if_not_exists=True))
            version = await current_version(conn)
            if version > latest:
                raise StorageSchemaError(
                    f"database schema is at version {version} but this release knows only "
                    f"up to {latest}; upgrade the bot (or restore a matching backup)"
                )
            if version == latest:
                return version
            migration = migrations[version]
            try:
                await migration.apply(conn)
            except DBAPIError as exc:
                reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
                raise StorageSchemaError(
                    f"migration {migration.version} ({migration.name}) failed: {reason}"
                ) from exc
            await conn.execute(
                insert(schema_migrations).values(
                    version=migration.version,
                    name=migration.name,
                    applied_at=datetime.now(UTC),
                )
            )
