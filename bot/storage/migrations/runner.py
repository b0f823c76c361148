"""Bringing a database to the newest revision at start, safely when processes start together.

:func:`upgrade_to_head` runs on the storage's own async engine: one connection, one
transaction holding the migration lock, and Alembic's commands on that connection through
``run_sync`` (Alembic's asyncio recipe). Within the transaction it

1. adopts a database made by the hand-written runner of earlier releases (a
   ``schema_migrations`` table at version 3 and no ``alembic_version``): it stamps the baseline
   revision, which creates exactly those tables, without touching them;
2. refuses a database at a revision this release does not know (made by a newer release);
3. applies the pending revisions, all or none.

The lock: on PostgreSQL ``pg_advisory_xact_lock`` keyed by the schema (the same key as the
earlier runner's, so an old and a new process starting together also wait for each other), on
SQLite ``BEGIN IMMEDIATE``. A second process waits, then finds the database at head.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import weakref
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, Literal

from alembic import command
from alembic.autogenerate.api import AutogenContext
from alembic.config import Config
from alembic.runtime.migration import MigrationContext, MigrationInfo
from alembic.script import Script, ScriptDirectory
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    func,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.schema import CreateSchema

from bot.storage.errors import StorageSchemaError
from bot.storage.tables import UTCDateTime

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent
VERSIONS_DIR = MIGRATIONS_DIR / "versions"

#: The first revision: the schema the hand-written runner had built at its version 3.
BASELINE_REVISION = "a39e2e38ff6f"

#: The pre-Alembic bookkeeping table, kept on adopted databases (see :func:`_adopt`).
LEGACY_TABLE = "schema_migrations"
#: The last version of the hand-written runner; the baseline revision is the same schema.
LEGACY_VERSION = 3
#: Recorded in the legacy table on adoption: earlier releases refuse a version above theirs.
LEGACY_HANDOVER_VERSION = LEGACY_VERSION + 1

#: First key of the two-key advisory lock; the second is ``hashtext(schema)``.
_PG_LOCK_CLASS = 0x1B0_7DB

_legacy = Table(
    LEGACY_TABLE,
    MetaData(),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("name", String(200), nullable=False),
    Column("applied_at", UTCDateTime(), nullable=False),
)

# Alembic's ``context`` and ``op`` are module globals that point at the run in progress, and a
# run awaits its database inside ``run_sync``: two runs interleaved on one event loop would mix
# their operations. The database lock keeps runs on one database apart; this keeps apart runs
# on different databases in one process (tests, tools). One lock per loop: an asyncio.Lock
# belongs to the loop that first waits on it.
_process_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """What autogenerate compares: ``tables.py``, not the pre-Alembic bookkeeping table."""
    return not (type_ == "table" and name == LEGACY_TABLE)


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Render our column types by their DDL, so that a revision never imports ``tables.py``.

    A revision must create what it created the day it was written, whatever ``tables.py``
    becomes later; ``UTCDateTime`` only converts values, its DDL is a timezone-aware DateTime.
    """
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def alembic_config(extra_versions: Sequence[Path] = ()) -> Config:
    """Alembic's configuration, built in code: no ``alembic.ini`` to ship or to find.

    ``extra_versions`` adds directories of revisions after the package's own (tests use it to
    add a revision on top of head).
    """
    config = Config(stdout=sys.stdout)  # the current stdout (Alembic binds it at import)
    config.set_main_option("script_location", _escape(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    config.set_main_option(
        "version_locations", os.pathsep.join(_escape(p) for p in [VERSIONS_DIR, *extra_versions])
    )
    # Files sort by date in the directory; the revision id keeps names unique across branches.
    config.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s")
    return config


def _escape(path: Path) -> str:
    # Config values go through ConfigParser interpolation, where "%" is special.
    return str(path).replace("%", "%%")


@cache
def _package_scripts() -> ScriptDirectory:
    """The package's revisions, read once per process."""
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The newest revision this release knows (what :func:`upgrade_to_head` brings to)."""
    head = _package_scripts().get_current_head()
    assert head is not None, "bot/storage/migrations/versions holds no revision"
    return head


async def current_revision(conn: AsyncConnection) -> str | None:
    """The revision recorded in the database; ``None`` before the first upgrade."""
    return await conn.run_sync(_current_revision)


def _current_revision(conn: Connection) -> str | None:
    # No version_table_schema: on PostgreSQL the engine's search_path is the storage's schema
    # alone, so alembic_version is created and found there like every table (and Alembic's
    # comparison recognises it as its own only when it is named without a schema).
    return MigrationContext.configure(conn).get_current_revision()


async def upgrade_to_head(
    engine: AsyncEngine, *, schema: str | None, extra_versions: Sequence[Path] = ()
) -> str:
    """Bring the database to the newest revision; returns it.

    ``engine`` is the storage's engine for transactions that serialise with other writers (on
    SQLite the one that begins with ``BEGIN IMMEDIATE``). With nothing pending this only reads
    the version. Raises :class:`StorageSchemaError` (one line) when the database is newer than
    this release, when a pre-Alembic database is not at version 3, or when a revision fails.
    """
    config = alembic_config(extra_versions)
    scripts = ScriptDirectory.from_config(config) if extra_versions else _package_scripts()
    async with _process_lock(), engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            await _sqlite_foreign_keys(conn, enabled=False)
        try:
            async with conn.begin():
                if not sqlite:
                    await conn.execute(
                        text("SELECT pg_advisory_xact_lock(:cls, hashtext(:key))"),
                        {"cls": _PG_LOCK_CLASS, "key": schema or ""},
                    )
                    if schema is not None:
                        await conn.execute(CreateSchema(schema, if_not_exists=True))
                return await conn.run_sync(_upgrade, config, scripts)
        finally:
            if sqlite:
                await _sqlite_foreign_keys(conn, enabled=True)


def _process_lock() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    lock = _process_locks.get(loop)
    if lock is None:
        lock = _process_locks[loop] = asyncio.Lock()
    return lock


async def _sqlite_foreign_keys(conn: AsyncConnection, *, enabled: bool) -> None:
    """Switch SQLite's foreign key enforcement for this connection.

    Off while migrating, as SQLite's ALTER TABLE documentation and Alembic's batch mode require:
    batch mode copies a table and drops the original, and with enforcement on, dropping
    ``broadcasts`` would cascade to every row of ``broadcast_recipients``. The pragma is a
    no-op inside a transaction, so it runs without BEGIN (``sqlite_begin="none"``).
    """
    await conn.execution_options(sqlite_begin="none")
    try:
        await conn.exec_driver_sql(f"PRAGMA foreign_keys = {'ON' if enabled else 'OFF'}")
        await conn.commit()
    except DBAPIError:
        if enabled:
            # A pooled connection must never serve the bot with enforcement off.
            await conn.invalidate()
        raise
    await conn.execution_options(sqlite_begin="immediate")


def _upgrade(conn: Connection, config: Config, scripts: ScriptDirectory) -> str:
    config.attributes["connection"] = conn
    head = scripts.get_current_head()
    assert head is not None, "bot/storage/migrations/versions holds no revision"
    current = _current_revision(conn)
    if current is None:
        legacy = _legacy_version(conn)
        if legacy is not None:
            _adopt(conn, config, legacy)
            current = BASELINE_REVISION
    elif current not in {script.revision for script in scripts.walk_revisions()}:
        raise StorageSchemaError(
            f"database schema is at revision {current} but this release knows only up to "
            f"{head}; upgrade the bot (or restore a matching backup)"
        )
    if current == head:
        return head

    pending = list(reversed(list(scripts.iterate_revisions(head, current or "base"))))
    applied: list[str] = []

    def on_version_apply(*, step: MigrationInfo, **_: Any) -> None:
        applied.append(step.up_revision_id or "")
        log.info("event=storage_revision_applied revision=%s", step.up_revision_id)

    config.attributes["on_version_apply"] = [on_version_apply]
    try:
        command.upgrade(config, "head")
    except DBAPIError as exc:
        failed = pending[len(applied)]
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        raise StorageSchemaError(
            f"migration {failed.revision} ({_title(failed)}) failed: {reason}; nothing was changed"
        ) from exc
    if conn.dialect.name == "sqlite":
        _check_sqlite_foreign_keys(conn, pending)
    log.info(
        "event=storage_migrated from=%s to=%s revisions=%d", current or "empty", head, len(pending)
    )
    return head


def _title(script: Script) -> str:
    lines = script.doc.strip().splitlines()
    return lines[0] if lines else "no description"


def _check_sqlite_foreign_keys(conn: Connection, revisions: Sequence[Script]) -> None:
    """Enforcement was off while migrating: refuse to commit dangling references."""
    rows = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
    if rows:
        first = rows[0]._mapping  # columns: table, rowid, parent, fkid
        names = ", ".join(script.revision for script in revisions)
        raise StorageSchemaError(
            f"migrations {names} left {len(rows)} broken foreign key(s), e.g. {first['table']} "
            f"row {first['rowid']} refers to a missing {first['parent']} row; nothing was changed"
        )


def _legacy_version(conn: Connection) -> int | None:
    """The version the hand-written runner recorded, or ``None`` when it never ran here."""
    if not inspect(conn).has_table(LEGACY_TABLE):
        return None
    version = conn.execute(select(func.max(_legacy.c.version))).scalar_one()
    return None if version is None else int(version)


def _adopt(conn: Connection, config: Config, legacy_version: int) -> None:
    """Hand a database over from the hand-written runner to Alembic, keeping every row.

    The baseline revision creates exactly the tables of version 3, so it is only recorded
    (stamped), not run. ``schema_migrations`` stays as the history of how the tables were made,
    with one more row whose version is above 3: an earlier release started on this database
    by mistake (a rollback) then refuses with its own "upgrade the bot" message instead of
    running on a schema that later revisions may have changed.
    """
    if legacy_version > LEGACY_VERSION:
        # Handed over before (see below), yet alembic_version is gone: nothing to trust.
        raise StorageSchemaError(
            f"database records version {legacy_version} in {LEGACY_TABLE} but has no "
            "alembic_version table; restore a backup"
        )
    if legacy_version != LEGACY_VERSION:
        raise StorageSchemaError(
            f"database was made by a release before Alembic and is at its version "
            f"{legacy_version}; this release adopts only version {LEGACY_VERSION}: start the "
            f"last release before Alembic once to finish its migrations, then this one"
        )
    command.stamp(config, BASELINE_REVISION)
    conn.execute(
        insert(_legacy).values(
            version=LEGACY_HANDOVER_VERSION,
            name=f"handed over to Alembic at revision {BASELINE_REVISION}",
            applied_at=datetime.now(UTC),
        )
    )
    log.info(
        "event=storage_adopted legacy_version=%d revision=%s", legacy_version, BASELINE_REVISION
    )
