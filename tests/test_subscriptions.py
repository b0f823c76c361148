"""News opt-in, end to end: subscribe from the menu, interests, unsubscribe, blocking."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.broadcast.draft import broadcast_screen
from bot.core import callbacks
from bot.core.interests import load_interests
from bot.storage import Storage
from bot.telegram_side.markup import to_markup
from bot.testing import BotAPIEmulator, SimUser
from bot.testing.harness import RunningBot
from tests.conftest import CONTENT, BotStarter

SUBSCRIBE = "🔔 Subscribe to news"
MANAGE = "🔕 Manage news"


async def eventually(check: Callable[[], Awaitable[bool]], what: str, within: float = 5.0) -> None:
    """Wait for a state the bot reaches after an update no message answers (my_chat_member)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"not within {within:g} s: {what}")
        await asyncio.sleep(0.02)


def storage_of(bot: RunningBot) -> Storage:
    return bot.runtime.storage


async def test_patient_subscribes_from_the_menu_and_picks_interests(
    start_bot: BotStarter, emulator: BotAPIEmulator, storage_url: str
) -> None:
    async with start_bot(database_url=storage_url) as bot:
        storage = storage_of(bot)
        user = emulator.user(601, language_code="en")
        await user.send("/start")
        assert [SUBSCRIBE] in user.buttons()
        assert user.buttons()[-1] == ["🌐 Language"]

        before = datetime.now(UTC)
        await user.press(SUBSCRIBE)
        after = datetime.now(UTC)
        text = user.last_text()
        assert "You are subscribed" in text
        assert "/unsubscribe" in text  # how to stop is said up front
        assert user.buttons() == [
            ["New treatments"],
            ["Talks and events for patients"],
            ["Hospital news and opening hours"],
            ["✅ Done"],
            ["🔕 Unsubscribe"],
            ["⬅ Back", "🏠 Home"],
        ]
        subscription = await storage.get_subscription(601)
        assert subscription is not None and subscription.active
        assert before <= subscription.subscribed_at <= after  # consent, with its time
        assert subscription.locale == "en"
        assert subscription.interests == ()

        await user.press("New treatments")
        assert ["✓ New treatments"] in user.buttons()
        await user.press("Hospital news and opening hours")
        await user.press("✓ New treatments")  # a second tap takes it back
        assert user.buttons()[:3] == [
            ["New treatments"],
            ["Talks and events for patients"],
            ["✓ Hospital news and opening hours"],
        ]
        subscription = await storage.get_subscription(601)
        assert subscription is not None and subscription.interests == ("hospital",)

        await user.press("✅ Done")
        assert user.last_text().startswith("Your news settings are saved.")
        assert [MANAGE] in user.buttons()
        # Going around the menu keeps saying "Manage news" to a subscriber.
        await user.press("Features")
        await user.press("🏠 Home")
        assert [MANAGE] in user.buttons()
        await user.press(MANAGE)
        assert ["✓ Hospital news and opening hours"] in user.buttons()
        await user.press("⬅ Back")
        assert [MANAGE] in user.buttons()

        # All of it in one message, edited in place; every press answered.
        assert len(user.bot_messages()) == 1
        assert all(press.answered for press in user.presses)
        # Subscribing again changes nothing: consent keeps its first time.
        await user.send("/subscribe")
        again = await storage.get_subscription(601)
        assert again is not None and again.subscribed_at == subscription.subscribed_at
        assert again.interests == ("hospital",)
        assert emulator.errors == []


async def test_chinese_subscriber_and_language_switch(
    bot: RunningBot, emulator: BotAPIEmulator
) -> None:
    storage = storage_of(bot)
    user = emulator.user(602, language_code="zh-hans")
    await user.send("/subscribe")
    # Interest labels are data: content/interests.yaml has them in Chinese.
    assert ["新疗法"] in user.buttons()
    subscription = await storage.get_subscription(602)
    assert subscription is not None and subscription.locale == "zh_Hans"

    # Broadcasts follow the language the subscriber reads the bot in.
    await user.send("/language")
    await user.press("English")
    subscription = await storage.get_subscription(602)
    assert subscription is not None and subscription.locale == "en"
    await user.send("/subscribe")
    assert ["New treatments"] in user.buttons()


