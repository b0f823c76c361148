"""Statistics without text: counted in memory, written in batches, read as counts per day by
/stats and `interventional-bot stats`; nothing in them says who. A small scripted session
through the emulator, on SQLite and PostgreSQL, then the tables themselves."""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.exc import OperationalError

from bot.cli.main import main
from bot.core import daily_counts as m
from bot.core.daily_counts import DailyCounts
from bot.core.i18n import Catalogs
from bot.core.search.counts import TypedCounts
from bot.core.stats_report import CountRow, StatsReport, Totals
from bot.storage import Storage, open_storage
from bot.storage.tables import daily_counts
from bot.telegram_side.stats_flush import StatsWriter
from bot.testing import BotAPIEmulator
from tests.conftest import LOCALES, BotStarter, make_settings

ADMIN = 950
PATIENTS = (951, 952, 953)
DAY = date(2026, 11, 30)


# -- the pieces -------------------------------------------------------------------------------


def test_counts_wait_in_memory_until_taken() -> None:
    counts = DailyCounts(today=lambda: DAY)
    counts.add(m.VIEW, m.view_key("what", "en"))
    counts.add(m.VIEW, m.view_key("what", "en"))
    counts.add(m.HELPFUL, "what")
    counts.add(m.HELPFUL, "what", -1)  # a mistaken tap taken back: no row at all
    counts.add_typed({"matched": 2, "unmatched": 0, "urgent": 1})
    counts.add_source(None)
    assert counts.take() == {
        (DAY, "view", "what:en"): 2,
        (DAY, "search", "matched"): 2,
        (DAY, "urgent", ""): 1,
        (DAY, "deep_link", "(none)"): 1,
    }
    assert counts.take() == {}
    with pytest.raises(ValueError, match="unknown metric"):
        counts.add("user_id", "951")


def test_made_up_sources_cannot_fill_the_table() -> None:
    counts = DailyCounts(today=lambda: DAY)
    for n in range(m.MAX_SOURCES_PER_DAY + 50):
        counts.add_source(f"s{n}")
    counts.add_source("s1")  # one already counted today keeps its own row
    taken = counts.take()
    assert len(taken) == m.MAX_SOURCES_PER_DAY + 1
    assert taken[(DAY, "deep_link", m.OTHER_SOURCE)] == 50
    assert taken[(DAY, "deep_link", "s1")] == 2


def test_the_report_adds_up_days_and_says_helpful_per_topic() -> None:
    rows = [
        CountRow(DAY - timedelta(days=1), "view", "what:en", 3),
        CountRow(DAY, "view", "what:zh_Hans", 2),
        CountRow(DAY, "view", "recovery:en", 1),
        CountRow(DAY, "helpful", "what", 3),
        CountRow(DAY, "not_helpful", "what", 1),
        CountRow(DAY, "helpful", "recovery", -1),  # a change whose first count was lost
        CountRow(DAY, "deep_link", "ward3", 4),
    ]
    totals = Totals(users={"en": 2, None: 5, "zh_Hans": 1}, subscribers={"zh_Hans": 1})
    report = StatsReport(DAY - timedelta(days=6), DAY, rows, totals)
    topics = {t.topic_id: t for t in report.topics()}
    assert [t.topic_id for t in report.topics()] == ["what", "recovery"]
    assert topics["what"].views == 5 and topics["what"].views_by_locale == {"en": 3, "zh_Hans": 2}
    assert topics["what"].helpful_ratio == 0.75
    assert topics["recovery"].helpful_ratio is None and topics["recovery"].helpful == 0
    data = report.as_json()
    assert data["days"] == 7 and data["first_day"] == "2026-11-24"
    assert data["now"]["users"] == {
        "total": 8,
        "by_chosen_language": {"en": 2, "zh_Hans": 1, "none": 5},
    }
    assert data["topics"][0]["helpful_ratio"] == 0.75
    table = report.table()
    assert "what                                   5        3     1    75%" in table
    catalogs = Catalogs.load(LOCALES, ["en", "zh_Hans"])
    zh = report.telegram_html(catalogs.get("zh_Hans"))
    assert "未选择语言: 5" in zh and "what: 5 · 👍 3 · 👎 1 · 75%" in zh


async def test_a_batch_the_database_refused_is_kept_for_the_next_write() -> None:
    class Down:
        calls = 0

        async def add_daily_counts(self, counts: dict[Any, int]) -> None:
            self.calls += 1
            raise OperationalError("INSERT", {}, Exception("database is locked"))

    counts = DailyCounts(today=lambda: DAY)
    typed = TypedCounts()
    writer = StatsWriter(cast(Storage, Down()), counts, typed)
    counts.add(m.NEW_USER)
    typed.record(matched=False, urgent=True)
    assert await writer.flush() == 0
    assert await writer.flush() == 0  # tried again, still kept
    assert counts.peek() == {
        (DAY, "new_user", ""): 1,
        (DAY, "search", "unmatched"): 1,
        (DAY, "urgent", ""): 1,
    }


async def test_the_writer_writes_every_few_seconds_and_when_it_stops(storage: Storage) -> None:
    counts = DailyCounts()
    writer = StatsWriter(storage, counts, TypedCounts(), interval=0.05)
    writer.start()
    counts.add(m.NEW_USER)
    for _ in range(200):
        if await storage.daily_count_rows(m.utc_today(), m.utc_today()):
            break
        await asyncio.sleep(0.02)
    counts.add(m.URGENT)
    await writer.stop()  # the last batch goes with the stop
    rows = await storage.daily_count_rows(m.utc_today(), m.utc_today())
    assert [(r.metric, r.count) for r in rows] == [("new_user", 1), ("urgent", 1)]
    counts.add(m.URGENT, n=2)
    await storage.add_daily_counts(counts.take())  # the upsert adds to the day's row
    rows = await storage.daily_count_rows(m.utc_today(), m.utc_today())
    assert [(r.metric, r.count) for r in rows] == [("new_user", 1), ("urgent", 3)]


