"""Storage behaviour on SQLite and (when TEST_DATABASE_URL is set) PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import threading
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from bot.storage import (
    DATABASE_ERRORS,
    DEFAULT_DATABASE_URL,
    DatabaseTimeouts,
    Storage,
    StorageConfigError,
    StorageSchemaError,
    StorageUnavailableError,
    UserRecord,
    head_revision,
    open_storage,
    parse_database_url,
)
from tests.db_fixtures import StorageFactory, postgres_base_url, sqlite_url, write_revision

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=5, microseconds=123)
T2 = T0 + timedelta(days=2)

# -- helpers ------------------------------------------------------------------------------------


async def table_names(storage: Storage) -> set[str]:
    async with storage.engine.connect() as conn:
        names = await conn.run_sync(lambda sync_conn: inspect(sync_conn).get_table_names())
    return set(names)


async def version_rows(storage: Storage) -> list[str]:
    """The rows of Alembic's version table (one, unless something went wrong)."""
    async with storage.engine.connect() as conn:
        result = await conn.execute(text("SELECT version_num FROM alembic_version"))
        return [str(row[0]) for row in result]


def notes_revision(directory: Path) -> str:
    """A revision on top of head that creates a table ``notes``; returns its id."""
    write_revision(
        directory,
        revision="c0ffee000001",
        down_revision=head_revision(),
        title="create notes",
        upgrade='op.create_table("notes", sa.Column("id", sa.Integer, primary_key=True))',
    )
    return "c0ffee000001"


# -- migrations (more in test_migrations.py) ----------------------------------------------------


async def test_migrations_create_tables_and_record_the_revision(storage: Storage) -> None:
    assert await table_names(storage) == {
        "alembic_version",
        "users",
        "subscriptions",
        "subscription_interests",
        "broadcasts",
        "broadcast_recipients",
        "broadcast_drafts",
        "leases",
        "replicas",
        "quiet_chats",
        "topic_votes",
        "daily_counts",
    }
    assert await storage.schema_version() == head_revision()
    assert await version_rows(storage) == [head_revision()]


async def test_reopening_does_not_reapply(
    storage: Storage, storage_factory: StorageFactory
) -> None:
    await storage.touch_user(1, now=T0)
    await storage.close()

    again = await storage_factory()
    assert await version_rows(again) == [head_revision()]
    assert await again.count_users() == 1


async def test_new_revision_applies_once(storage: Storage, tmp_path: Path) -> None:
    notes = notes_revision(tmp_path / "versions")
    # Applied twice, the revision would fail the second time: the table exists.
    assert await storage.apply_migrations([tmp_path / "versions"]) == notes
    assert await storage.apply_migrations([tmp_path / "versions"]) == notes
    assert "notes" in await table_names(storage)
    assert await storage.schema_version() == notes
    assert await version_rows(storage) == [notes]


async def test_failed_migration_is_rolled_back_entirely(storage: Storage, tmp_path: Path) -> None:
    write_revision(
        tmp_path / "versions",
        revision="badbad000001",
        down_revision=head_revision(),
        title="half done",
        upgrade="""
            op.create_table("scratch", sa.Column("id", sa.Integer, primary_key=True))
            op.execute("INSERT INTO no_such_table VALUES (1)")
        """,
    )
    with pytest.raises(StorageSchemaError) as info:
        await storage.apply_migrations([tmp_path / "versions"])
    message = str(info.value)
    assert message.startswith("migration badbad000001 (half done) failed: ")
    assert "no_such_table" in message
    assert message.endswith("; nothing was changed")
    assert "\n" not in message
    # DDL is transactional on both backends: the table made before the error is gone too.
    assert "scratch" not in await table_names(storage)
    assert await storage.schema_version() == head_revision()


async def test_database_newer_than_code_is_refused(
    storage: Storage, storage_factory: StorageFactory, tmp_path: Path
) -> None:
    notes = notes_revision(tmp_path / "versions")
    await storage.apply_migrations([tmp_path / "versions"])
    with pytest.raises(StorageSchemaError) as info:
        await storage_factory()
    assert str(info.value) == (
        f"database schema is at revision {notes} but this release knows only up to "
        f"{head_revision()}; upgrade the bot (or restore a matching backup)"
    )


