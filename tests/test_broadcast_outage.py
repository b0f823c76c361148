"""The database fails mid-broadcast: PostgreSQL cut by a proxy, SQLite locked, a full disk.

Each time the broadcast pauses, resumes when the database answers, and ends with nothing lost,
nobody sent twice, no row left ``sending``, and one log line when the outage starts and one
when it ends. Figures (sends, log lines, outage length) are printed (``pytest -s``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from bot.broadcast import BroadcastDraft, queue_broadcast
from bot.broadcast.engine import BroadcastEngine
from bot.broadcast.outage import DatabaseOutage
from bot.storage import (
    BroadcastSummary,
    DatabaseTimeouts,
    Storage,
    open_storage,
    parse_database_url,
)
from bot.testing import BotAPIEmulator, RateLimits
from bot.testing.harness import running_bot
from tests.clocks import SteppedClock
from tests.conftest import make_settings
from tests.db_fixtures import with_schema
from tests.test_broadcast import TEXTS, make_engine, subscribe_users, until, wait_status

OUTAGE_START = "event=database_unavailable"
OUTAGE_END = "event=database_back"


class TcpProxy:
    """127.0.0.1:random → ``host:port``. ``cut()`` drops every connection and refuses new ones
    (accepts and closes them at once) until ``restore()``."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port_to = host, port
        self.refusing = False
        self.links: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None
        self.refused = 0

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)

    async def stop(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    def cut(self) -> None:
        self.refusing = True
        for writer in list(self.links):
            writer.transport.abort()
        self.links.clear()

    def restore(self) -> None:
        self.refusing = False

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            self.refused += 1
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.port_to)
        except OSError:
            writer.transport.abort()
            return
        self.links.update((writer, up_writer))
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        self.links.difference_update((writer, up_writer))

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.transport.abort()


def log_lines(caplog: pytest.LogCaptureFixture, fragment: str) -> list[str]:
    """The broadcast engine's lines holding ``fragment`` (the patient side logs its own
    outage once, from bot.telegram_side.database_health)."""
    return [
        r.getMessage()
        for r in caplog.records
        if fragment in r.getMessage() and r.name.startswith("bot.broadcast")
    ]


def duplicates(emu: BotAPIEmulator, uids: range) -> int:
    return sum(max(0, len(emu.bot_messages(uid)) - 1) for uid in uids)


