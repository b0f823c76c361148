"""The storage interface: one implementation, SQLAlchemy Core async, for SQLite and PostgreSQL.

Cost per call is kept low because ``touch_user`` runs on every update and broadcasts will write
about a thousand rows a second: statements are built once and reused (SQLAlchemy caches their
compiled form, asyncpg its prepared statements), connections come from the engine's pool, and
single-statement calls run in autocommit on both backends (no BEGIN/COMMIT round trips).

Adding a table: describe it in ``tables.py``, write the Alembic revision (see
``bot.storage.migrations``), and add methods here (or a module taking :attr:`Storage.engine`)
following ``touch_user``.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.times import utc
from bot.storage.connection import DatabaseTimeouts, create_engine_for, enable_sqlite_wal
from bot.storage.deliveries import DeliveryStore
from bot.storage.drafts import DraftStore
from bot.storage.erasure import ErasureStore
from bot.storage.errors import StorageUnavailableError
from bot.storage.leases import LeaseStore
from bot.storage.migrations import current_revision, upgrade_to_head
from bot.storage.statistics import StatsStore
from bot.storage.subscriptions import SubscriptionStore
from bot.storage.tables import LOCALE_MAX_LENGTH, UTCDateTime, users
from bot.storage.url import Backend, DatabaseTarget, parse_database_url
from bot.storage.votes import VoteStore

log = logging.getLogger(__name__)

DEFAULT_CONNECT_TIMEOUT = 10.0
#: Seconds the statement that queues a broadcast's recipients may take on PostgreSQL.
QUEUE_STATEMENT_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class UserRecord:
    """What the bot keeps about a Telegram user, and nothing more.

    ``locale`` is ``None`` until the user explicitly chooses a language.
    ``first_seen`` and ``last_seen`` are timezone-aware UTC datetimes.
    """

    user_id: int
    locale: str | None
    first_seen: datetime
    last_seen: datetime


def _record(row: Row[Any]) -> UserRecord:
    return UserRecord(
        user_id=int(row.user_id),
        locale=row.locale,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
    )


class Storage(
    SubscriptionStore, DeliveryStore, DraftStore, ErasureStore, VoteStore, StatsStore, LeaseStore
):
    """An open database. Create with :func:`open_storage`; close with :meth:`close`.

    Subscriptions (``subscriptions.py``), broadcasts (``broadcasts.py``), their delivery
    (``deliveries.py``), the admin's drafts (``drafts.py``), erasure (``erasure.py``), the
    answers to "Was this helpful?" (``votes.py``), the statistics (``statistics.py``) and the
    leases and replicas of a deployment (``leases.py``) add their methods through the base
    classes.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        target: DatabaseTarget,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        bounded: bool = False,
    ) -> None:
        """``bounded``: ``engine`` has statement timeouts (``DatabaseTimeouts``), so migrations
        on PostgreSQL get an engine of their own without them."""
        # postgresql.insert and sqlite.insert build different classes with the same API.
        insert: Callable[[Table], Any]
        self._engine = engine
        self._target = target
        self._connect_timeout = connect_timeout
        self._bounded = bounded
        if target.backend == "postgresql":
            # Single statements: autocommit, one round trip each.
            self._single = engine.execution_options(isolation_level="AUTOCOMMIT")
            self._serial = engine
            insert = postgresql.insert
        else:
            # Single statements: no BEGIN/COMMIT (see engine.py), one trip to the driver.
            self._single = engine.execution_options(sqlite_begin="none")
            # Read-then-write transactions take the write lock up front, so a concurrent writer
            # makes them wait (busy_timeout) instead of failing with SQLITE_BUSY_SNAPSHOT.
            self._serial = engine.execution_options(sqlite_begin="immediate")
            insert = sqlite.insert
        self._dialect_insert = insert

        now = bindparam("now", type_=UTCDateTime())
        touch = insert(users).values(
            user_id=bindparam("user_id"), locale=None, first_seen=now, last_seen=now
        )
        self._touch_stmt = touch.on_conflict_do_update(
            index_elements=[users.c.user_id], set_={"last_seen": touch.excluded.last_seen}
        ).returning(*users.c)
        set_locale = insert(users).values(
            user_id=bindparam("user_id"), locale=bindparam("locale"), first_seen=now, last_seen=now
        )
        self._set_locale_stmt = set_locale.on_conflict_do_update(
            index_elements=[users.c.user_id], set_={"locale": set_locale.excluded.locale}
        )
        self._get_stmt = select(*users.c).where(users.c.user_id == bindparam("user_id"))
        self._count_stmt = select(func.count()).select_from(users)

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def engine(self) -> AsyncEngine:
        """The shared engine (and pool), for modules that add their own tables."""
        return self._engine

    @property
    def backend(self) -> Backend:
        return self._target.backend

    @property
    def schema(self) -> str | None:
        """PostgreSQL schema holding the tables, or ``None`` for the default."""
        return self._target.schema

    @property
    def display(self) -> str:
        """Where the data lives, safe to log (no password)."""
        return self._target.display

    async def close(self) -> None:
        await self._engine.dispose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def apply_migrations(self, extra_versions: Sequence[Path] = ()) -> str:
        """Apply pending revisions (``open_storage`` already did); returns the head revision.

        ``extra_versions``: more directories of revisions on top of the package's (tests).
        On PostgreSQL they run without ``statement_timeout``: a revision may rewrite a large
        table (SQLite has no statement bound, only its busy timeout).
        """
        if not (self._bounded and self.backend == "postgresql"):
            return await upgrade_to_head(
                self._serial, schema=self.schema, extra_versions=extra_versions
            )
        engine = create_engine_for(
            self._target, connect_timeout=self._connect_timeout, timeouts=None
        )
        try:
            return await upgrade_to_head(engine, schema=self.schema, extra_versions=extra_versions)
        finally:
            await engine.dispose()

    @asynccontextmanager
    async def _queueing(self) -> AsyncIterator[AsyncEngine]:
        """Queueing a broadcast is one ``INSERT … SELECT`` of every recipient: a million take
        seconds, past ``DATABASE_TIMEOUT``. On PostgreSQL it runs on an engine of its own
        bounded by ``QUEUE_STATEMENT_TIMEOUT`` instead (SQLite has only its busy timeout)."""
        if not (self._bounded and self.backend == "postgresql"):
            yield self._serial
            return
        timeouts = DatabaseTimeouts(
            statement=QUEUE_STATEMENT_TIMEOUT, pool=QUEUE_STATEMENT_TIMEOUT
        )
        engine = create_engine_for(
            self._target, connect_timeout=self._connect_timeout, timeouts=timeouts
        )
        try:
            yield engine
        finally:
            await engine.dispose()

    async def schema_version(self) -> str | None:
        """The Alembic revision the database is at (``None`` only before the first upgrade)."""
        async with self._single.connect() as conn:
            return await current_revision(conn)

    # -- users ----------------------------------------------------------------------------------

    async def get_user(self, user_id: int) -> UserRecord | None:
        async with self._single.connect() as conn:
            row = (await conn.execute(self._get_stmt, {"user_id": user_id})).first()
        return None if row is None else _record(row)

    async def touch_user(self, user_id: int, *, now: datetime | None = None) -> UserRecord:
        """Record that the user was seen: create them, or move ``last_seen`` to ``now``.

        Returns the stored record, including the locale the user chose earlier (if any).
        """
        params = {"user_id": user_id, "now": utc(now)}
        async with self._single.begin() as conn:
            row = (await conn.execute(self._touch_stmt, params)).one()
        return _record(row)

    async def set_locale(
        self, user_id: int, locale: str | None, *, now: datetime | None = None
    ) -> None:
        """Store the user's explicit choice (``None`` forgets it); creates the user if missing.

        For a known user only the locale changes; ``first_seen``/``last_seen`` stay as they are.
        """
        if locale is not None and not 0 < len(locale) <= LOCALE_MAX_LENGTH:
            raise ValueError(f"locale must be 1-{LOCALE_MAX_LENGTH} characters, got {locale!r}")
        params = {"user_id": user_id, "locale": locale, "now": utc(now)}
        async with self._single.begin() as conn:
            await conn.execute(self._set_locale_stmt, params)

    async def count_users(self) -> int:
        async with self._single.connect() as conn:
            return int((await conn.execute(self._count_stmt)).scalar_one())


