"""Floods, through the emulator over real HTTP, with the production limits and Telegram's.

The bot runs with the default flood settings (3 updates/s per user, bursts of 5; replies at
1/s per chat, bursts of 2), and the emulator enforces Telegram's limits (30 messages/s, 1/s
per chat with bursts of 3, 429 with ``retry_after`` beyond). No timing is asserted: the figures
(rates, latencies) are printed by benchmarks/abuse.py; here what must hold does.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import AsyncIterator, Callable

from telegram import Update

from bot.broadcast import BroadcastDraft, queue_broadcast
from bot.core.telegram_html import parse_html
from bot.telegram_side.update_scheduler import UpdateScheduler
from bot.testing import BotAPIEmulator, RateLimits, RecordedRequest, SimUser
from bot.testing.harness import RunningBot
from tests.conftest import CONTENT, LOCALES, BotStarter, make_settings

#: The shipped defaults, over conftest's fast simulated users.
FLOOD_DEFAULTS = {
    "USER_UPDATE_RATE": "3",
    "USER_UPDATE_BURST": "5",
    "CHAT_REPLY_RATE": "1",
    "CHAT_REPLY_BURST": "2",
}
NEWS = {"en": "<b>Open day</b> on Saturday.", "zh_Hans": "<b>开放日</b>：周六。"}
NEWS_PLAIN = {parse_html(text).text for text in NEWS.values()}
SLOW_DOWN = "faster than I can answer"


@contextlib.asynccontextmanager
async def flood_bot(start_bot: BotStarter) -> AsyncIterator[RunningBot]:
    async with start_bot(make_settings(CONTENT, LOCALES, **FLOOD_DEFAULTS)) as bot:
        yield bot


def scheduler_of(bot: RunningBot) -> UpdateScheduler:
    queue = bot.app.update_queue
    assert isinstance(queue, UpdateScheduler)
    return queue


async def until(condition: Callable[[], bool], within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def replies_to(emulator: BotAPIEmulator, chat_id: int) -> list[RecordedRequest]:
    """The interactive bot's messages to a chat that Telegram accepted (not the news)."""
    return [
        r
        for r in emulator.requests_for("sendMessage", chat_id)
        if r.ok and parse_html(str(r.params.get("text", ""))).text not in NEWS_PLAIN
    ]


def most_in_any_window(times: list[float], seconds: float) -> int:
    times = sorted(times)
    counts = (sum(1 for u in times[i:] if u - t < seconds) for i, t in enumerate(times))
    return max(counts, default=0)


async def test_one_chat_flooding_does_not_slow_a_broadcast(
    start_bot: BotStarter, emulator: BotAPIEmulator
) -> None:
    emulator.rate_limits = RateLimits()  # Telegram's: 30/s, 1/s per chat (bursts of 3)
    async with flood_bot(start_bot) as bot:
        storage, engine = bot.runtime.storage, bot.runtime.engine
        assert engine is not None
        for uid in range(4000, 4150):
            emulator.user(uid)
            await storage.subscribe(uid, locale="en")
        flooder = emulator.user(4000)  # a subscriber, so the news goes to that chat too
        await flooder.send("/start")

        broadcast_id = await queue_broadcast(storage, BroadcastDraft(NEWS), created_by=None)
        engine.wake()
        await until(lambda: engine.delivering == broadcast_id)
        started = time.perf_counter()
        for _ in range(60):  # 60 /start in 3 s
            emulator.deliver_text(flooder.id, "/start")
            await asyncio.sleep(0.05)
        await until(lambda: engine.delivering is None, within=60)
        await asyncio.sleep(1.5)  # whatever the flooder is still owed

        summary = await storage.broadcast_summary(broadcast_id)
        assert summary is not None and summary.sent == 150
        # No 429 at all, so none for a bulk send, and the broadcast never paused.
        assert emulator.stats.too_many_requests == 0, emulator.errors[:5]
        assert engine.pacer.pauses == 0
        # The flooder got about one reply a second (a burst of 2, then 1/s), and one note.
        times = [r.time for r in replies_to(emulator, flooder.id) if r.time >= started]
        assert 1 <= len(times) <= 2 + (max(times) - started) + 1
        assert most_in_any_window(times, 1.0) <= 2
        notes = [m for m in emulator.bot_messages(flooder.id) if SLOW_DOWN in m.text]
        assert len(notes) == 1
        assert scheduler_of(bot).stats.dropped >= 40


async def test_a_press_that_changes_nothing_sends_nothing(
    bot: RunningBot, emulator: BotAPIEmulator
) -> None:
    # Pressing Home on the main menu: Telegram answers "message is not modified", which is
    # success, not a reason to send the menu again as a new message (each new message takes
    # one of the bot's 30 a second).
    user = emulator.user(5100)
    await user.send("/start")
    for _ in range(3):
        await user.press_data("1:h")
    assert len(user.bot_messages()) == 1
    assert all(p.answered for p in user.presses)
    assert [r.description for r in emulator.errors] == [emulator.errors[0].description] * len(
        emulator.errors
    )
    assert emulator.errors and "not modified" in str(emulator.errors[0].description)


async def browse(user: SimUser, presses: int) -> list[str]:
    """A patient reading: open a topic, go back, at a human pace; returns what they saw."""
    await user.send("/start", within=20)
    seen = []
    for n in range(presses):
        label = "Features" if n % 2 == 0 else "⬅ Back"
        await user.press(label, within=20)
        seen.append(user.last_text())
        await asyncio.sleep(0.6)
    return seen