async def test_concurrent_opens_of_a_fresh_database(storage_url: str) -> None:
    opened = await asyncio.gather(*(open_storage(storage_url) for _ in range(4)))
    try:
        for each in opened:
            assert await each.schema_version() == head_revision()
        assert await version_rows(opened[0]) == [head_revision()]
    finally:
        for each in opened:
            await each.close()


async def test_concurrent_opens_from_separate_processes(storage_url: str) -> None:
    code = (
        "import asyncio, sys\n"
        "from bot.storage import open_storage\n"
        "async def main():\n"
        "    s = await open_storage(sys.argv[1])\n"
        "    await s.touch_user(int(sys.argv[2]))\n"
        "    await s.close()\n"
        "asyncio.run(main())\n"
    )
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            code,
            storage_url,
            str(n),
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)},
        )
        for n in range(3)
    ]
    results = await asyncio.gather(*(proc.communicate() for proc in procs))
    for proc, (_, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err.decode()
    async with await open_storage(storage_url) as storage:
        assert await version_rows(storage) == [head_revision()]
        assert await storage.count_users() == 3


# -- users --------------------------------------------------------------------------------------


async def test_unknown_user_is_none(storage: Storage) -> None:
    assert await storage.get_user(42) is None
    assert await storage.count_users() == 0


async def test_touch_creates_then_advances_last_seen_only(storage: Storage) -> None:
    first = await storage.touch_user(42, now=T0)
    assert first == UserRecord(user_id=42, locale=None, first_seen=T0, last_seen=T0)

    second = await storage.touch_user(42, now=T1)
    assert second == UserRecord(user_id=42, locale=None, first_seen=T0, last_seen=T1)
    assert await storage.get_user(42) == second
    assert await storage.count_users() == 1


async def test_touch_keeps_and_returns_the_chosen_locale(storage: Storage) -> None:
    await storage.touch_user(7, now=T0)
    await storage.set_locale(7, "zh_Hans", now=T1)
    record = await storage.touch_user(7, now=T2)
    assert record == UserRecord(user_id=7, locale="zh_Hans", first_seen=T0, last_seen=T2)


async def test_set_locale_changes_only_the_locale_of_a_known_user(storage: Storage) -> None:
    await storage.touch_user(7, now=T0)
    await storage.set_locale(7, "en", now=T2)
    assert await storage.get_user(7) == UserRecord(7, "en", first_seen=T0, last_seen=T0)


async def test_set_locale_creates_a_missing_user(storage: Storage) -> None:
    await storage.set_locale(9, "en", now=T1)
    assert await storage.get_user(9) == UserRecord(9, "en", first_seen=T1, last_seen=T1)
    assert await storage.count_users() == 1


async def test_locale_none_forgets_the_choice(storage: Storage) -> None:
    await storage.set_locale(9, "zh_Hans", now=T0)
    await storage.set_locale(9, None, now=T1)
    record = await storage.get_user(9)
    assert record is not None
    assert record.locale is None


async def test_locale_survives_a_restart(
    storage: Storage, storage_factory: StorageFactory
) -> None:
    await storage.touch_user(5, now=T0)
    await storage.set_locale(5, "zh_Hans", now=T1)
    await storage.close()

    restarted = await storage_factory()
    assert await restarted.touch_user(5, now=T2) == UserRecord(5, "zh_Hans", T0, T2)


async def test_times_are_aware_utc_whatever_zone_is_given(storage: Storage) -> None:
    beijing = timezone(timedelta(hours=8))
    local = datetime(2025, 3, 1, 16, 0, tzinfo=beijing)
    record = await storage.touch_user(3, now=local)
    assert record.first_seen == T0
    assert record.first_seen.utcoffset() == timedelta(0)

    default = await storage.touch_user(4)
    assert default.last_seen.tzinfo is not None
    assert abs(datetime.now(UTC) - default.last_seen) < timedelta(minutes=1)

    with pytest.raises(ValueError, match="timezone-aware"):
        await storage.touch_user(3, now=datetime(2025, 3, 1, 8, 0))


async def test_telegram_ids_beyond_32_bits(storage: Storage) -> None:
    big = 2**52 + 17
    await storage.touch_user(big, now=T0)
    record = await storage.get_user(big)
    assert record is not None
    assert record.user_id == big


async def test_overlong_locale_is_refused(storage: Storage) -> None:
    with pytest.raises(ValueError, match="locale"):
        await storage.set_locale(1, "x" * 36)
    assert await storage.get_user(1) is None


async def test_concurrent_touches_of_one_new_user(storage: Storage) -> None:
    await asyncio.gather(*(storage.touch_user(11, now=T0) for _ in range(10)))
    assert await storage.count_users() == 1


async def test_record_is_frozen(storage: Storage) -> None:
    record = await storage.touch_user(1, now=T0)
    with pytest.raises(AttributeError):
        record.locale = "en"  # type: ignore[misc]


# -- configuration and connection errors --------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("garbage", "not a URL"),
        ("mysql://user:s3cret@db.example/bot", "scheme 'mysql' is not supported"),
        ("http://example.com/db", "scheme 'http' is not supported"),
        ("postgresql+psycopg2://u:s3cret@h/db", "driver 'postgresql+psycopg2' is not supported"),
        ("sqlite+pysqlite:///x.db", "driver 'sqlite+pysqlite' is not supported"),
        ("postgresql://u:s3cret@h:notaport/db", "cannot be parsed"),
        ("sqlite://somehost/x.db", "must not name a host"),
        ("sqlite:///x.db?schema=abc", "only be chosen with PostgreSQL"),
        ("postgresql://u:s3cret@h/db?schema=Robert';DROP", "schema name"),
        ("postgresql://u:s3cret@h/db?schema=a&schema=b", "more than once"),
    ],
)
async def test_bad_urls_give_one_clear_line(url: str, expected: str) -> None:
    with pytest.raises(StorageConfigError) as info:
        await open_storage(url)
    message = str(info.value)
    assert expected in message
    assert "\n" not in message
    assert "s3cret" not in message


