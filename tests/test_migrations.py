"""Alembic migrations: the revisions build exactly ``tables.py``, and databases made by the
hand-written runner of earlier releases are adopted with every row, on SQLite and PostgreSQL.

Basic behaviour (fresh database, reopening, failing and unknown revisions, concurrent starts)
is in ``test_storage.py``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Integer, Table, insert, inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.storage import Storage, StorageSchemaError, Subscription, UserRecord, open_storage
from bot.storage.migrations import BASELINE_REVISION, alembic_config, head_revision
from bot.storage.migrations.dev import main as dev_main
from bot.storage.migrations.runner import VERSIONS_DIR, include_name
from bot.storage.tables import metadata
from tests.db_fixtures import (
    drop_schema,
    fresh_schema_name,
    postgres_base_url,
    sqlite_url,
    with_schema,
    write_revision,
)
from tests.legacy_schema import (
    broadcasts_v3,
    build_legacy_database,
    recipients_v3,
    schema_migrations,
    subscriptions_v2,
    users_v1,
)

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=5, microseconds=123)
BIG_ID = 2**52 + 17
OWN_TABLES = {"users", "subscriptions", "broadcasts", "broadcast_recipients"}

# -- helpers ------------------------------------------------------------------------------------


def differences(conn: Connection) -> list[Any]:
    """Alembic's autogenerate comparison of the database with ``tables.py`` (as env.py does)."""
    context = MigrationContext.configure(
        conn, opts={"target_metadata": metadata, "include_name": include_name}
    )
    return list(compare_metadata(context, metadata))


async def differences_in(storage: Storage) -> list[Any]:
    async with storage.engine.connect() as conn:
        return await conn.run_sync(differences)


def snapshot(conn: Connection) -> dict[str, Any]:
    """Everything about our tables that DDL decides, as reflection and SQLite report it."""
    inspector = inspect(conn)
    tables: dict[str, Any] = {}
    for table in sorted(OWN_TABLES):
        tables[table] = {
            "columns": [
                (
                    c["name"],
                    str(c["type"]),
                    c["nullable"],
                    c.get("default"),
                    c.get("autoincrement"),
                )
                for c in inspector.get_columns(table)
            ],
            "primary key": inspector.get_pk_constraint(table)["constrained_columns"],
            "foreign keys": [
                (
                    fk["constrained_columns"],
                    fk["referred_table"],
                    fk["referred_columns"],
                    fk["options"],
                )
                for fk in inspector.get_foreign_keys(table)
            ],
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), i["unique"])
                for i in inspector.get_indexes(table)
            ),
        }
    if conn.dialect.name == "sqlite":
        # The CREATE statements themselves: SQLite keeps them verbatim.
        rows = conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE name NOT IN "
            "('alembic_version', 'schema_migrations') AND sql IS NOT NULL ORDER BY name"
        )
        tables["sqlite_master"] = [tuple(row) for row in rows]
    return tables


async def snapshot_of(engine: AsyncEngine) -> dict[str, Any]:
    async with engine.connect() as conn:
        return await conn.run_sync(snapshot)