async def flood(emulator: BotAPIEmulator, user: SimUser, seconds: float) -> int:
    """Ten updates a second: /start, text, and presses on the menu, never waiting; returns
    how many were sent. The user must have the menu already."""
    menu = user.last_bot_message()
    assert menu is not None
    deadline = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < deadline:
        if n % 3 == 0:
            emulator.deliver_text(user.id, "/start" if n % 2 else "help me")
        else:
            data = "1:t:features" if n % 2 else "1:h"
            user.presses.append(emulator.deliver_press(user.id, menu.message_id, data))
        n += 1
        await asyncio.sleep(0.1)
    return n


#: Whose objects count as the bot's memory: the bot, PTB and what they use; not the emulator
#: and simulated users (they keep every message, edit and press), not plain containers.
BOT_SIDE = ("bot.", "telegram", "httpx", "httpcore", "sqlalchemy", "aiosqlite", "asyncio")


def live_objects(emulator: BotAPIEmulator) -> tuple[int, int]:
    """(the bot side's objects alive, PTB updates among them) once garbage is collected."""
    emulator.requests = []
    gc.collect()
    bot_side = [
        o
        for o in gc.get_objects()
        if str(getattr(type(o), "__module__", "")).startswith(BOT_SIDE)
        and not str(getattr(type(o), "__module__", "")).startswith("bot.testing")
    ]
    return len(bot_side), sum(isinstance(o, Update) for o in bot_side)


async def test_ten_users_flooding_while_twenty_browse(
    start_bot: BotStarter, emulator: BotAPIEmulator
) -> None:
    emulator.rate_limits = RateLimits()
    async with flood_bot(start_bot) as bot:
        scheduler = scheduler_of(bot)
        flooders = [emulator.user(6000 + i) for i in range(10)]
        browsers = [emulator.user(7000 + i) for i in range(20)]
        tasks_seen: list[int] = []

        async def watch() -> None:
            while True:
                tasks_seen.append(len(asyncio.all_tasks()))
                await asyncio.sleep(0.05)

        for flooder in flooders:
            await flooder.send("/start")
        watcher = asyncio.create_task(watch())
        try:
            floods = [asyncio.create_task(flood(emulator, f, 8.0)) for f in flooders]
            await asyncio.sleep(1.0)  # the flood is on
            seen = await asyncio.gather(*(browse(b, 6) for b in browsers))
            await asyncio.gather(*floods)
        finally:
            watcher.cancel()

        # Every press of the twenty was answered, none was turned away, and each showed the
        # screen it asked for.
        for browser, texts in zip(browsers, seen, strict=True):
            assert all(p.answered and p.answer_text is None for p in browser.presses)
            assert all("Features" in t.splitlines()[0] for t in texts[::2]), texts
            assert all(t.splitlines()[0] != texts[0].splitlines()[0] for t in texts[1::2])
        # The flooders' presses were answered too (dropped ones with "one moment" or nothing).
        await until(lambda: all(p.answered for f in flooders for p in f.presses), within=20)
        assert scheduler.stats.dropped > 100
        # Bounded: updates in flight and waiting, and tasks (no task per update).
        limits = scheduler.limits
        assert scheduler.stats.most_in_flight <= limits.max_in_flight
        assert scheduler.stats.most_waiting <= 30 * limits.max_per_user
        assert max(tasks_seen) <= _task_bound(limits.max_in_flight), max(tasks_seen)
        # Telegram's limits held: no 429 for anyone.
        assert emulator.stats.too_many_requests == 0


async def test_memory_stays_flat_under_a_flood(
    start_bot: BotStarter, emulator: BotAPIEmulator
) -> None:
    async with flood_bot(start_bot) as bot:
        scheduler = scheduler_of(bot)
        warm_up = emulator.user(7999)  # every screen rendered once (Babel loads its data)
        await browse(warm_up, 2)
        flooders = [emulator.user(6100 + i) for i in range(10)]
        for flooder in flooders:
            await flooder.send("/start")

        async def flood_then_settle(seconds: float) -> tuple[int, int]:
            await asyncio.gather(*(flood(emulator, f, seconds) for f in flooders))
            await until(lambda: scheduler.waiting == 0 and scheduler.in_flight == 0)
            await asyncio.sleep(1.0)  # the last answers to dropped presses
            return live_objects(emulator)

        objects_before, updates_before = await flood_then_settle(2.0)
        dropped = scheduler.stats.dropped
        objects_after, updates_after = await flood_then_settle(10.0)
        # A thousand more updates, most of them dropped, leave nothing behind that the first
        # two hundred did not: no update is kept (but the last one, still named by PTB's
        # fetching loops), and the objects alive are as many.
        assert scheduler.stats.dropped - dropped > 500
        assert updates_after <= 2 and updates_after <= updates_before + 1
        assert objects_after - objects_before < 100, (objects_before, objects_after)


def _task_bound(max_in_flight: int) -> int:
    """Tasks alive at once may not grow with the flood: PTB's updates in flight, plus what the
    process also runs (the in-process emulator's HTTP handlers, answers to dropped presses),
    which varies with the machine's load. A task per update would be thousands."""
    return 2 * max_in_flight + 128