def test_schema_argument_with_sqlite_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StorageConfigError, match="only be chosen with PostgreSQL"):
        parse_database_url(sqlite_url(tmp_path / "x.db"), schema="abc")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://bob:s3cret@db.example:6543/bot",
        "postgres://bob:s3cret@db.example:6543/bot",
        "postgresql+asyncpg://bob:s3cret@db.example:6543/bot",
    ],
)
def test_postgres_spellings_use_asyncpg(url: str) -> None:
    target = parse_database_url(url, schema="run_1")
    assert target.backend == "postgresql"
    assert target.url.drivername == "postgresql+asyncpg"
    assert (target.url.host, target.url.port, target.url.database) == ("db.example", 6543, "bot")
    assert target.schema == "run_1"
    assert target.display == "db.example:6543/bot schema run_1"


def test_schema_in_url_is_taken_out_of_the_driver_query() -> None:
    target = parse_database_url("postgresql://bob@h/bot?schema=run_2&ssl=require")
    assert target.schema == "run_2"
    assert dict(target.url.query) == {"ssl": "require"}


async def test_unreachable_postgres_fails_fast_naming_host_and_port() -> None:
    started = time.monotonic()
    with pytest.raises(StorageUnavailableError) as info:
        await open_storage("postgresql://bob:s3cret@127.0.0.1:1/bot")
    assert time.monotonic() - started < 5
    message = str(info.value)
    assert "127.0.0.1:1" in message
    assert "\n" not in message
    assert "s3cret" not in message


