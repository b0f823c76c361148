"""Schema migrations: Alembic revisions, applied by ``open_storage`` at every start.

``bot/storage/tables.py`` is the one definition of the current tables. The revisions in
``versions/`` are the steps that build them; a test checks that applying them all gives exactly
``tables.py`` on SQLite and PostgreSQL (Alembic's autogenerate finds no difference).

Changing the schema:

1. Edit ``tables.py``.
2. Write the revision from the difference (run in the repository, in the dev virtualenv)::

       python -m bot.storage.migrations.dev revision "add users.timezone"

   It builds a scratch SQLite database at head, runs Alembic's autogenerate against
   ``tables.py`` and writes ``versions/<date>_<rev>_add_users_timezone.py`` (formatted with
   ruff when it is installed). Add ``--url postgresql://postgres@127.0.0.1:5432/test`` to
   compare on PostgreSQL instead (in a scratch schema, dropped afterwards), and ``--empty``
   for a data migration written by hand.
3. Review it. Autogenerate misses renames (it writes a drop and an add: rewrite them as
   ``alter_column(new_column_name=...)``), server defaults and data changes. Table changes
   are rendered in batch mode (``with op.batch_alter_table(...)``) because SQLite can alter
   little: there Alembic copies the table into a new one and drops the old, with foreign key
   enforcement off during the migration and checked before commit (``runner.py``). Give new
   constraints names, or batch mode cannot drop them later. Never edit a revision that has
   shipped; add another.
4. ``python -m bot.storage.migrations.dev check`` (and the storage tests) must report no
   difference; ``python -m bot.storage.migrations.dev history`` lists the revisions.

At start, ``open_storage`` runs :func:`upgrade_to_head` (see ``runner.py``): under a lock, it
adopts a database made by the hand-written runner of earlier releases (version 3 of
``schema_migrations``, stamped as the baseline revision and otherwise left as it is), refuses a
database newer than this release, and applies the pending revisions in one transaction.
There is no ``alembic.ini``: the configuration is built in code (:func:`alembic_config`), and
``env.py`` runs on the connection it is given rather than connecting by itself.
"""

from bot.storage.migrations.runner import (
    BASELINE_REVISION,
    LEGACY_TABLE,
    alembic_config,
    current_revision,
    head_revision,
    upgrade_to_head,
)

__all__ = [
    "BASELINE_REVISION",
    "LEGACY_TABLE",
    "alembic_config",
    "current_revision",
    "head_revision",
    "upgrade_to_head",
]