@pytest.fixture
async def other_url(storage_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """A second, empty database on the same backend as ``storage_url``."""
    if storage_url.startswith("sqlite"):
        yield sqlite_url(tmp_path / "other.db")
        return
    base = postgres_base_url()
    assert base is not None
    schema = fresh_schema_name()
    try:
        yield with_schema(base, schema)
    finally:
        await drop_schema(base, schema)


async def fill_legacy_database(engine: AsyncEngine) -> int:
    """Rows in every table, as the earlier releases wrote them; returns the broadcast id."""
    async with engine.begin() as conn:
        await conn.execute(
            insert(users_v1),
            [
                {"user_id": 1, "locale": "zh_Hans", "first_seen": T0, "last_seen": T1},
                {"user_id": 2, "locale": None, "first_seen": T0, "last_seen": T0},
                {"user_id": BIG_ID, "locale": "en", "first_seen": T1, "last_seen": T1},
            ],
        )
        await conn.execute(
            insert(subscriptions_v2),
            [
                {
                    "user_id": 1,
                    "locale": "zh_Hans",
                    "interests": ",tace,ablation,",
                    "subscribed_at": T0,
                    "unsubscribed_at": None,
                    "blocked_at": None,
                },
                {
                    "user_id": 2,
                    "locale": "en",
                    "interests": "",
                    "subscribed_at": T0,
                    "unsubscribed_at": T1,
                    "blocked_at": None,
                },
            ],
        )
        broadcast_id = (
            await conn.execute(
                insert(broadcasts_v3)
                .values(
                    status="sending",
                    texts=json.dumps({"en": "<b>News</b>", "zh_Hans": "新闻"}, ensure_ascii=False),
                    audience_locales=None,
                    audience_interests=json.dumps(["tace"]),
                    paid=False,
                    created_by=1,
                    created_at=T0,
                    send_at=T0,
                    started_at=T1,
                    finished_at=None,
                    progress_chat_id=1,
                    progress_message_id=77,
                    total=5,
                    in_doubt=1,
                )
                .returning(broadcasts_v3.c.id)
            )
        ).scalar_one()
        recipient = {
            "broadcast_id": broadcast_id,
            "locale": "en",
            "attempts": 1,
            "retry_at": None,
            "message_id": None,
            "reason": None,
            "updated_at": T1,
        }
        await conn.execute(
            insert(recipients_v3),
            [
                {
                    **recipient,
                    "user_id": 10,
                    "state": "pending",
                    "attempts": 0,
                    "updated_at": None,
                },
                {**recipient, "user_id": 11, "state": "sending"},
                {**recipient, "user_id": 12, "state": "sent", "message_id": 500},
                {**recipient, "user_id": 13, "state": "blocked", "reason": "Forbidden"},
                {**recipient, "user_id": 14, "state": "failed", "reason": "chat not found"},
            ],
        )
    return int(broadcast_id)


async def legacy_versions(storage: Storage) -> list[int]:
    async with storage.engine.connect() as conn:
        result = await conn.execute(
            select(schema_migrations.c.version).order_by(schema_migrations.c.version)
        )
        return [int(v) for v in result.scalars()]


# -- the revisions are tables.py ----------------------------------------------------------------


async def test_revisions_build_exactly_tables_py(storage: Storage) -> None:
    assert await differences_in(storage) == []


async def test_version_table_lives_in_the_storage_schema(postgres_storage: Storage) -> None:
    storage = postgres_storage
    async with storage.engine.connect() as conn:
        result = await conn.execute(
            text("SELECT table_schema FROM information_schema.tables WHERE table_name = :t"),
            {"t": "alembic_version"},
        )
        # Other test runs have their own schemas, each with its own version table.
        assert storage.schema in set(result.scalars())
        assert (await conn.execute(text("SELECT current_schema()"))).scalar() == storage.schema


async def test_baseline_builds_what_the_hand_written_runner_built(
    storage_url: str, other_url: str
) -> None:
    legacy = await build_legacy_database(storage_url)
    try:
        old = await snapshot_of(legacy)
    finally:
        await legacy.dispose()
    async with await open_storage(other_url) as fresh:
        # Later revisions change these tables: compare at the baseline itself, built afresh
        # (down to nothing, which runs every downgrade, then up to the baseline only).
        async with fresh.engine.begin() as conn:
            await conn.run_sync(rebuild_at_baseline)
        assert await snapshot_of(fresh.engine) == old


def rebuild_at_baseline(conn: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = conn
    command.downgrade(config, "base")
    command.upgrade(config, BASELINE_REVISION)


def test_revisions_form_one_line_from_the_baseline() -> None:
    scripts = ScriptDirectory.from_config(alembic_config())
    assert scripts.get_heads() == [head_revision()]
    assert scripts.get_bases() == [BASELINE_REVISION]
    for script in scripts.walk_revisions():
        assert isinstance(script.down_revision, str | None), f"{script.revision} is a merge"
        source = Path(script.path).read_text(encoding="utf-8")
        # What a revision creates must not change when the application's code does.
        assert "from bot" not in source
        assert "import bot" not in source
        assert Path(script.path).parent == VERSIONS_DIR


def test_dev_check_finds_no_difference(capsys: pytest.CaptureFixture[str]) -> None:
    assert dev_main(["check"]) == 0
    base = postgres_base_url()
    if base is not None:
        assert dev_main(["--url", base, "check"]) == 0
    assert dev_main(["history"]) == 0
    assert BASELINE_REVISION in capsys.readouterr().out


def test_dev_check_reports_a_table_missing_from_the_revisions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    extra = Table("planned_but_unmigrated", metadata, Column("id", Integer, primary_key=True))
    try:
        assert dev_main(["check"]) == 1
    finally:
        metadata.remove(extra)
    assert "planned_but_unmigrated" in capsys.readouterr().err


# -- adopting a database of the earlier releases ------------------------------------------------


async def test_legacy_database_is_adopted_with_every_row(storage_url: str) -> None:
    legacy = await build_legacy_database(storage_url)
    try:
        broadcast_id = await fill_legacy_database(legacy)
    finally:
        await legacy.dispose()

    async with await open_storage(storage_url) as storage:
        assert await storage.schema_version() == head_revision()
        assert await differences_in(storage) == []
        # The old bookkeeping stays, with the hand-over row that stops an older release.
        assert await legacy_versions(storage) == [1, 2, 3, 4]

        assert await storage.get_user(1) == UserRecord(1, "zh_Hans", T0, T1)
        assert await storage.get_user(2) == UserRecord(2, None, T0, T0)
        assert await storage.get_user(BIG_ID) == UserRecord(BIG_ID, "en", T1, T1)
        assert await storage.count_users() == 3
        # ",tace,ablation," became two rows (read back in id order).
        assert await storage.get_subscription(1) == Subscription(
            1, "zh_Hans", ("ablation", "tace"), T0, None, None
        )
        assert await storage.get_subscription(2) == Subscription(2, "en", (), T0, T1, None)
        assert await storage.count_active_subscriptions() == 1

        summary = await storage.broadcast_summary(broadcast_id)
        assert summary is not None
        assert summary.status == "sending"
        assert dict(summary.texts) == {"en": "<b>News</b>", "zh_Hans": "新闻"}
        assert (summary.locales, summary.interests) == (None, ("tace",))
        assert (summary.created_at, summary.send_at, summary.started_at) == (T0, T0, T1)
        assert (summary.progress_chat_id, summary.progress_message_id) == (1, 77)
        assert (summary.total, summary.resent_after_crash) == (5, 1)
        counts = (summary.pending, summary.sending, summary.sent, summary.blocked, summary.failed)
        assert counts == (1, 1, 1, 1, 1)
        assert summary.failure_reasons == (("chat not found", 1),)
        assert await storage.recipient_states(broadcast_id) == {
            10: ("pending", None),
            11: ("sending", None),
            12: ("sent", 500),
            13: ("blocked", None),
            14: ("failed", None),
        }

        # The counts on the broadcast row were counted from its rows by the upgrade, and move
        # with them from now on.
        assert summary.remaining == 2 and summary.settled == 3
        await storage.recover_in_flight()
        resumed = await storage.broadcast_summary(broadcast_id)
        assert resumed is not None and (resumed.pending, resumed.sending) == (2, 0)
        # The interests are rows now: changed and erased as rows.
        await storage.set_interests(1, ["events"])
        changed = await storage.get_subscription(1)
        assert changed is not None and changed.interests == ("events",)

        # Writing goes on where the old release stopped: ids continue.
        await storage.touch_user(1, now=T1 + timedelta(days=1))
        new_id = await storage.create_broadcast(
            texts={"en": "again"},
            locales=None,
            interests=None,
            send_at=None,
            paid=False,
            created_by=None,
        )
        assert new_id > broadcast_id
        assert await storage.broadcast_summary(new_id) is not None

    async with await open_storage(storage_url) as again:
        assert await legacy_versions(again) == [1, 2, 3, 4]
        assert await again.schema_version() == head_revision()


async def test_concurrent_opens_of_a_legacy_database(storage_url: str) -> None:
    legacy = await build_legacy_database(storage_url)
    await legacy.dispose()
    opened = await asyncio.gather(*(open_storage(storage_url) for _ in range(3)))
    try:
        for each in opened:
            assert await each.schema_version() == head_revision()
        assert await legacy_versions(opened[0]) == [1, 2, 3, 4]
    finally:
        for each in opened:
            await each.close()


@pytest.mark.parametrize("version", [1, 2])
async def test_legacy_database_before_version_3_is_refused(storage_url: str, version: int) -> None:
    legacy = await build_legacy_database(storage_url, up_to=version)
    await legacy.dispose()
    with pytest.raises(StorageSchemaError) as info:
        await open_storage(storage_url)
    assert str(info.value) == (
        f"database was made by a release before Alembic and is at its version {version}; "
        "this release adopts only version 3: start the last release before Alembic once to "
        "finish its migrations, then this one"
    )
    # Nothing was written: no version table, no hand-over row.
    legacy = await build_legacy_database(storage_url, up_to=version)
    try:
        async with legacy.connect() as conn:
            names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
            rows = (await conn.execute(select(schema_migrations.c.version))).scalars().all()
    finally:
        await legacy.dispose()
    assert "alembic_version" not in names
    assert sorted(rows) == list(range(1, version + 1))


async def test_handed_over_database_without_version_table_is_refused(storage_url: str) -> None:
    legacy = await build_legacy_database(storage_url)
    try:
        async with legacy.begin() as conn:
            await conn.execute(
                insert(schema_migrations).values(version=4, name="handed over", applied_at=T0)
            )
    finally:
        await legacy.dispose()
    with pytest.raises(
        StorageSchemaError,
        match=r"^database records version 4 in schema_migrations but has no alembic_version",
    ):
        await open_storage(storage_url)


# -- SQLite's table copies and foreign keys ------------------------------------------------------


async def test_batch_alteration_of_a_parent_table_keeps_its_children(
    storage: Storage, tmp_path: Path
) -> None:
    await storage.subscribe(1, locale="en", interests=("events", "treatments"), now=T0)
    await storage.subscribe(2, locale="en", interests=("events",), now=T0)
    before = [await storage.get_subscription(user_id) for user_id in (1, 2)]
    assert [s.interests for s in before if s is not None] == [
        ("events", "treatments"),
        ("events",),
    ]
    # On SQLite this copies subscriptions into a new table and drops the old one; with foreign
    # keys enforced, the drop would cascade to every interest.
    write_revision(
        tmp_path / "versions",
        revision="ba7c4000001a",
        down_revision=head_revision(),
        title="index subscriptions by locale",
        upgrade="""
            sqlite = op.get_bind().dialect.name == "sqlite"
            recreate = "always" if sqlite else "auto"
            with op.batch_alter_table("subscriptions", recreate=recreate) as batch_op:
                batch_op.create_index("ix_subscriptions_locale", ["locale"])
        """,
    )
    assert await storage.apply_migrations([tmp_path / "versions"]) == "ba7c4000001a"
    assert [await storage.get_subscription(user_id) for user_id in (1, 2)] == before
    if storage.backend == "sqlite":
        async with storage.engine.connect() as conn:
            enforced = (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar_one()
        assert enforced == 1, "the pooled connection must get foreign keys back"


async def test_revision_breaking_a_foreign_key_is_refused(
    storage: Storage, tmp_path: Path
) -> None:
    write_revision(
        tmp_path / "versions",
        revision="0bad0f000001",
        down_revision=head_revision(),
        title="orphan interest",
        upgrade="""
            op.execute(
                "INSERT INTO subscription_interests (user_id, interest_id) VALUES (999, 'events')"
            )
        """,
    )
    with pytest.raises(StorageSchemaError) as info:
        await storage.apply_migrations([tmp_path / "versions"])
    message = str(info.value)
    assert "\n" not in message
    assert message.endswith("nothing was changed")
    if storage.backend == "sqlite":  # enforcement is off while migrating, checked at the end
        assert message.startswith("migrations 0bad0f000001 left 1 broken foreign key(s)")
    else:  # enforced at once
        assert message.startswith("migration 0bad0f000001 (orphan interest) failed: ")
    assert await storage.schema_version() == head_revision()
    async with storage.engine.connect() as conn:
        count = (await conn.execute(text("SELECT count(*) FROM subscription_interests"))).scalar()
    assert count == 0