@pytest.fixture
async def silent_server() -> AsyncIterator[int]:
    """A TCP port that accepts connections and never answers (a hung server)."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield port
    server.close()


async def test_silent_postgres_times_out_with_one_line(silent_server: int) -> None:
    started = time.monotonic()
    with pytest.raises(StorageUnavailableError) as info:
        await open_storage(
            f"postgresql://bob:s3cret@127.0.0.1:{silent_server}/bot", connect_timeout=0.5
        )
    assert time.monotonic() - started < 5
    assert str(info.value) == (
        f"cannot reach PostgreSQL at 127.0.0.1:{silent_server}/bot: no answer within 0.5 s"
    )


@pytest.mark.skipif(postgres_base_url() is None, reason="TEST_DATABASE_URL is not set")
async def test_missing_postgres_database_is_unavailable() -> None:
    base = parse_database_url(postgres_base_url() or "")
    url = base.url.set(database="no_such_database_for_bot_tests").render_as_string(False)
    with pytest.raises(StorageUnavailableError, match='database "no_such_database_for_bot_tests"'):
        await open_storage(url)


async def test_sqlite_path_that_cannot_be_a_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(StorageUnavailableError, match="cannot create the directory"):
        await open_storage(sqlite_url(tmp_path / "file" / "sub" / "bot.db"))


# -- SQLite specifics ---------------------------------------------------------------------------


async def test_default_url_creates_its_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert not (tmp_path / "data").exists()
    async with await open_storage(DEFAULT_DATABASE_URL) as storage:
        await storage.touch_user(1, now=T0)
    assert (tmp_path / "data" / "bot.db").is_file()


async def test_sqlite_uses_wal_and_a_busy_timeout(tmp_path: Path) -> None:
    storage = await open_storage(sqlite_url(tmp_path / "bot.db"))
    async with storage, storage.engine.connect() as conn:
        mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar_one()
        busy = (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar_one()
    assert mode == "wal"
    assert busy >= 1000


async def test_memory_database_for_tests() -> None:
    async with await open_storage("sqlite:///:memory:") as storage:
        await storage.touch_user(1, now=T0)
        assert await storage.get_user(1) == UserRecord(1, None, T0, T0)
        assert await storage.schema_version() == head_revision()


async def test_a_stuck_statement_fails_within_the_database_timeout(
    storage_url: str, tmp_path: Path
) -> None:
    """DATABASE_TIMEOUT bounds every statement: PostgreSQL's statement_timeout, SQLite's
    busy_timeout (here 0.5 s; the stuck statement would take 3 s)."""
    timeouts = DatabaseTimeouts(statement=0.5, pool=0.5)
    async with await open_storage(storage_url, timeouts=timeouts) as storage:
        if storage.backend == "postgresql":
            with pytest.raises(DATABASE_ERRORS, match="statement timeout"):
                async with storage.engine.connect() as conn:
                    await conn.execute(text("SELECT pg_sleep(3)"))
        else:
            path = parse_database_url(storage_url).url.database
            assert path is not None
            held = threading.Event()

            def hold() -> None:
                con = sqlite3.connect(path, isolation_level=None)
                con.execute("BEGIN EXCLUSIVE")
                held.set()
                time.sleep(3)
                con.execute("ROLLBACK")
                con.close()

            locker = asyncio.create_task(asyncio.to_thread(hold))
            await asyncio.to_thread(held.wait, 5)
            with pytest.raises(DATABASE_ERRORS, match="database is locked"):
                await storage.subscribe(1, locale="en")
            await locker
        assert await storage.count_users() == 0  # and the next call works


# -- interests as rows ---------------------------------------------------------------------------


async def interest_rows(storage: Storage) -> list[tuple[int, str]]:
    async with storage.engine.connect() as conn:
        result = await conn.execute(
            text("SELECT user_id, interest_id FROM subscription_interests ORDER BY 1, 2")
        )
        return [(int(u), str(i)) for u, i in result]


async def test_interests_are_rows_kept_replaced_and_erased(storage: Storage) -> None:
    await storage.subscribe(1, locale="en", interests=("trials", "events", "trials"), now=T0)
    await storage.subscribe(2, locale="en", interests=("events",), now=T0)
    assert await interest_rows(storage) == [(1, "events"), (1, "trials"), (2, "events")]
    # Subscribing again while active keeps them; after an end, a new consent starts empty.
    await storage.subscribe(2, locale="en", now=T0)
    assert (2, "events") in await interest_rows(storage)
    await storage.unsubscribe(2, now=T0)
    await storage.subscribe(2, locale="en", now=T0)
    assert await interest_rows(storage) == [(1, "events"), (1, "trials")]
    await storage.set_interests(1, ["treatments"])
    await storage.set_interests(99, ["treatments"])  # never subscribed: nothing happens
    assert await interest_rows(storage) == [(1, "treatments")]
    # Only subscribers who picked one of the interests, or none at all, are planned.
    await storage.subscribe(3, locale="en", interests=("events",), now=T0)
    broadcast_id = await storage.create_broadcast(
        texts={"en": "hi"},
        locales=None,
        interests=["treatments"],
        send_at=None,
        paid=False,
        created_by=None,
    )
    assert set(await storage.recipient_states(broadcast_id)) == {1, 2}
    await storage.erase_user(1, now=T0)
    assert await interest_rows(storage) == [(3, "events")]