# -- a scripted session ---------------------------------------------------------------------


async def scripted_session(emulator: BotAPIEmulator) -> None:
    """Three patients: a deep link, views in two languages, 👍, a search, an urgent message,
    a message nothing matches, two subscriptions of which one ends."""
    codes = ("en", "zh-hans", "en")
    en, zh, third = (
        emulator.user(u, language_code=c) for u, c in zip(PATIENTS, codes, strict=True)
    )
    await en.send("/start v1_what__ward3")  # a poster: view what:en, source ward3
    await en.press("👍")
    await en.send("How long until I can go home?")  # the clear best topic: view recovery:en
    await en.send("my groin is bleeding after the procedure")  # urgent, then choices
    await en.send("qwertyuiop asdf")  # nothing matches
    await en.send("/subscribe")
    await zh.send("/start")
    await zh.press("什么是介入")  # view what:zh_Hans
    await zh.press("👎")
    await zh.send("/subscribe")
    await zh.send("/unsubscribe")
    await third.send("/start recovery")  # the first form: view recovery:en, no source


async def test_stats_after_a_scripted_session(
    start_bot: BotStarter,
    emulator: BotAPIEmulator,
    storage_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Over 60 lines: the same session read in /stats, in the CLI's JSON and table, and in the
    tables, where no user id may appear."""
    settings = make_settings(ADMIN_IDS=str(ADMIN))
    async with start_bot(settings, database_url=storage_url):
        await scripted_session(emulator)
        patient = emulator.user(PATIENTS[0])
        await patient.send("/stats")  # not an admin: the unknown-command answer
        assert patient.last_text().startswith("Sorry, I don't know that command.")
        admin = emulator.user(ADMIN, language_code="en")
        await admin.send("/stats")
        shown = admin.last_text()
        await admin.send("/stats 0")
        assert admin.last_text().startswith("Send /stats for the last 7 days")
        # Counted after /stats wrote the batch: written by the loop or at shutdown, not lost.
        await emulator.user(PATIENTS[2]).send("/start incision")
    assert "New users: 4" in shown  # three patients and the admin
    assert "Subscriptions started: 2, ended: 1" in shown
    assert "Typed questions: 2 answered with a topic, 1 not" in shown
    assert "Urgent-care messages: 1" in shown
    assert "Opened from links (source: count): 2\n(none): 1\nward3: 1" in shown
    assert "what: 2 · 👍 1 · 👎 1 · 50%" in shown
    assert "recovery: 2 · 👍 0 · 👎 0 · –" in shown
    assert "Users: 4 (language not chosen: 4)" in shown
    assert "News subscribers: 1 (English: 1)" in shown

    # After the bot stopped (its last counts written at shutdown), the command line.
    monkeypatch.setenv("DATABASE_URL", storage_url)
    assert await asyncio.to_thread(main, ["stats", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["days"] == 7
    assert data["period"] == {
        "new_users": 4,
        "subscriptions_started": 2,
        "subscriptions_ended": {"unsubscribed": 1},
        "searches": {"matched": 2, "unmatched": 1},
        "urgent_replies": 1,
        "deep_links": {"(none)": 2, "ward3": 1},
        "topic_views": 5,
    }
    assert data["now"] == {
        "users": {"total": 4, "by_chosen_language": {"none": 4}},
        "subscribers": {"total": 1, "by_language": {"en": 1}},
    }
    topics = {t["topic"]: t for t in data["topics"]}
    assert topics["what"] == {
        "topic": "what",
        "views": 2,
        "views_by_language": {"en": 1, "zh_Hans": 1},
        "helpful": 1,
        "not_helpful": 1,
        "helpful_ratio": 0.5,
    }
    assert topics["recovery"]["views_by_language"] == {"en": 2}
    assert topics["incision"]["views"] == 1
    assert await asyncio.to_thread(main, ["stats", "--days", "1"]) == 0
    table = capsys.readouterr().out
    assert table.startswith("statistics for 1 day(s): ")
    assert "  deep links                           3" in table

    # The table itself: day, metric, key, count, and no user id anywhere.
    storage = await open_storage(storage_url)
    try:
        async with storage.engine.connect() as conn:
            columns = await conn.run_sync(
                lambda c: [col["name"] for col in inspect(c).get_columns("daily_counts")]
            )
            rows = (await conn.execute(select(daily_counts))).all()
    finally:
        await storage.close()
    assert columns == ["day", "metric", "key", "count"]
    assert {row.metric for row in rows} <= set(m.METRICS)
    for row in rows:
        for uid in (*PATIENTS, ADMIN):
            assert str(uid) not in row.key, row


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["stats", "--days", "0"], "--days: '0' is not a number of days from 1 to 3660"),
        (["stats", "--days", "x"], "--days: 'x' is not a number of days"),
        (["stats", "--days", "99999"], "--days: '99999' is not a number of days"),
        (["stats", "--format", "xml"], "--format: 'xml' is not one of table, json"),
    ],
)
def test_stats_errors_are_one_line_and_exit_2(
    argv: list[str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'bot.db'}")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"interventional-bot: {message}") and err.count("\n") == 1, err


def test_stats_of_a_new_database(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'bot.db'}")
    assert main(["stats"]) == 0
    assert "(no topic opened in the period)" in capsys.readouterr().out
    assert main(["stats", "--format", "json", "--days", "30"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["days"] == 30 and data["topics"] == [] and data["daily"] == []
