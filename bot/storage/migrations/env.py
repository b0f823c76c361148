"""Alembic's environment script: run by every Alembic command (upgrade, stamp, revision, check).

It never connects by itself: the caller opens a connection, takes the migration lock, begins
the transaction and passes the connection in ``config.attributes["connection"]`` (Alembic's
"connection sharing" recipe). On PostgreSQL that connection's search_path is the storage's
schema, so ``alembic_version`` lives there too. See ``runner.py`` for the caller at start and
``dev.py`` for the developer commands.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from bot.storage.migrations.runner import include_name, render_item
from bot.storage.tables import metadata


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError(
            "bot.storage.migrations runs on a connection passed in config.attributes; "
            "use open_storage() or python -m bot.storage.migrations.dev"
        )
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # One revision file serves both backends: batch operations are plain ALTERs on
        # PostgreSQL and "move and copy" on SQLite, whose ALTER TABLE can do little.
        render_as_batch=True,
        # SQLite DDL is transactional here because the engine emits BEGIN itself
        # (connection.py), so both backends run a whole upgrade in one transaction.
        transactional_ddl=True,
        include_name=include_name,
        render_item=render_item,
        on_version_apply=context.config.attributes.get("on_version_apply", ()),
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) mode is not supported: migrations run at start")
run_migrations_online()
