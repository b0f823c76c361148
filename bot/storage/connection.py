"""Creating the async engine for a :class:`DatabaseTarget` (SQLite or PostgreSQL).

SQLite connections get ``busy_timeout`` (writers wait instead of failing), WAL (readers do not
block the writer; ``synchronous=NORMAL`` is safe with WAL and much faster for the many small
writes of a broadcast) and foreign keys. WAL is a property of the file, switched on once by
:func:`enable_sqlite_wal` when the storage opens: switching needs an exclusive lock and SQLite
reports "database is locked" at once (without waiting for ``busy_timeout``) when another
process opens the fresh file at the same moment, so it is retried there.

Bounds (:class:`DatabaseTimeouts`, ``DATABASE_TIMEOUT``), so that a stuck database makes a
call fail in seconds instead of hanging the bot:

- PostgreSQL: the server's ``statement_timeout`` (and ``idle_in_transaction_session_timeout``,
  so a client that froze mid-transaction does not hold locks for long), asyncpg's
  ``command_timeout`` one second later on the client (a server or network that stopped
  answering entirely), ``pool_pre_ping`` (a connection the server or a proxy dropped is
  replaced at checkout, not handed out), and ``pool_timeout`` (waiting for a pooled connection).
- SQLite: ``busy_timeout`` (a writer waits that long for the lock, then "database is locked")
  and ``pool_timeout``. No pre-ping: a file does not drop connections.

Migrations run on an engine without statement bounds (``timeouts=None``): a revision may
rewrite a large table.

The sqlite3 driver's own transaction handling is turned off and SQLAlchemy emits ``BEGIN``
itself, so DDL in migrations is transactional and a transaction can start with
``BEGIN IMMEDIATE`` when an engine carries the ``sqlite_begin="immediate"`` execution option,
or with no BEGIN at all (``sqlite_begin="none"``) for single statements, which saves two
trips to aiosqlite's thread per call.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from bot.storage.errors import StorageUnavailableError
from bot.storage.url import DatabaseTarget

SQLITE_BUSY_TIMEOUT_MS = 5_000
APPLICATION_NAME = "interventional-bot"
#: ``DATABASE_TIMEOUT``'s default: seconds a statement (or a wait for the pool) may take.
DEFAULT_STATEMENT_TIMEOUT = 5.0
#: asyncpg gives up this much after the server's own statement_timeout would have fired.
_CLIENT_MARGIN = 1.0


@dataclass(frozen=True)
class DatabaseTimeouts:
    """How long one database call may wait; see the module docstring."""

    statement: float = DEFAULT_STATEMENT_TIMEOUT
    pool: float = DEFAULT_STATEMENT_TIMEOUT

    def __post_init__(self) -> None:
        if not (self.statement > 0 and self.pool > 0):
            raise ValueError("database timeouts must be positive")


def create_engine_for(
    target: DatabaseTarget,
    *,
    connect_timeout: float,
    timeouts: DatabaseTimeouts | None = DatabaseTimeouts(),
) -> AsyncEngine:
    """An engine with one pool for the whole process; nothing is connected yet.

    ``timeouts=None``: no statement bound (migrations); SQLite keeps its busy timeout.
    """
    if target.backend == "sqlite":
        return _sqlite_engine(target, connect_timeout=connect_timeout, timeouts=timeouts)
    server_settings = {"application_name": APPLICATION_NAME}
    if target.schema is not None:
        # Validated as [a-z_][a-z0-9_]*, so it needs no quoting. Only this schema is searched,
        # so nothing is ever created in (or read from) public by accident.
        server_settings["search_path"] = target.schema
    connect_args: dict[str, Any] = {"timeout": connect_timeout}
    pool_args: dict[str, Any] = {}
    if timeouts is not None:
        statement_ms = round(timeouts.statement * 1000)
        server_settings["statement_timeout"] = str(statement_ms)
        server_settings["idle_in_transaction_session_timeout"] = str(max(statement_ms * 6, 30_000))
        connect_args["command_timeout"] = timeouts.statement + _CLIENT_MARGIN
        pool_args = {"pool_pre_ping": True, "pool_timeout": timeouts.pool}
    connect_args["server_settings"] = server_settings
    # A statement's parameters hold user ids: never in an error's text (logged tracebacks).
    return create_async_engine(
        target.url, connect_args=connect_args, hide_parameters=True, **pool_args
    )


def _sqlite_engine(
    target: DatabaseTarget, *, connect_timeout: float, timeouts: DatabaseTimeouts | None
) -> AsyncEngine:
    if not target.is_memory and not str(target.url.database).startswith("file:"):
        parent = Path(str(target.url.database)).parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageUnavailableError(
                f"cannot create the directory {parent} for {target.display}: {exc.strerror or exc}"
            ) from None
    # In-memory databases use a single-connection pool, which has no wait to bound.
    bounded = timeouts is not None and not target.is_memory
    pool_args: dict[str, Any] = {"pool_timeout": timeouts.pool} if bounded and timeouts else {}
    engine = create_async_engine(
        target.url, connect_args={"timeout": connect_timeout}, hide_parameters=True, **pool_args
    )
    use_wal = not target.is_memory
    busy_ms = SQLITE_BUSY_TIMEOUT_MS if timeouts is None else round(timeouts.statement * 1000)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Stop the sqlite3 module from issuing BEGIN on its own (it skips it for DDL/SELECT).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
            if use_wal:
                cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin")
        if mode == "immediate":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        elif mode != "none":
            conn.exec_driver_sql("BEGIN")
        # "none": each statement is its own transaction (SQLite's autocommit), for callers
        # that run exactly one statement; COMMIT/ROLLBACK then find nothing to do.

    return engine


async def enable_sqlite_wal(engine: AsyncEngine) -> str:
    """Switch the database file to WAL (a no-op when it is already); returns the journal mode.

    Runs on the driver connection, outside any transaction (SQLite refuses to change the
    journal mode inside one), and retries "database is locked" for up to the busy timeout.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            async with engine.connect() as conn:
                raw = await conn.get_raw_connection()
                driver: Any = raw.driver_connection  # an aiosqlite.Connection
                cursor = await driver.execute("PRAGMA journal_mode = WAL")
                row = await cursor.fetchone()
                await cursor.close()
                return str(row[0])
        except (OperationalError, sqlite3.OperationalError) as exc:
            # Connecting goes through SQLAlchemy (wrapped error); the PRAGMA goes straight to
            # aiosqlite (sqlite3's own error).
            if "locked" not in str(exc) or loop.time() > deadline:
                raise
        await asyncio.sleep(0.02)
