"""The hand-written migration runner of the releases before Alembic, frozen for upgrade tests.

This is ``bot/storage/migrations.py`` as it was at commit d271928 (migrations 1 users,
2 subscriptions, 3 broadcasts, recorded in ``schema_migrations``), trimmed to what builds a
database; only the ``schema_migrations`` table moved here from ``tables.py``. Do not update it
when the schema changes: it stands for databases that already exist.

:func:`build_legacy_database` makes a database exactly the way ``open_storage`` of those
releases did (same engine options, same lock, same DDL, same bookkeeping rows).
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
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.schema import CreateIndex, CreateSchema, CreateTable

from bot.storage.connection import create_engine_for, enable_sqlite_wal
from bot.storage.tables import UTCDateTime
from bot.storage.url import parse_database_url

MigrationStep = Callable[[AsyncConnection], Awaitable[None]]

_PG_LOCK_CLASS = 0x1B0_7DB

schema_migrations = Table(
    "schema_migrations",
    MetaData(),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("name", String(200), nullable=False),
    Column("applied_at", UTCDateTime(), nullable=False),
)

# The tables as the migrations created them; tests insert rows through these.
legacy = MetaData()

users_v1 = Table(
    "users",
    legacy,
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("locale", String(35), nullable=True),
    Column("first_seen", UTCDateTime(), nullable=False),
    Column("last_seen", UTCDateTime(), nullable=False),
)

subscriptions_v2 = Table(
    "subscriptions",
    legacy,
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("locale", String(35), nullable=False),
    Column("interests", String(1000), nullable=False),
    Column("subscribed_at", UTCDateTime(), nullable=False),
    Column("unsubscribed_at", UTCDateTime(), nullable=True),
    Column("blocked_at", UTCDateTime(), nullable=True),
)

broadcasts_v3 = Table(
    "broadcasts",
    legacy,
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
    legacy,
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
recipients_index_v3 = Index(
    "ix_broadcast_recipients_state",
    recipients_v3.c.broadcast_id,
    recipients_v3.c.state,
    recipients_v3.c.user_id,
)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    apply: MigrationStep


async def _m0001_create_users(conn: AsyncConnection) -> None:
    await conn.execute(CreateTable(users_v1))


async def _m0002_create_subscriptions(conn: AsyncConnection) -> None:
    await conn.execute(CreateTable(subscriptions_v2))


async def _m0003_create_broadcasts(conn: AsyncConnection) -> None:
    await conn.execute(CreateTable(broadcasts_v3))
    await conn.execute(CreateTable(recipients_v3))
    await conn.execute(CreateIndex(recipients_index_v3))


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "create users", _m0001_create_users),
    Migration(2, "create subscriptions", _m0002_create_subscriptions),
    Migration(3, "create broadcasts", _m0003_create_broadcasts),
)


async def apply_legacy_migrations(
    engine: AsyncEngine, *, schema: str | None, migrations: Sequence[Migration] = MIGRATIONS
) -> int:
    """The old runner: one transaction per migration, under the same lock as today's."""
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
            result = await conn.execute(
                select(func.coalesce(func.max(schema_migrations.c.version), 0))
            )
            version = int(result.scalar_one())
            if version >= latest:
                return version
            migration = migrations[version]
            await migration.apply(conn)
            await conn.execute(
                insert(schema_migrations).values(
                    version=migration.version,
                    name=migration.name,
                    applied_at=datetime.now(UTC),
                )
            )


async def build_legacy_database(url: str, *, up_to: int = 3) -> AsyncEngine:
    """Make the database at ``url`` as the pre-Alembic ``open_storage`` did, at ``up_to``.

    Returns an engine on it (``sqlite_begin="immediate"`` on SQLite, as the old storage used
    for the runner); the caller inserts rows through the ``*_v*`` tables and disposes of it.
    """
    target = parse_database_url(url)
    engine = create_engine_for(target, connect_timeout=10)
    if target.backend == "sqlite":
        if not target.is_memory:
            await enable_sqlite_wal(engine)
        engine = engine.execution_options(sqlite_begin="immediate")
    await apply_legacy_migrations(engine, schema=target.schema, migrations=MIGRATIONS[:up_to])
    return engine
