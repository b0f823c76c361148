"""Broadcasts: subscriptions storage, drafts and files, and delivery through the emulator.

Delivery tests run the real engine against the Bot API emulator with Telegram's rate limits on,
scaled up (e.g. 200 messages/s instead of 30) so that 500 recipients take seconds; the real
30/s pacing is measured by benchmarks/broadcast.py, not asserted here. Tests of waits (retries,
``send_at``) give the engine a clock of their own (tests/clocks.py) rather than wait for the
wall clock; the engine's decisions and clock alone are tested in test_broadcast_policy.py.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.broadcast import BroadcastDraft, choose_text, queue_broadcast, validate_draft
from bot.broadcast.clock import Clock
from bot.broadcast.engine import BroadcastEngine, EngineConfig
from bot.broadcast.engine_config import in_flight_bound
from bot.broadcast.file import load_broadcast_file
from bot.config import PROJECT_ROOT
from bot.core import callbacks
from bot.core.i18n import Catalogs
from bot.core.telegram_html import parse_html
from bot.storage import Storage
from bot.testing import BotAPIEmulator, RateLimits
from tests.clocks import FastClock

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
LOCALES = ["en", "zh_Hans"]
TEXTS = {
    "en": "<b>Open day</b> on Saturday: meet our interventional radiologists.",
    "zh_Hans": "<b>开放日</b>：周六与介入科医生见面。",
}
PLAIN = {locale: parse_html(text).text for locale, text in TEXTS.items()}


async def until(condition: Callable[[], bool], within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def catalogs() -> Catalogs:
    return Catalogs.load(PROJECT_ROOT / "locales", LOCALES)


# -- subscriptions ------------------------------------------------------------------------------


async def test_subscription_lifecycle(storage: Storage) -> None:
    assert await storage.get_subscription(1) is None
    sub = await storage.subscribe(1, locale="zh_Hans", interests=["treatments"], now=T0)
    assert sub.active and sub.subscribed_at == T0 and sub.interests == ("treatments",)

    # Subscribing again while subscribed keeps the consent time and the interests.
    again = await storage.subscribe(1, locale="en", now=T0 + timedelta(days=1))
    assert again.subscribed_at == T0 and again.interests == ("treatments",)
    assert again.locale == "en"

    assert await storage.unsubscribe(1, now=T0 + timedelta(days=2)) is True
    assert await storage.unsubscribe(1) is False  # no longer active
    ended = await storage.get_subscription(1)
    assert ended is not None and not ended.active
    assert ended.unsubscribed_at == T0 + timedelta(days=2)

    # Resubscribing is new consent: new time, given interests.
    back = await storage.subscribe(1, locale="en", now=T0 + timedelta(days=3))
    assert back.active and back.subscribed_at == T0 + timedelta(days=3)
    assert back.interests == () and back.unsubscribed_at is None

    await storage.set_interests(1, ["events", "treatments"])
    await storage.set_subscription_locale(1, "zh_Hans")
    changed = await storage.get_subscription(1)
    assert changed is not None
    assert changed.interests == ("events", "treatments") and changed.locale == "zh_Hans"
    with pytest.raises(ValueError, match="interest id"):
        await storage.set_interests(1, ["Bad,Id"])


async def test_blocking_ends_the_subscription_and_unblocking_does_not_renew_it(
    storage: Storage,
) -> None:
    await storage.subscribe(7, locale="en", now=T0)
    await storage.mark_blocked(7, now=T0 + timedelta(hours=1))
    blocked = await storage.get_subscription(7)
    assert blocked is not None and not blocked.active
    assert blocked.blocked_at == blocked.unsubscribed_at == T0 + timedelta(hours=1)

    await storage.mark_unblocked(7)
    unblocked = await storage.get_subscription(7)
    assert unblocked is not None and unblocked.blocked_at is None
    assert not unblocked.active  # still unsubscribed: unblocking is not consent
    assert await storage.count_active_subscriptions() == 0


async def test_queue_plans_a_snapshot_of_matching_active_subscribers(storage: Storage) -> None:
    await storage.subscribe(1, locale="en", interests=["treatments"])
    await storage.subscribe(2, locale="zh_Hans", interests=["events"])
    await storage.subscribe(3, locale="zh_Hans", interests=["treatments", "events"])
    await storage.subscribe(4, locale="en")
    await storage.subscribe(5, locale="en")
    await storage.unsubscribe(5)
    await storage.subscribe(6, locale="en")
    await storage.mark_blocked(6)
    await storage.subscribe(8, locale="en", interests=["treat_ments"])  # `_` is no wildcard

    async def planned(draft: BroadcastDraft) -> set[int]:
        broadcast_id = await queue_broadcast(storage, draft, created_by=None)
        return set(await storage.recipient_states(broadcast_id))

    assert await planned(BroadcastDraft(TEXTS)) == {1, 2, 3, 4, 8}
    assert await planned(BroadcastDraft({"zh_Hans": "x"}, locales=("zh_Hans",))) == {2, 3}
    # 4 picked no topic, which asks for all the news; 2 picked only another topic.
    assert await planned(BroadcastDraft(TEXTS, interests=("treatments",))) == {1, 3, 4}
    assert await planned(
        BroadcastDraft({"en": "x"}, locales=("en",), interests=("events", "treatments"))
    ) == {1, 4}
    # Subscribing after queueing does not join a queued broadcast.
    broadcast_id = await queue_broadcast(storage, BroadcastDraft(TEXTS), created_by=42)
    await storage.subscribe(9, locale="en")
    summary = await storage.broadcast_summary(broadcast_id)
    assert summary is not None
    assert summary.total == 5 and summary.pending == 5 and summary.status == "scheduled"
    assert summary.created_by == 42


# -- drafts, files, text choice ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("draft", "expected"),
    [
        (BroadcastDraft(TEXTS), []),
        (BroadcastDraft({"zh_Hans": "你好"}, locales=("zh_Hans",)), []),
        (BroadcastDraft({"en": "Hi"}), ["no text for zh_Hans"]),
        (BroadcastDraft({"en": "Hi"}, locales=("en", "zh_Hans")), ["no text for zh_Hans"]),
        (BroadcastDraft({**TEXTS, "fr": "Salut"}), ["unknown locale 'fr'"]),
        (BroadcastDraft({**TEXTS, "en": "<b>open"}), ["text for en: can't parse entities"]),
        (BroadcastDraft({**TEXTS, "en": "x" * 4097}), ["4097 characters"]),
        (BroadcastDraft({**TEXTS, "en": "<b> </b>"}), ["text for en: the text is empty"]),
        (BroadcastDraft(TEXTS, interests=()), ["audience interests is empty"]),
        (BroadcastDraft(TEXTS, interests=("nope",)), ["unknown interest 'nope'"]),
        (
            BroadcastDraft(TEXTS, send_at=datetime(2025, 6, 1, 9, 0)),
            ["send_at needs a time zone"],
        ),
    ],
)
def test_validate_draft(draft: BroadcastDraft, expected: list[str]) -> None:
    problems = validate_draft(
        draft,
        available_locales=LOCALES,
        default_locale="en",
        available_interests=["treatments", "events"],
    )
    assert len(problems) == len(expected), problems
    for problem, fragment in zip(problems, expected, strict=True):
        assert fragment in problem


def test_each_recipient_gets_their_locale_else_the_default() -> None:
    assert choose_text(TEXTS, "zh_Hans", "en") == ("zh_Hans", TEXTS["zh_Hans"])
    assert choose_text(TEXTS, "de", "en") == ("en", TEXTS["en"])


def test_broadcast_file_errors_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "news.yaml"
    path.write_text(
        "texts:\n"  # 1
        "  en: <b>Open day\n"  # 2
        "audience:\n"  # 3
        "  locales: [en, fr]\n"  # 4
        "send_at: 2025-06-01T09:00:00\n"  # 5
        "paid: maybe\n",  # 6
        encoding="utf-8",
    )
    draft, problems = load_broadcast_file(path, available_locales=LOCALES, default_locale="en")
    assert draft is None
    got = [(p.line, p.message) for p in problems]
    assert any(line == 2 and "text for en: can't parse entities" in m for line, m in got)
    assert any(line == 4 and "unknown locale 'fr'" in m for line, m in got)
    assert any(line == 5 and "time zone" in m for line, m in got)
    assert any(line == 6 and "'paid'" in m for line, m in got)


def test_example_broadcast_file_is_valid() -> None:
    draft, problems = load_broadcast_file(
        PROJECT_ROOT / "examples" / "broadcast.yaml",
        available_locales=LOCALES,
        default_locale="en",
    )
    assert problems == [] and draft is not None
    assert draft.send_at is not None and draft.send_at.utcoffset() == timedelta(hours=8)


# -- delivery through the emulator ------------------------------------------------------------

RATE = 200.0  # scaled Telegram limit for the tests (the emulator enforces the same)


@pytest.fixture
async def limited_emulator() -> AsyncIterator[BotAPIEmulator]:
    limits = RateLimits(global_per_second=RATE, paid_per_second=2 * RATE)
    async with BotAPIEmulator(rate_limits=limits) as emu:
        yield emu
        assert emu.violations == [], emu.violations


def make_engine(
    storage: Storage, emu: BotAPIEmulator, clock: Clock | None = None, **config: float
) -> BroadcastEngine:
    settings = {
        "rate": RATE,
        "paid_rate": 2 * RATE,
        "poll_interval": 0.05,
        "backoff": 0.05,
        "request_timeout": 0.5,
        "progress_interval": 0.3,
        **config,
    }
    return BroadcastEngine(
        storage,
        catalogs(),
        token=emu.token,
        base_url=emu.base_url,
        default_locale="en",
        config=EngineConfig(**settings),  # type: ignore[arg-type]
        clock=clock,
    )


async def wait_status(
    storage: Storage, broadcast_id: int, status: str, within: float = 30.0
) -> None:
    deadline = time.monotonic() + within
    while True:
        summary = await storage.broadcast_summary(broadcast_id)
        assert summary is not None
        if summary.status == status:
            return
        assert time.monotonic() < deadline, f"still {summary.status}: {summary}"
        await asyncio.sleep(0.05)


async def subscribe_users(
    storage: Storage, emu: BotAPIEmulator, ids: range, *, blocked_every: int = 0
) -> dict[int, str]:
    locales: dict[int, str] = {}
    for uid in ids:
        locale = "zh_Hans" if uid % 2 else "en"
        emu.user(uid, language_code="zh-hans" if locale == "zh_Hans" else "en")
        await storage.subscribe(uid, locale=locale)
        locales[uid] = locale
        if blocked_every and uid % blocked_every == 0:
            emu.block_bot(uid)
    return locales


def check_messages(
    emu: BotAPIEmulator, locales: dict[int, str], states: dict[int, tuple[str, int | None]]
) -> None:
    """Sent: exactly one message, in the recipient's language, with its Unsubscribe button;
    any other state: nothing arrived; in doubt: asked once, never again."""
    for uid, locale in locales.items():
        state, message_id = states[uid]
        received = emu.bot_messages(uid)
        if state == "sent":
            assert len(received) == 1, (uid, received)
            message = received[0]
            assert message.message_id == message_id
            assert message.text == PLAIN[locale]
            button = message.inline_keyboard()[0][0]
            assert button["callback_data"] == callbacks.encode(callbacks.Unsubscribe())
            assert button["text"] == "🔕 " + catalogs().get(locale)("Unsubscribe")
        else:
            assert received == [], (uid, state)
        if state == "in_doubt":  # asked once, and never again after the lost answer
            assert len(emu.requests_for("sendMessage", chat_id=uid)) == 1, uid


@pytest.mark.parametrize("faults", [False, True], ids=["clean", "faults"])
async def test_500_recipients_each_end_in_one_state_with_one_message(
    storage: Storage, limited_emulator: BotAPIEmulator, faults: bool
) -> None:
    emu = limited_emulator
    locales = await subscribe_users(storage, emu, range(1000, 1500), blocked_every=20)
    missing = [9_000_001, 9_000_002]  # subscribed, but Telegram knows no such chat
    for uid in missing:
        await storage.subscribe(uid, locale="en")
    broken = 1001  # a chat whose sends always fail with 502
    if faults:  # the first matching fault applies: the broken chat's comes first
        emu.inject_fault("server_error", method="sendMessage", chat_id=broken, count=100)
        emu.inject_fault("server_error", method="sendMessage", count=25)
        emu.inject_fault("server_error", method="sendMessage", count=5, status=500)
        # Held past the client's read timeout, not carried out: in doubt, never resent.
        emu.inject_fault("timeout", method="sendMessage", count=8, delay=2.0)

    broadcast_id = await queue_broadcast(storage, BroadcastDraft(TEXTS), created_by=None)
    engine = make_engine(storage, emu)
    await engine.start()
    try:
        await wait_status(storage, broadcast_id, "done")
    finally:
        await engine.stop()

    states = await storage.recipient_states(broadcast_id)
    assert len(states) == 502
    final = {"sent", "blocked", "failed", "in_doubt"}
    assert {state for state, _ in states.values()} <= final
    doubtful = {uid for uid, (state, _) in states.items() if state == "in_doubt"}
    assert len(doubtful) == (8 if faults else 0)
    summary = await storage.broadcast_summary(broadcast_id)
    assert summary is not None
    assert summary.in_doubt == len(doubtful) and summary.remaining == 0
    blocked = {uid for uid in locales if uid % 20 == 0} - doubtful
    assert summary.blocked == len(blocked)
    expected_failed = len(missing) + (1 if faults else 0)
    assert summary.failed == expected_failed
    assert summary.sent == 502 - len(blocked) - expected_failed - len(doubtful)
    reasons = dict(summary.failure_reasons)
    assert reasons["Chat not found"] == 2
    if faults:
        assert reasons["Bad Gateway"] == 1
        assert states[broken][0] == "failed"
        assert emu.stats.server_errors >= 30 and emu.stats.timeouts == 8

    check_messages(emu, locales, states)
    # Blocked recipients' subscriptions ended.
    blocked_sub = await storage.get_subscription(1020)
    assert blocked_sub is not None and blocked_sub.blocked_at is not None
    assert not blocked_sub.active
    # Telegram's limits were never exceeded.
    assert emu.stats.too_many_requests == 0


async def test_a_429_pauses_sending_and_nobody_is_lost(
    storage: Storage, limited_emulator: BotAPIEmulator
) -> None:
    emu = limited_emulator
    # The emulator allows 40/s while the engine believes it may send 200/s: it draws 429s.
    emu.rate_limits = RateLimits(global_per_second=40)
    emu._global_bucket.rate = emu._global_bucket.capacity = 40  # type: ignore[union-attr]
    emu._global_bucket.tokens = 40  # type: ignore[union-attr]
    await subscribe_users(storage, emu, range(1, 121))
    broadcast_id = await queue_broadcast(storage, BroadcastDraft(TEXTS), created_by=None)
    engine = make_engine(storage, emu)
    await engine.start()
    try:
        await wait_status(storage, broadcast_id, "done")
    finally:
        await engine.stop()
    assert emu.stats.too_many_requests > 0 and engine.pacer.pauses > 0
    states = await storage.recipient_states(broadcast_id)
    assert {state for state, _ in states.values()} == {"sent"}
    assert all(len(emu.bot_messages(uid)) == 1 for uid in states)


async def test_cancel_stops_sending_within_a_second(
    storage: Storage, limited_emulator: BotAPIEmulator
) -> None:
    emu = limited_emulator
    await subscribe_users(storage, emu, range(1, 401))
    broadcast_id = await queue_broadcast(storage, BroadcastDraft(TEXTS), created_by=None)
    engine = make_engine(storage, emu, rate=50)
    await engine.start()
    try:
        await until(lambda: emu.stats.messages_sent >= 20)
        assert await storage.cancel_broadcast(broadcast_id)
        cancelled_at = time.perf_counter()
        # Once the run is over no send of it can leave any more: every send it started was
        # awaited. So the sends so far are all the sends, and none may be late.
        await until(lambda: engine.delivering is None, within=10)
        sends = emu.requests_for("sendMessage")
        late = [r for r in sends if r.time > cancelled_at + 1.0]
        assert late == []
        # And the engine, back to polling, does not take the cancelled broadcast up again.
        polls = engine.stats.polls
        await until(lambda: engine.stats.polls >= polls + 3)
        assert len(emu.requests_for("sendMessage")) == len(sends)
    finally:
        await engine.stop()
    summary = await storage.broadcast_summary(broadcast_id)
    assert summary is not None and summary.status == "cancelled"
    assert summary.pending > 300  # the rest was never sent
    assert summary.sent == emu.stats.messages_sent
    assert not await storage.cancel_broadcast(broadcast_id)  # already cancelled


async def test_send_at_is_honoured_and_progress_is_reported(
    storage: Storage, limited_emulator: BotAPIEmulator
) -> None:
    emu = limited_emulator
    await subscribe_users(storage, emu, range(1, 41))
    admin = emu.user(777, language_code="en")
    # The engine's time runs twice as fast (20/s on its clock are 40/s, within the emulator's
    # limit) and jumps when the test says the hour has come.
    clock = FastClock(speed=2)
    engine = make_engine(storage, emu, clock, rate=20)
    await engine.start()
    try:
        progress = await engine.bot.send_message(777, "Queued")
        send_at = clock.now() + timedelta(hours=1)
        broadcast_id = await queue_broadcast(
            storage,
            BroadcastDraft(TEXTS, send_at=send_at),
            created_by=777,
            progress_chat_id=777,
            progress_message_id=progress.message_id,
        )
        polls = engine.stats.polls
        await until(lambda: engine.stats.polls >= polls + 3)  # it looked, and it is not time
        summary = await storage.broadcast_summary(broadcast_id)
        assert summary is not None and summary.status == "scheduled"
        assert [r for r in emu.requests_for("sendMessage") if r.chat_id != 777] == []
        clock.advance(3600 - 60)  # a minute before send_at: still not due
        polls = engine.stats.polls
        await until(lambda: engine.stats.polls >= polls + 3)
        assert await storage.broadcast_status(broadcast_id) == "scheduled"
        due = time.perf_counter()
        clock.advance(60)
        await wait_status(storage, broadcast_id, "done")
    finally:
        await engine.stop()
    sends = [r for r in emu.requests_for("sendMessage") if r.chat_id != 777]
    assert len(sends) == 40 and min(r.time for r in sends) >= due
    message = admin.chat.get(progress.message_id)
    assert message is not None
    assert message.edit_count >= 2  # progress while sending, then the report
    assert "Broadcast #" in message.text and "finished" in message.text
    assert "Sent 40" in message.text and "Remaining 0" in message.text
    assert any("sending" in version.text for version in message.history)
    final = await storage.broadcast_summary(broadcast_id)
    assert final is not None and final.started_at is not None
    assert final.started_at >= send_at  # on the engine's clock


async def test_retries_follow_the_backoff_on_the_engines_clock(
    storage: Storage, emulator: BotAPIEmulator
) -> None:
    """Production settings (tries after 1, 2, 4 s; 1 s per chat) on a clock 5 times as fast."""
    emu = emulator
    await subscribe_users(storage, emu, range(1, 4))
    flaky, broken, fine = 1, 2, 3
    emu.inject_fault("server_error", method="sendMessage", chat_id=flaky, count=3)
    emu.inject_fault("server_error", method="sendMessage", chat_id=broken, count=100)
    speed = 5.0
    clock = FastClock(speed=speed)
    engine = BroadcastEngine(
        storage,
        catalogs(),
        token=emu.token,
        base_url=emu.base_url,
        default_locale="en",
        config=EngineConfig(request_timeout=2.0),
        clock=clock,
    )
    broadcast_id = await queue_broadcast(storage, BroadcastDraft(TEXTS), created_by=None)
    began = time.monotonic()
    await engine.start()
    try:
        await wait_status(storage, broadcast_id, "done")
    finally:
        await engine.stop()
    # 7 s of backoff on the engine's clock, less than that on the wall clock.
    assert time.monotonic() - began < 7

    states = await storage.recipient_states(broadcast_id)
    assert states[flaky][0] == "sent" and states[fine][0] == "sent"
    assert states[broken] == ("failed", None)
    summary = await storage.broadcast_summary(broadcast_id)
    assert summary is not None and dict(summary.failure_reasons) == {"Bad Gateway": 1}
    assert engine.stats.retried == 6 and engine.stats.sent == 2 and engine.stats.failed == 1
    for chat in (flaky, broken):
        arrivals = [r.time for r in emu.requests_for("sendMessage", chat_id=chat)]
        assert len(arrivals) == 4  # the first try and 3 retries
        # The gaps, on the engine's clock (it runs `speed` times the wall clock): at least the
        # backoff, and not much more.
        gaps = [(b - a) * speed for a, b in itertools.pairwise(arrivals)]
        for gap, wait in zip(gaps, [1.0, 2.0, 4.0], strict=True):
            assert wait - 0.001 <= gap < wait + 2.0, gaps
    assert len(emu.requests_for("sendMessage", chat_id=fine)) == 1


async def test_paid_broadcast_uses_allow_paid_broadcast(
    storage: Storage, limited_emulator: BotAPIEmulator
) -> None:
    emu = limited_emulator
    await subscribe_users(storage, emu, range(1, 31))
    broadcast_id = await queue_broadcast(
        storage, BroadcastDraft(TEXTS, paid=True), created_by=None
    )
    engine = make_engine(storage, emu)
    await engine.start()
    try:
        await wait_status(storage, broadcast_id, "done")
    finally:
        await engine.stop()
    sends = emu.requests_for("sendMessage")
    assert len(sends) == 30 and all(r.params.get("allow_paid_broadcast") for r in sends)


def test_in_flight_bound_is_small_at_telegrams_rate() -> None:
    assert in_flight_bound(30) == 8
    assert in_flight_bound(1000) == 250