def report(title: str, caplog: pytest.LogCaptureFixture, **figures: object) -> None:
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING]
    by_event: dict[str, int] = {}
    for record in noisy:
        key = record.getMessage().split(" ", 1)[0][:60]
        by_event[key] = by_event.get(key, 0) + 1
    print(f"\n{title}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))
    print(f"  warning+ log lines: {len(noisy)} {by_event}")


def check_delivered(
    emu: BotAPIEmulator,
    recipients: range,
    summary: BroadcastSummary,
    states: dict[int, tuple[str, int | None]],
) -> tuple[int, int]:
    """Everyone sent, each got it once (or within the doubt bound); (lost, duplicates)."""
    assert summary.remaining == 0 and summary.sent == len(recipients)
    assert {state for state, _ in states.values()} == {"sent"}
    lost = [uid for uid in recipients if not emu.bot_messages(uid)]
    doubled = duplicates(emu, recipients)
    assert lost == []
    assert doubled <= summary.in_doubt + summary.resent_after_crash
    for uid in recipients:  # the stored message is the one the chat got
        assert states[uid][1] == emu.bot_messages(uid)[-1].message_id
    return len(lost), doubled


async def test_postgresql_cut_for_12_seconds_mid_broadcast(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    target = parse_database_url(postgres_url)
    assert target.schema is not None
    proxy = TcpProxy(target.url.host or "127.0.0.1", target.url.port or 5432)
    await proxy.start()
    proxied = target.url.set(host="127.0.0.1", port=proxy.port)
    proxied_url = with_schema(proxied.render_as_string(hide_password=False), target.schema)
    rate, recipients = 100.0, range(1, 301)
    caplog.set_level(logging.INFO)
    try:
        async with (
            await open_storage(postgres_url) as direct,  # the test's own view, not cut
            BotAPIEmulator(rate_limits=RateLimits(global_per_second=rate)) as emu,
        ):
            await subscribe_users(direct, emu, recipients)
            admin, patient = emu.user(9001), emu.user(9002)
            settings = make_settings(BROADCAST_RATE=str(rate), DATABASE_TIMEOUT="2")
            async with running_bot(settings, emu, database_url=proxied_url) as bot:
                await admin.send("/start")  # the message the engine edits into its progress
                progress = admin.chat.messages[-1]
                broadcast_id = await queue_broadcast(
                    direct,
                    BroadcastDraft(TEXTS),
                    created_by=9001,
                    progress_chat_id=9001,
                    progress_message_id=progress.message_id,
                )
                await until(lambda: emu.stats.messages_sent >= 80)
                proxy.cut()
                cut_at = time.monotonic()
                sent_at_cut = emu.stats.messages_sent
                await patient.send("/start", within=10)  # menus keep answering
                menu_during_outage = patient.last_text()
                await asyncio.sleep(12 - (time.monotonic() - cut_at))
                sent_during = emu.stats.messages_sent - sent_at_cut
                edits_before = progress.edit_count
                proxy.restore()
                restored_at = time.monotonic()
                await wait_status(direct, broadcast_id, "done", within=60)
                resumed_in = time.monotonic() - restored_at
                engine = bot.runtime.engine
                assert engine is not None
                outages = engine.outage.outages
            summary = await direct.broadcast_summary(broadcast_id)
            states = await direct.recipient_states(broadcast_id)
    finally:
        await proxy.stop()

    assert summary is not None and summary.status == "done"
    lost, doubled = check_delivered(emu, recipients, summary, states)
    assert sent_during <= 25  # only what was claimed before the cut: no claim during it
    assert menu_during_outage  # the patient got the menu while the database was gone
    # Progress and cancel kept going: the report was written after the outage.
    assert progress.edit_count > edits_before and "Remaining 0" in progress.text
    # One line when it began, one when it ended; no storm.
    assert outages == 1
    assert len(log_lines(caplog, OUTAGE_START)) == 1
    assert len(log_lines(caplog, OUTAGE_END)) == 1
    report(
        "postgresql cut 12 s",
        caplog,
        recipients=len(recipients),
        lost=lost,
        duplicates=doubled,
        in_doubt=summary.in_doubt,
        sent_during_outage=sent_during,
        resumed_after_s=round(resumed_in, 1),
        refused_connections=proxy.refused,
        outage_lines=len(log_lines(caplog, OUTAGE_START)) + len(log_lines(caplog, OUTAGE_END)),
    )


# -- SQLite ------------------------------------------------------------------------------------


def hold_write_lock(path: Path, seconds: float, held: threading.Event) -> None:
    """Another process's long write transaction: nobody else can write meanwhile."""
    con = sqlite3.connect(path, isolation_level=None, timeout=10)
    try:
        con.execute("BEGIN EXCLUSIVE")
        held.set()
        time.sleep(seconds)
        con.execute("ROLLBACK")
    finally:
        con.close()


@pytest.fixture
async def sqlite_storage(tmp_path: Path) -> AsyncIterator[tuple[Path, Storage]]:
    path = tmp_path / "bot.db"
    timeouts = DatabaseTimeouts(statement=0.3, pool=1.0)  # "locked" after 0.3 s of waiting
    async with await open_storage(f"sqlite:///{path}", timeouts=timeouts) as storage:
        yield path, storage


async def test_sqlite_locked_mid_broadcast_then_cancel_still_works(
    sqlite_storage: tuple[Path, Storage],
    emulator: BotAPIEmulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path, storage = sqlite_storage
    emu = emulator
    recipients = range(1, 401)
    await subscribe_users(storage, emu, recipients)
    broadcast_id = await queue_broadcast(storage, BroadcastDraft(TEXTS), created_by=None)
    caplog.set_level(logging.INFO)
    engine = make_engine(storage, emu, rate=100)
    await engine.start()
    try:
        await until(lambda: emu.stats.messages_sent >= 50)
        held = threading.Event()
        locker = asyncio.create_task(asyncio.to_thread(hold_write_lock, path, 3.0, held))
        await asyncio.to_thread(held.wait, 10)
        sent_at_lock = emu.stats.messages_sent
        await until(lambda: engine.outage.down)
        await locker
        sent_during = emu.stats.messages_sent - sent_at_lock
        await until(lambda: not engine.outage.down, within=15)
        after = emu.stats.messages_sent
        await until(lambda: emu.stats.messages_sent >= after + 30)  # sending again
        assert await storage.cancel_broadcast(broadcast_id)
        await until(lambda: engine.delivering is None, within=10)
    finally:
        await engine.stop()
    summary = await storage.broadcast_summary(broadcast_id)
    states = await storage.recipient_states(broadcast_id)
    assert summary is not None and summary.status == "cancelled"
    assert summary.sending == 0 and summary.pending > 0  # the rest never went out
    assert {state for state, _ in states.values()} == {"sent", "pending"}
    assert summary.sent == emu.stats.messages_sent == len(emu.requests_for("sendMessage"))
    assert duplicates(emu, recipients) == 0
    assert len(log_lines(caplog, OUTAGE_START)) == 1
    assert len(log_lines(caplog, OUTAGE_END)) == 1
    assert "database is locked" in log_lines(caplog, OUTAGE_START)[0]
    report(
        "sqlite locked 3 s",
        caplog,
        sent=summary.sent,
        sent_while_locked=sent_during,
        failed_calls=engine.outage.failed_calls,
    )


def disk_full() -> OperationalError:
    return OperationalError(
        "UPDATE broadcast_recipients …", {}, sqlite3.OperationalError("database or disk is full")
    )


async def test_a_full_disk_pauses_the_broadcast_until_writes_work_again(
    storage: Storage,
    emulator: BotAPIEmulator,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Writes fail as SQLite's do on a full disk while reads keep working."""
    emu = emulator
    recipients = range(1, 201)
    await subscribe_users(storage, emu, recipients)
    broadcast_id = await queue_broadcast(storage, BroadcastDraft(TEXTS), created_by=None)
    full = False

    def failing_when_full(method: Callable[..., Any]) -> Callable[..., Any]:
        async def call(*args: Any, **kwargs: Any) -> Any:
            if full:
                raise disk_full()
            return await method(*args, **kwargs)

        return call

    for name in ("claim_recipients", "record_outcomes", "finish_broadcast", "release_unheld"):
        monkeypatch.setattr(storage, name, failing_when_full(getattr(storage, name)))
    caplog.set_level(logging.INFO)
    engine: BroadcastEngine = make_engine(storage, emu, rate=100)
    await engine.start()
    try:
        await until(lambda: emu.stats.messages_sent >= 40)
        full = True
        await until(lambda: engine.outage.down)
        await asyncio.sleep(2)
        sent_while_full = emu.stats.messages_sent
        full = False
        await wait_status(storage, broadcast_id, "done")
    finally:
        await engine.stop()
    summary = await storage.broadcast_summary(broadcast_id)
    assert summary is not None and summary.remaining == 0 and summary.sent == len(recipients)
    assert all(len(emu.bot_messages(uid)) == 1 for uid in recipients)
    assert sent_while_full < len(recipients)
    assert len(log_lines(caplog, OUTAGE_START)) == 1
    assert len(log_lines(caplog, OUTAGE_END)) == 1
    assert "database or disk is full" in log_lines(caplog, OUTAGE_START)[0]
    report("disk full 2 s", caplog, sent=summary.sent, failed_calls=engine.outage.failed_calls)


async def test_the_monitor_survives_database_errors_and_cancel_still_works(
    storage: Storage, emulator: BotAPIEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Status reads fail for a while (a read-only outage): the run pauses, then a cancel made
    after it is still noticed."""
    emu = emulator
    await subscribe_users(storage, emu, range(1, 301))
    broadcast_id = await queue_broadcast(storage, BroadcastDraft(TEXTS), created_by=None)
    failing = False
    status = storage.broadcast_status

    async def flaky_status(broadcast: int) -> Any:
        if failing:
            raise ConnectionResetError("connection lost")
        return await status(broadcast)

    monkeypatch.setattr(storage, "broadcast_status", flaky_status)
    engine = make_engine(storage, emu, rate=50)
    await engine.start()
    try:
        await until(lambda: emu.stats.messages_sent >= 10)
        failing = True
        await until(lambda: engine.outage.failed_calls >= 3)
        failing = False
        await until(lambda: not engine.outage.down)
        sent = emu.stats.messages_sent
        await until(lambda: emu.stats.messages_sent >= sent + 10)
        assert await storage.cancel_broadcast(broadcast_id)
        await until(lambda: engine.delivering is None, within=10)
        with contextlib.suppress(AssertionError):
            await until(lambda: False, within=0.3)  # nothing more leaves
    finally:
        await engine.stop()
    summary = await storage.broadcast_summary(broadcast_id)
    assert summary is not None and summary.status == "cancelled" and summary.sending == 0
    assert summary.sent == emu.stats.messages_sent


def test_outage_lines_one_each_way_and_no_storm_when_the_database_flaps(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = SteppedClock()
    outage = DatabaseOutage(clock)
    caplog.set_level(logging.INFO, logger="bot.broadcast.engine")
    error = OperationalError("SELECT 1", {}, sqlite3.OperationalError("database is locked"))
    waits = []
    for _ in range(8):  # one outage, eight failed attempts
        outage.failed("claim", error)
        waits.append(outage.wait())
        clock.advance(waits[-1])
    outage.recovered()
    outage.recovered()  # nothing to end any more
    assert waits == [0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    assert [r.levelname for r in caplog.records] == ["WARNING", "INFO"]
    assert "after_seconds=22.8 failed_calls=8" in caplog.records[1].getMessage()
    assert "SELECT" not in caplog.text  # no statement (and no parameters) in the log
    caplog.clear()
    for _ in range(200):  # then it flaps: one slow query failing, writes working
        outage.failed("progress", error)
        clock.advance(0.5)
        outage.recovered()
    assert outage.outages == 201
    assert [r.getMessage().split()[0] for r in caplog.records] == [
        "event=database_flapping",
        "event=database_flapping",
    ]
    caplog.clear()
    outage.failed("record", error)  # a real outage within the quiet minute: logged late
    clock.advance(6)
    outage.failed("record", error)
    outage.recovered()
    assert [r.getMessage().split()[0] for r in caplog.records] == [
        "event=database_unavailable",
        "event=database_back",
    ]
    assert "since_seconds=6.0" in caplog.records[0].getMessage()
