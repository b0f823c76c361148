"""Broadcasts end to end: the CLI, the running bot delivering them, and a crash mid-broadcast.

The bot runs as `python -m bot run` in a subprocess where a test kills it; the emulator lives
in the test process so that it survives the kill and counts every message each chat received.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.broadcast import BroadcastDraft, queue_broadcast
from bot.broadcast.engine_config import in_flight_bound
from bot.config import PROJECT_ROOT
from bot.core.i18n import Catalogs
from bot.storage import Storage, open_storage
from bot.testing import BotAPIEmulator, RateLimits
from bot.testing.harness import running_bot
from tests.conftest import make_settings
from tests.test_broadcast import until

TEXTS = {"en": "<b>Open day</b> on Saturday.", "zh_Hans": "<b>开放日</b>在周六。"}


def bot_env(emu: BotAPIEmulator | None, database_url: str, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CONTENT_DIR": str(PROJECT_ROOT / "content"),
        "LOCALES_DIR": str(PROJECT_ROOT / "locales"),
        "LOG_LEVEL": "WARNING",
        **extra,
    }
    env.pop("BOT_TOKEN", None)
    if emu is not None:
        env["BOT_TOKEN"] = emu.token
        env["BOT_API_BASE_URL"] = emu.base_url
    return env


async def cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env=env,
        cwd=PROJECT_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[tuple[str, Storage]]:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    async with await open_storage(url) as storage:
        yield url, storage


async def test_cli_create_list_show_cancel_preview(
    tmp_path: Path, db: tuple[str, Storage], emulator: BotAPIEmulator
) -> None:
    url, storage = db
    for uid, locale in ((1, "en"), (2, "zh_Hans"), (3, "zh_Hans")):
        await storage.subscribe(uid, locale=locale)
    env = bot_env(None, url)

    bad = tmp_path / "bad.yaml"
    bad.write_text("texts:\n  en: Hello\n  zh_Hans: <i>你好\n", encoding="utf-8")
    code, out, err = await cli(env, "broadcast", "create", str(bad))
    assert code == 1 and out == ""
    assert f"{bad}:3: text for zh_Hans: can't parse entities" in err
    assert "Traceback" not in err

    code, out, err = await cli(env, "broadcast", "create", "examples/broadcast.yaml")
    assert code == 0, err
    broadcast_id = int(out.strip())
    assert "3 recipient(s)" in err and "2030-06-01 01:00 UTC" in err

    code, out, _ = await cli(env, "broadcast", "list")
    assert code == 0 and f"{broadcast_id:>5}  scheduled" in out

    code, out, _ = await cli(env, "broadcast", "show", str(broadcast_id))
    assert code == 0
    assert "recipients 3: sent 0, blocked 0, failed 0, skipped 0, in doubt 0, remaining 3" in out
    assert "texts:     en, zh_Hans" in out

    # preview: the user's language, through the Bot API (here: the emulator).
    user = emulator.user(2, language_code="zh-hans")
    code, out, err = await cli(
        bot_env(emulator, url), "broadcast", "preview", str(broadcast_id), "--to", "2"
    )
    assert code == 0, err
    assert f"sent broadcast {broadcast_id} (zh_Hans) to 2" in out
    assert user.chat.messages[-1].text.startswith("介入治疗开放日")
    zh = Catalogs.load(PROJECT_ROOT / "locales", ["zh_Hans"]).get("zh_Hans")
    assert user.chat.messages[-1].buttons() == [["🔕 " + zh("Unsubscribe")]]
    code, _, err = await cli(env, "broadcast", "preview", str(broadcast_id), "--to", "2")
    assert code == 2 and "BOT_TOKEN" in err

    code, out, _ = await cli(env, "broadcast", "cancel", str(broadcast_id))
    assert code == 0 and "cancelled" in out
    code, _, err = await cli(env, "broadcast", "cancel", str(broadcast_id))
    assert code == 1 and "already cancelled" in err
    code, _, err = await cli(env, "broadcast", "show", "999")
    assert code == 1 and "no such broadcast" in err


async def test_running_bot_delivers_and_patients_menus_keep_priority(
    db: tuple[str, Storage],
) -> None:
    url, storage = db
    rate = 60.0
    limits = RateLimits(global_per_second=rate)
    async with BotAPIEmulator(rate_limits=limits) as emu:
        for uid in range(1, 301):
            emu.user(uid, language_code="en")
            await storage.subscribe(uid, locale="en")
        patient = emu.user(5000, language_code="en")
        broadcast_id = await queue_broadcast(storage, BroadcastDraft(TEXTS), created_by=None)
        settings = make_settings(BROADCAST_RATE=str(rate))
        async with running_bot(settings, emu, database_url=url) as running:
            await until(lambda: emu.stats.messages_sent >= 60)  # well under way
            pressed_at = time.perf_counter()
            await patient.send("/start", within=10)  # a reply with the main menu
            await patient.press(patient.chat.messages[-1].buttons()[0][0], within=10)
            answered_at = time.perf_counter()
            summary = await storage.broadcast_summary(broadcast_id)
            assert summary is not None and summary.status == "sending"
            # The patient was answered while most of the broadcast was still to go.
            assert summary.remaining > 100
            deadline = time.monotonic() + 30
            while (await storage.broadcast_status(broadcast_id)) != "done":
                assert time.monotonic() < deadline
                await asyncio.sleep(0.1)
            engine = running.runtime.engine
            assert engine is not None
            assert engine.pacer.interactive_slots >= 1  # the reply took a bulk slot
        bulk_after = [
            r
            for r in emu.requests_for("sendMessage")
            if r.chat_id != 5000 and r.time > answered_at
        ]
        assert len(bulk_after) > 100 and pressed_at < answered_at
        assert emu.stats.too_many_requests == 0
        assert all(len(emu.bot_messages(uid)) == 1 for uid in range(1, 301))
        assert emu.violations == []


async def test_kill_mid_broadcast_and_resume(db: tuple[str, Storage]) -> None:
    url, storage = db
    rate = 100.0
    recipients = range(1, 601)
    async with BotAPIEmulator(rate_limits=RateLimits(global_per_second=rate)) as emu:
        for uid in recipients:
            emu.user(uid, language_code="en")
            await storage.subscribe(uid, locale="zh_Hans" if uid % 3 else "en")
        broadcast_id = await queue_broadcast(storage, BroadcastDraft(TEXTS), created_by=None)
        env = bot_env(emu, url, BROADCAST_RATE=str(rate))

        async def start() -> asyncio.subprocess.Process:
            return await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run", env=env, cwd=PROJECT_ROOT
            )

        first = await start()
        deadline = time.monotonic() + 30
        while emu.stats.messages_sent < 200:
            assert time.monotonic() < deadline and first.returncode is None
            await asyncio.sleep(0.01)
        first.send_signal(signal.SIGKILL)
        await first.wait()
        sent_before = emu.stats.messages_sent
        assert sent_before < len(recipients)  # killed mid-broadcast

        second = await start()
        try:
            deadline = time.monotonic() + 60
            while (await storage.broadcast_status(broadcast_id)) != "done":
                assert time.monotonic() < deadline and second.returncode is None
                await asyncio.sleep(0.1)
        finally:
            second.send_signal(signal.SIGTERM)
            await asyncio.wait_for(second.wait(), 30)
        assert second.returncode == 0

        summary = await storage.broadcast_summary(broadcast_id)
        assert summary is not None
        states = await storage.recipient_states(broadcast_id)
        assert {state for state, _ in states.values()} == {"sent"}  # nobody skipped
        counts = {uid: len(emu.bot_messages(uid)) for uid in recipients}
        assert min(counts.values()) == 1
        duplicates = sum(n - 1 for n in counts.values())
        # Only recipients that were "sending" at the kill may have got it twice.
        assert summary.resent_after_crash <= in_flight_bound(rate)
        assert duplicates <= summary.resent_after_crash
        for uid in recipients:  # the stored message is the one the chat shows last
            assert states[uid][1] == emu.bot_messages(uid)[-1].message_id
        assert emu.stats.too_many_requests == 0


async def test_sigterm_during_a_broadcast_to_a_slow_telegram_exits_within_8_seconds(
    db: tuple[str, Storage],
) -> None:
    """Docker waits 10 s after SIGTERM. Telegram holds every send (longer than the engine
    waits): the bot stops claiming, gives the requests in flight a few seconds, records them
    as in doubt (they may have arrived), releases the rest, and exits well within that."""
    url, storage = db
    recipients = range(1, 201)
    async with BotAPIEmulator() as emu:
        for uid in recipients:
            emu.user(uid, language_code="en")
            await storage.subscribe(uid, locale="en")
        # Carried out at once, answered after 60 s: the client never sees the answer.
        emu.inject_fault("timeout", method="sendMessage", count=10_000, delay=60, executed=True)
        broadcast_id = await queue_broadcast(storage, BroadcastDraft(TEXTS), created_by=None)
        env = bot_env(emu, url, LOG_LEVEL="INFO")
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            env=env,
            cwd=PROJECT_ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            await until(lambda: len(emu.requests_for("sendMessage")) >= in_flight_bound(30))
            await asyncio.sleep(0.5)  # the window is full; nothing else can leave
        finally:
            process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            _, stderr = await asyncio.wait_for(process.communicate(), 30)
            took = time.monotonic() - signalled
        asked = {r.chat_id for r in emu.requests_for("sendMessage") if r.chat_id is not None}
    log = stderr.decode()
    print(f"\nSIGTERM to exit: {took:.2f} s with {len(asked)} sends in flight")
    assert process.returncode == 0, log
    assert took < 8, log
    assert "event=stopped" in log and "Traceback" not in log
    states = await storage.recipient_states(broadcast_id)
    assert {uid for uid, (state, _) in states.items() if state == "in_doubt"} == asked
    assert {state for uid, (state, _) in states.items() if uid not in asked} == {"pending"}
    summary = await storage.broadcast_summary(broadcast_id)
    assert summary is not None and summary.status == "sending"  # resumed at the next start
    assert summary.sending == 0 and summary.in_doubt == len(asked) == in_flight_bound(30)
    assert all(len(emu.bot_messages(uid)) == 1 for uid in asked)  # they did arrive