async def open_storage(
    url: str,
    *,
    schema: str | None = None,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    timeouts: DatabaseTimeouts | None = None,
) -> Storage:
    """Connect to ``url`` (see ``bot.storage.url``) and apply pending migrations.

    ``schema`` (PostgreSQL only) keeps every table in that schema, created if missing; it
    overrides a ``?schema=`` parameter in the URL. ``timeouts`` bound every statement and pool
    wait (default: :class:`DatabaseTimeouts`, ``DATABASE_TIMEOUT`` in the bot's settings).

    Raises :class:`StorageConfigError` for a bad URL, :class:`StorageUnavailableError` when the
    server or file cannot be reached, :class:`StorageSchemaError` when migrating fails.
    All of them are :class:`StorageError` with a one-line message and no password.
    """
    target = parse_database_url(url, schema=schema)
    timeouts = timeouts or DatabaseTimeouts()
    engine = create_engine_for(target, connect_timeout=connect_timeout, timeouts=timeouts)
    storage = Storage(engine, target, connect_timeout=connect_timeout, bounded=True)
    try:
        await _probe(engine, target, connect_timeout)
        version = await storage.apply_migrations()
    except BaseException:
        await engine.dispose()
        raise
    log.info(
        "event=storage_open backend=%s where=%r revision=%s",
        target.backend,
        target.display,
        version,
    )
    return storage


async def _probe(engine: AsyncEngine, target: DatabaseTarget, seconds: float) -> None:
    """Open one connection (kept in the pool) so that connecting fails with a clear message."""
    try:
        if target.backend == "sqlite" and not target.is_memory:
            await enable_sqlite_wal(engine)
        else:
            async with engine.connect():
                pass
    except TimeoutError:
        raise StorageUnavailableError(
            f"cannot reach {_what(target)}: no answer within {seconds:g} s"
        ) from None
    except (OSError, DBAPIError, sqlite3.Error) as exc:
        raise StorageUnavailableError(
            f"cannot reach {_what(target)}: {_reason(exc, target)}"
        ) from None
    except Exception as exc:
        # asyncpg raises its own exceptions for some failures (e.g. a server that speaks
        # another protocol); they do not carry the password either.
        if type(exc).__module__.split(".", 1)[0] != "asyncpg":
            raise
        raise StorageUnavailableError(
            f"cannot reach {_what(target)}: {_reason(exc, target)}"
        ) from None


def _what(target: DatabaseTarget) -> str:
    if target.backend == "sqlite":
        return f"SQLite database {target.url.database}"
    return f"PostgreSQL at {target.display}"


def _reason(exc: BaseException, target: DatabaseTarget) -> str:
    inner: BaseException = exc
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        inner = exc.orig
    if isinstance(inner, OSError) and inner.strerror:
        text = inner.strerror
    else:
        lines = str(inner).strip().splitlines()
        text = lines[0] if lines else type(inner).__name__
    password = target.url.password
    if password:
        text = text.replace(str(password), "***")
    return text
