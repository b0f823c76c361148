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
    Column,
    MetaData,
    String,
    Table,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.schema import CreateSchema, CreateTable

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


MIGRATIONS: tuple[Migration, ...] = (Migration(1, "create users", _m0001_create_users),)


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
