"""Flood handling, part by part: rate limits, the fair queue, the scheduler, pacing, logs.

Each part is driven by a stepped clock and real PTB ``Update`` objects, without HTTP; the whole
bot under a flood, through the emulator, is tests/test_flood.py.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from telegram import Update

from bot.config import ConfigError, Settings
from bot.core.flood import DropReason, Entry, FairQueue, KeyedRate
from bot.telegram_side.burst_log import BurstLog
from bot.telegram_side.database_health import DatabaseHealth, DatabaseOutage
from bot.telegram_side.rate_limit_watch import RateLimitWatch
from bot.telegram_side.reply_pacing import ReplyDropped, ReplyPacing
from bot.telegram_side.update_scheduler import FloodLimits, UpdateScheduler
from tests.clocks import SteppedClock

_ids = itertools.count(1)


def message(user: int, text: str = "hello", chat_type: str = "private") -> Update:
    chat = {"id": user, "type": chat_type, "first_name": "Pat"}
    from_user = {"id": user, "is_bot": False, "first_name": "Pat", "language_code": "en"}
    payload: dict[str, Any] = {
        "message_id": next(_ids),
        "date": 1_700_000_000,
        "chat": chat,
        "from": from_user,
        "text": text,
    }
    if text.startswith("/"):
        length = len(text.split(maxsplit=1)[0])
        payload["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
    return Update.de_json({"update_id": next(_ids), "message": payload}, None)


def press(user: int, data: str, message_id: int = 7) -> Update:
    from_user = {"id": user, "is_bot": False, "first_name": "Pat"}
    payload = {
        "id": str(next(_ids)),
        "from": from_user,
        "chat_instance": "1",
        "data": data,
        "message": {
            "message_id": message_id,
            "date": 1_700_000_000,
            "chat": {"id": user, "type": "private", "first_name": "Pat"},
            "from": {"id": 1, "is_bot": True, "first_name": "Bot"},
            "text": "menu",
        },
    }
    return Update.de_json({"update_id": next(_ids), "callback_query": payload}, None)


# -- KeyedRate ----------------------------------------------------------------------------------


def test_a_token_bucket_per_key_allows_a_burst_then_the_rate() -> None:
    clock = SteppedClock()
    rate: KeyedRate[int] = KeyedRate(3.0, 5, clock=clock.monotonic)
    assert [rate.try_take(1) for _ in range(6)] == [True] * 5 + [False]
    assert rate.try_take(2)  # another key has its own bucket
    clock.advance(1 / 3)
    assert rate.try_take(1) and not rate.try_take(1)
    clock.advance(10)  # a quiet user gets the whole burst back, no more
    assert [rate.try_take(1) for _ in range(6)] == [True] * 5 + [False]


def test_reservations_space_events_and_a_block_pushes_the_key_back() -> None:
    clock = SteppedClock()
    rate: KeyedRate[int] = KeyedRate(1.0, 2, clock=clock.monotonic)
    waits = []
    for _ in range(4):
        reservation = rate.reserve(9, max_wait=5)
        assert reservation is not None
        waits.append(reservation.wait)
    assert waits == [0.0, 0.0, 1.0, 2.0]
    assert rate.reserve(9, max_wait=2.5) is None  # 3 s away: nothing taken
    last = rate.reserve(9, max_wait=3)
    assert last is not None and last.wait == 3.0
    rate.release(9, last)  # given back: the next one is 3 s away again
    assert rate.delay(9) == 3.0
    rate.block(10, 7.0)  # a 429 for chat 10: nothing before 7 s, then one at a time
    assert rate.delay(10) == 7.0 and rate.delay(11) == 0.0
    clock.advance(7.0)
    assert rate.try_take(10) and not rate.try_take(10)


# -- FairQueue ----------------------------------------------------------------------------------


def entry(key: int, item: str, **kw: Any) -> Entry[int, str]:
    return Entry(item, key, 0.0, **kw)


def test_the_fair_queue_serves_users_round_robin_one_at_a_time() -> None:
    fair: FairQueue[int, str] = FairQueue(max_in_flight=10, max_waiting=100, max_per_key=10)
    for n in range(5):
        fair.offer(entry(1, f"flood{n}"))
    fair.offer(entry(2, "patient"))
    first, _, _ = fair.take(0)
    second, _, _ = fair.take(0)
    assert first is not None and second is not None
    assert (first.item, second.item) == ("flood0", "patient")
    # User 1's next update waits until the first is done, then has its turn again.
    assert fair.take(0) == (None, [], None)
    fair.done(1)
    third, _, _ = fair.take(0)
    assert third is not None and third.item == "flood1"
    assert fair.in_flight == 2 and fair.waiting == 3


def test_the_fair_queue_is_bounded_and_sheds_what_cannot_help() -> None:
    fair: FairQueue[int, str] = FairQueue(max_in_flight=1, max_waiting=4, max_per_key=3)
    shed = []
    for n in range(4):
        shed += fair.offer(entry(1, f"a{n}"))
    assert [(e.item, r) for e, r in shed] == [("a0", "overflow")]  # 3 per user at most
    # A newer press on the same message replaces a navigation press still waiting, not an
    # action.
    nav = entry(2, "back", slot="m1", replaceable=True)
    action = entry(2, "toggle", slot="m1")
    assert fair.offer(nav) == []
    dropped = fair.offer(action)
    assert dropped == [(nav, "superseded")]
    # Full (4 waiting): room is made by shedding the oldest item of the longest queue.
    later = fair.offer(entry(2, "later", slot="m1"))
    assert [(e.item, r) for e, r in later] == [("a1", "overflow")]
    assert fair.waiting == 4
    # One in flight at most; what expired is shed when its turn comes.
    fair2: FairQueue[int, str] = FairQueue(max_in_flight=1, max_waiting=9, max_per_key=9)
    fair2.offer(entry(3, "old press", expires=10.0))
    fair2.offer(entry(3, "new press", expires=30.0))
    got, expired, _ = fair2.take(20.0)
    assert got is not None and got.item == "new press"
    assert [(e.item, r) for e, r in expired] == [("old press", "stale")]
    fair2.offer(entry(4, "x"))
    assert fair2.take(20.0) == (None, [], None)  # one in flight already


def test_a_user_whose_chat_must_wait_is_passed_over_and_keeps_their_place() -> None:
    fair: FairQueue[int, str] = FairQueue(max_in_flight=5, max_waiting=9, max_per_key=9)
    fair.offer(entry(1, "paced"))
    fair.offer(entry(2, "free"))
    delays = {1: 0.4, 2: 0.0}
    got, _, _ = fair.take(0, delays.__getitem__)
    assert got is not None and got.item == "free"
    assert fair.take(0, delays.__getitem__) == (None, [], 0.4)  # look again in 0.4 s
    delays[1] = 0.0
    got, _, _ = fair.take(0, delays.__getitem__)
    assert got is not None and got.item == "paced"


def test_a_full_queue_turns_a_newcomer_away_only_when_nobody_has_a_backlog() -> None:
    fair: FairQueue[int, str] = FairQueue(max_in_flight=1, max_waiting=2, max_per_key=5)
    fair.offer(entry(1, "a"))
    fair.offer(entry(2, "b"))
    new = entry(3, "c")
    assert fair.offer(new) == [(new, "overflow")]
    assert fair.waiting == 2


# -- the scheduler ------------------------------------------------------------------------------


class Drops:
    def __init__(self) -> None:
        self.seen: list[tuple[Update, DropReason]] = []

    def __call__(self, update: Update, reason: DropReason) -> None:
        self.seen.append((update, reason))

    def reasons(self) -> list[DropReason]:
        return [r for _, r in self.seen]


def scheduler(clock: SteppedClock, **limits: Any) -> tuple[UpdateScheduler, Drops]:
    drops = Drops()
    queue = UpdateScheduler(FloodLimits(**limits), on_drop=drops, clock=clock.monotonic)
    return queue, drops


async def test_a_flooding_user_is_cut_to_their_rate_and_their_messages_stop() -> None:
    clock = SteppedClock()
    queue, drops = scheduler(clock)
    for _ in range(8):
        queue.put_nowait(message(1, "spam"))
    assert queue.stats.admitted == 5 and drops.reasons() == ["rate"] * 3
    # Flooding now: a message is dropped even when a token is back, for the cooldown …
    clock.advance(1.0)
    queue.put_nowait(message(1, "/start"))
    assert drops.reasons()[-1] == "flooding"
    # … but a button press still goes through.
    queue.put_nowait(press(1, "1:h"))
    assert queue.stats.admitted == 6
    clock.advance(11.0)  # calm for longer than the cooldown: messages are welcome again
    queue.put_nowait(message(1, "/help"))
    assert queue.stats.admitted == 7
    # Another user was never affected.
    queue.put_nowait(message(2, "/start"))
    assert queue.stats.admitted == 8


async def test_the_scheduler_hands_out_fairly_and_within_its_bounds() -> None:
    clock = SteppedClock()
    queue, drops = scheduler(clock, user_burst=50, user_rate=50, max_in_flight=2)
    for n in range(5):
        queue.put_nowait(message(1, f"text {n}"))
    queue.put_nowait(message(2, "/start"))
    queue.put_nowait(message(3, "/start"))
    a, b = await queue.get(), await queue.get()
    assert isinstance(a, Update) and isinstance(b, Update)
    assert [u.effective_user.id for u in (a, b) if u.effective_user] == [1, 2]
    waiting = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    assert not waiting.done()  # two in flight: the third waits for one to finish
    queue.finished(a)
    queue.task_done()
    c = await asyncio.wait_for(waiting, 1)
    assert isinstance(c, Update) and c.effective_user is not None
    assert c.effective_user.id == 3  # user 3 before user 1's backlog
    assert queue.stats.most_in_flight == 2 and drops.seen == []


async def test_newer_screens_replace_older_ones_and_old_presses_are_shed() -> None:
    clock = SteppedClock()
    queue, drops = scheduler(clock, max_in_flight=1)
    presses_seen: list[tuple[int, int]] = []
    queue.on_press = lambda chat, msg: presses_seen.append((chat, msg))
    queue.put_nowait(message(9, "/start"))  # handed out: the others wait behind it
    first = await queue.get()
    queue.put_nowait(press(1, "1:t:features"))
    queue.put_nowait(press(1, "1:h"))  # same message: the topic screen would be overwritten
    queue.put_nowait(press(1, "1:s"))  # subscribe: an action, kept …
    queue.put_nowait(press(1, "1:h"))  # … while the Home before it goes
    assert drops.reasons() == ["superseded"] * 2
    queue.put_nowait(message(2, "/start"))
    queue.put_nowait(message(2, "/start@interventional_test_bot"))
    queue.put_nowait(message(2, "my question"))  # text is kept: it may be an admin's input
    queue.put_nowait(message(2, "/help"))
    assert drops.reasons() == ["superseded"] * 4
    assert presses_seen == [(1, 7)] * 4
    clock.advance(15.0)  # the presses waited past Telegram's answer window
    queue.finished(first)
    queue.task_done()
    got = await queue.get()
    assert isinstance(got, Update) and got.message is not None
    assert drops.reasons()[4:] == ["stale"] * 2  # Subscribe and the last Home
    assert queue.qsize() == 1


async def test_stop_waits_for_accepted_updates_and_joins() -> None:
    clock = SteppedClock()
    queue, _ = scheduler(clock)
    stop = object()
    queue.put_nowait(message(1, "/start"))
    await queue.put(stop)
    update = await queue.get()
    assert isinstance(update, Update)  # updates first, then the stop signal
    joined = asyncio.create_task(queue.join())
    assert await queue.get() is stop
    queue.task_done()
    await asyncio.sleep(0)
    assert not joined.done()
    queue.finished(update)
    queue.task_done()
    await asyncio.wait_for(joined, 1)
    queue.put_nowait(message(1, "/help"))
    assert queue.get_nowait() is not None  # dropped at shutdown, bounds or not
    with pytest.raises(asyncio.QueueEmpty):
        queue.get_nowait()
    queue.task_done()
    with pytest.raises(ValueError, match="too many"):
        queue.task_done()


# -- replies per chat ---------------------------------------------------------------------------


async def test_replies_to_a_chat_are_paced_and_a_429_backs_off_that_chat_only() -> None:
    clock = SteppedClock()
    pacing = ReplyPacing(1.0, 2, clock=clock.monotonic, sleep=clock.sleep)
    for _ in range(3):
        await pacing.turn("sendMessage", 5, None)
    assert clock.sleeps == [pytest.approx(1.05)]  # a little under 1/s, to be safe
    await pacing.turn("answerCallbackQuery", 5, None)  # not a message: never paced
    await pacing.turn("getMe", None, None)
    pacing.rate_limited(5, 30.0)
    with pytest.raises(ReplyDropped, match="rate_limited"):
        await pacing.turn("sendMessage", 5, None)
    await pacing.turn("sendMessage", 6, None)  # another chat: no wait at all
    assert len(clock.sleeps) == 1


async def test_an_edit_waiting_for_its_turn_gives_way_to_a_newer_press() -> None:
    clock = SteppedClock()
    gate = asyncio.Event()

    async def sleep(seconds: float) -> None:
        await gate.wait()
        await clock.sleep(seconds)

    pacing = ReplyPacing(1.0, 1, clock=clock.monotonic, sleep=sleep)
    pacing.press_arrived(5, 70)
    await pacing.turn("editMessageText", 5, 70)  # first: at once
    pacing.press_arrived(5, 70)
    waiting = asyncio.create_task(pacing.turn("editMessageText", 5, 70))
    await asyncio.sleep(0)
    pacing.press_arrived(5, 70)  # the patient tapped again while it waited
    gate.set()
    with pytest.raises(ReplyDropped, match="superseded"):
        await waiting
    assert pacing.superseded == 1
    assert pacing.delay(5) == 0.0  # its slot was given back to the newer screen


# -- 429s and logs ------------------------------------------------------------------------------


async def test_429s_from_one_chat_are_not_global_several_chats_are() -> None:
    clock = SteppedClock()
    watch = RateLimitWatch(chats=3, window=2.0, clock=clock.monotonic)
    assert not any(watch.saw("sendMessage", 1, 3.0) for _ in range(50))
    assert not watch.saw("sendMessage", 2, 3.0)
    assert watch.saw("sendMessage", 3, 3.0)  # a third chat within 2 s
    clock.advance(5)
    assert not watch.saw("editMessageText", 4, 1.0)
    assert watch.summary.pending == 53  # summed up, not yet written


def test_a_burst_is_one_line_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tests.burst")
    burst = BurstLog(logger, "rate_limited", interval=10)
    with caplog.at_level(logging.WARNING, logger="tests.burst"):
        burst.flush()  # nothing counted: nothing written
        burst.add("sendMessage", 1, retry_after=3.0)  # outside an event loop: at once
    assert [r.getMessage() for r in caplog.records] == [
        "event=rate_limited count=1 chats=1 sendMessage=1 max_retry_after=3 interval=10s"
    ]


async def test_a_burst_in_the_event_loop_is_summed_up(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tests.burst")
    burst = BurstLog(logger, "rate_limited", interval=0.05)
    with caplog.at_level(logging.WARNING, logger="tests.burst"):
        for n in range(500):
            burst.add("sendMessage" if n % 5 else "editMessageText", n % 7, retry_after=n % 4)
        await asyncio.sleep(0.2)
    assert [r.getMessage() for r in caplog.records] == [
        "event=rate_limited count=500 chats=7 editMessageText=100 sendMessage=400 "
        "max_retry_after=3 interval=0.05s"
    ]


async def test_a_database_outage_is_one_line_each_way(caplog: pytest.LogCaptureFixture) -> None:
    clock = SteppedClock()
    health = DatabaseHealth(probe_every=5.0, clock=clock.monotonic)
    calls = 0

    async def failing() -> None:
        nonlocal calls
        calls += 1
        raise OperationalError("SELECT 1", None, ConnectionRefusedError("refused"))

    async def working() -> str:
        nonlocal calls
        calls += 1
        return "ok"

    with caplog.at_level(logging.INFO, logger="bot.telegram_side.database_health"):
        for _ in range(100):
            with pytest.raises(DatabaseOutage):
                await health.call(failing, "touch_user")
        assert calls == 1 and health.down  # the others were not even tried
        health.succeeded()  # a call that started before the failure ended well: still down
        assert health.down
        clock.advance(5.0)
        assert await health.call(working, "touch_user") == "ok"  # the probe
        assert await health.call(working, "touch_user") == "ok"
    assert [r.getMessage() for r in caplog.records] == [
        "event=database_unavailable where=touch_user error=OperationalError "
        "fallback=menus_from_memory",
        "event=database_available after=5.0s failed_calls=1 skipped_calls=99",
    ]


# -- settings -----------------------------------------------------------------------------------


def test_flood_settings_have_defaults_and_one_line_errors() -> None:
    settings = Settings.from_env({}, require_token=False)
    assert (settings.user_update_rate, settings.user_update_burst) == (3.0, 5)
    assert (settings.chat_reply_rate, settings.chat_reply_burst) == (1.0, 2)
    assert (settings.max_concurrent_updates, settings.max_waiting_updates) == (64, 1000)
    custom = Settings.from_env(
        {"USER_UPDATE_RATE": "0.5", "MAX_WAITING_UPDATES": "50"}, require_token=False
    )
    assert custom.user_update_rate == 0.5 and custom.max_waiting_updates == 50
    for name, value in [
        ("USER_UPDATE_RATE", "fast"),
        ("USER_UPDATE_RATE", "0"),
        ("CHAT_REPLY_RATE", "-1"),
        ("USER_UPDATE_BURST", "0"),
        ("MAX_CONCURRENT_UPDATES", "2.5"),
    ]:
        with pytest.raises(ConfigError) as caught:
            Settings.from_env({name: value}, require_token=False)
        assert str(caught.value).startswith(f"{name}: ") and "\n" not in str(caught.value)


async def test_at_stop_a_backlog_gets_a_moment_then_is_dropped() -> None:
    queue, drops = scheduler(SteppedClock(), max_in_flight=1)
    first = message(1, "/start")
    queue.put_nowait(first)
    queue.put_nowait(message(2, "/start"))
    queue.put_nowait(press(3, "1:h"))
    assert await queue.get() is first
    # Nothing finishes meanwhile: after the moment, both waiting updates are dropped.
    assert await queue.settle(within=0.0) == 2
    assert drops.reasons() == ["shutdown", "shutdown"]
    queue.finished(first)
    queue.task_done()
    await asyncio.wait_for(queue.join(), 1)