async def test_unsubscribe_and_stop_end_the_subscription(
    bot: RunningBot, emulator: BotAPIEmulator
) -> None:
    storage = storage_of(bot)
    user = emulator.user(603, language_code="en")
    await user.send("/subscribe")
    await user.send("/unsubscribe")
    assert user.last_text().startswith("You are unsubscribed")
    assert [SUBSCRIBE] in user.buttons()
    subscription = await storage.get_subscription(603)
    assert subscription is not None and not subscription.active
    assert subscription.unsubscribed_at is not None

    await user.send("/stop")
    assert user.last_text().startswith("You are not subscribed to news.")

    await user.send("/subscribe")
    assert (await storage.get_subscription(603)).active  # type: ignore[union-attr]
    await user.send("/stop")
    assert user.last_text().startswith("You are unsubscribed")
    assert not (await storage.get_subscription(603)).active  # type: ignore[union-attr]

    # The Unsubscribe button of the news screen: the screen becomes the main menu.
    await user.send("/subscribe")
    await user.press("🔕 Unsubscribe")
    assert user.last_text().startswith("You are unsubscribed")
    assert [SUBSCRIBE] in user.buttons()
    assert not (await storage.get_subscription(603)).active  # type: ignore[union-attr]
    # Interest buttons on an old screen do not subscribe anyone again.
    await user.press_data(callbacks.encode(callbacks.ToggleInterest("events")))
    assert user.last_text().startswith("You are not subscribed to news.")
    assert not (await storage.get_subscription(603)).active  # type: ignore[union-attr]


async def test_one_tap_unsubscribe_under_a_broadcast(
    bot: RunningBot, emulator: BotAPIEmulator
) -> None:
    storage = storage_of(bot)
    user = emulator.user(604, language_code="en")
    await user.send("/subscribe")
    # A message as the delivery engine sends it: the text and the one Unsubscribe button.
    screen = broadcast_screen(
        {"en": "<b>Open day</b> on Friday"}, "en", "en", bot.runtime.renderer.catalogs
    )
    news = await bot.app.bot.send_message(
        604, screen.text, reply_markup=to_markup(screen.keyboard)
    )
    press = await user.press("🔕 Unsubscribe", message_id=news.message_id)
    assert press.text == "Unsubscribed. You will get no more news."
    assert not (await storage.get_subscription(604)).active  # type: ignore[union-attr]
    # The news itself stays as it was; the confirmation comes as a new message.
    assert user.chat.get(news.message_id).text == "Open day on Friday"  # type: ignore[union-attr]
    assert user.last_text().startswith("You are unsubscribed")
    assert [SUBSCRIBE] in user.buttons()
    messages = len(user.bot_messages())

    # Pressing it again is harmless: a short answer, nothing else.
    press = await user.press("🔕 Unsubscribe", message_id=news.message_id)
    assert press.text == "You are not subscribed to news."
    assert len(user.bot_messages()) == messages
    assert emulator.errors == []


async def test_blocking_ends_the_subscription_and_unblocking_does_not_renew_it(
    bot: RunningBot, emulator: BotAPIEmulator
) -> None:
    storage = storage_of(bot)
    user: SimUser = emulator.user(605, language_code="en")
    await user.send("/subscribe")

    emulator.block_bot(605)

    async def blocked() -> bool:
        s = await storage.get_subscription(605)
        return s is not None and s.blocked_at is not None

    await eventually(blocked, "the subscription is marked blocked")
    subscription = await storage.get_subscription(605)
    assert subscription is not None and not subscription.active
    assert subscription.unsubscribed_at is not None

    emulator.unblock_bot(605)

    async def unblocked() -> bool:
        s = await storage.get_subscription(605)
        return s is not None and s.blocked_at is None

    await eventually(unblocked, "the block is lifted")
    subscription = await storage.get_subscription(605)
    assert subscription is not None and not subscription.active  # consent is not renewed
    await user.send("/start")
    assert [SUBSCRIBE] in user.buttons()


# -- pure: callback data and the interests file ----------------------------------------------


@pytest.mark.parametrize(
    ("action", "data"),
    [
        (callbacks.Subscribe(), "1:s"),
        (callbacks.InterestsDone(), "1:d"),
        (callbacks.Unsubscribe(), "1:u"),  # fixed: the delivery engine writes it too
        (callbacks.ToggleInterest("treatments"), "1:i:treatments"),
        (callbacks.ToggleInterest("a" * 32), "1:i:" + "a" * 32),
        (callbacks.BroadcastConfirm("0123456789ab"), "1:bc:0123456789ab"),
        (callbacks.BroadcastCancel("0123456789ab"), "1:bx:0123456789ab"),
        (callbacks.ForgetConfirm("deadbeef", 29_412_345), "1:fy:deadbeef:29412345"),
        (callbacks.ForgetCancel(), "1:fn"),
    ],
)
def test_news_callback_data(action: callbacks.Action, data: str) -> None:
    assert callbacks.encode(action) == data
    assert len(data.encode()) <= 64
    assert callbacks.decode(data) == action


@pytest.mark.parametrize(
    "forged",
    [
        *("1:u:x", "1:s:1", "1:i", "1:i:", "1:i:Treat", "1:i:" + "a" * 33, "1:i:a:b", "2:u"),
        # Wizard buttons name their draft (12 hex digits); those of older releases had none.
        *("1:bc", "1:bx", "1:bc:1", "1:bc:0123456789AB", "1:bx:0123456789abc"),
        # /forget's confirmation names the user's tag (8 hex digits) and a minute.
        *("1:fy", "1:fy:deadbeef", "1:fy:DEADBEEF:1", "1:fy:deadbeef:x", "1:fn:1"),
    ],
)
def test_forged_news_callback_data_is_invalid(forged: str) -> None:
    assert isinstance(callbacks.decode(forged), callbacks.Invalid)


def test_shipped_interests_have_a_label_in_every_locale() -> None:
    interests, problems = load_interests(CONTENT, ["en", "zh_Hans"], "en")
    assert problems == []
    assert interests.ids == ("treatments", "events", "hospital")
    assert interests.label("events", "zh_Hans") == "患者讲座和活动"


def test_interests_file_problems_name_the_line(tmp_path: Path) -> None:
    (tmp_path / "interests.yaml").write_text(
        "interests:\n"
        "  - id: ok\n"
        "    labels: {en: Fine}\n"
        "  - id: Bad Id\n"
        "    labels: {en: X}\n"
        "  - id: ok\n"
        "    labels: {en: Again}\n"
        "  - id: nolabel\n"
        "    labels: {zh_Hans: 中文}\n",
        encoding="utf-8",
    )
    interests, problems = load_interests(tmp_path, ["en", "zh_Hans"], "en")
    assert interests.ids == ("ok",)
    found = [(p.line, p.severity, p.message) for p in problems]
    assert (
        4,
        "error",
        "an interest needs an `id:` matching [a-z0-9][a-z0-9_-]{0,31} (a-z, 0-9, _-)",
    ) in found
    assert (6, "error", "duplicate interest id 'ok'") in found
    assert (9, "error", "interest 'nolabel' has no en label") in found
    # A locale without its label falls back to English, with a warning.
    assert (3, "warning", "interest 'ok' has no zh_Hans label (shows the en one)") in found
    assert interests.label("ok", "zh_Hans") == "Fine"


def test_no_interests_file_means_no_choice(tmp_path: Path) -> None:
    interests, problems = load_interests(tmp_path, ["en"], "en")
    assert interests.items == () and problems == []


# -- storage: subscribing is one upsert ------------------------------------------------------

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
T1 = datetime(2026, 2, 5, 9, 0, tzinfo=UTC)


async def test_subscribe_keeps_consent_while_active_and_renews_it_after_an_end(
    storage: Storage,
) -> None:
    first = await storage.subscribe(11, locale="en", interests=["events"], now=T0)
    assert (first.subscribed_at, first.interests, first.active) == (T0, ("events",), True)
    # Again while active: the consent time stays; no interests given keeps them.
    again = await storage.subscribe(11, locale="zh_Hans", now=T1)
    assert (again.subscribed_at, again.interests, again.locale) == (T0, ("events",), "zh_Hans")
    # Interests given replace them, still without a new consent time.
    picked = await storage.subscribe(11, locale="en", interests=["treatments"], now=T1)
    assert (picked.subscribed_at, picked.interests) == (T0, ("treatments",))
    # After an end (unsubscribed or blocked): new consent, interests as given, active again.
    await storage.mark_blocked(11, now=T1)
    renewed = await storage.subscribe(11, locale="en", now=T1)
    assert (renewed.subscribed_at, renewed.interests, renewed.active) == (T1, (), True)
    assert renewed.blocked_at is None and renewed.unsubscribed_at is None


async def test_subscribe_twice_at_once_is_one_consent(storage: Storage) -> None:
    """Two taps of /subscribe processed together: on PostgreSQL a SELECT-then-INSERT made one
    of them fail on the primary key; the upsert cannot."""
    results = await asyncio.gather(
        *(storage.subscribe(12, locale="en", now=T0.replace(minute=i)) for i in range(10))
    )
    stored = await storage.get_subscription(12)
    assert stored is not None and stored.active
    assert {r.subscribed_at for r in results} == {stored.subscribed_at}
    assert await storage.count_active_subscriptions() == 1


async def test_subscribe_double_tapped_in_the_chat(
    start_bot: BotStarter, emulator: BotAPIEmulator, storage_url: str
) -> None:
    async with start_bot(database_url=storage_url) as bot:
        user = emulator.user(13, language_code="en")
        for _ in range(2):
            emulator.deliver_text(13, "/subscribe")
        await emulator.wait_for_bot(
            13,
            lambda: len(user.bot_messages()) >= 2,
            within=5,
            settle=0.3,
            what="both answers",
            since=0.0,
        )
        assert [m.text.splitlines()[0] for m in user.bot_messages()] == [
            user.bot_messages()[0].text.splitlines()[0]
        ] * 2
        subscription = await bot.runtime.storage.get_subscription(13)
        assert subscription is not None and subscription.active
    assert emulator.errors == []
