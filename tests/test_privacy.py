"""Privacy a patient controls: /privacy, /mydata and /forget, end to end in both languages, on
SQLite and PostgreSQL; and the retention rule that erases the long unseen."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import or_, select, update

from bot.cli.main import main
from bot.core import callbacks
from bot.core.content.privacy_text import load_privacy_texts
from bot.core.pseudonyms import user_tag
from bot.core.times import utc
from bot.storage import Storage
from bot.storage.tables import (
    broadcast_drafts,
    broadcast_recipients,
    subscriptions,
    topic_votes,
    users,
)
from bot.telegram_side.retention import RetentionJob
from bot.testing import BotAPIEmulator
from bot.testing.harness import RunningBot
from tests.conftest import CONTENT, BotStarter, make_settings

NEWS = {"en": "<b>Open day</b> on Friday", "zh_Hans": "<b>开放日</b>：周五"}
LATER = {"en": "Talk next month", "zh_Hans": "下个月的讲座"}


async def eventually(check: Callable[[], object], what: str, within: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"not within {within:g} s: {what}")
        await asyncio.sleep(0.05)


async def rows_naming(storage: Storage, user_id: int) -> dict[str, int]:
    """How many rows of each table still carry ``user_id``."""
    found: dict[str, int] = {}
    async with storage.engine.connect() as conn:
        for table, column in (
            (users, users.c.user_id),
            (subscriptions, subscriptions.c.user_id),
            (broadcast_recipients, broadcast_recipients.c.user_id),
            (broadcast_drafts, broadcast_drafts.c.admin_id),
            (topic_votes, topic_votes.c.user_id),
        ):
            count = len((await conn.execute(select(column).where(column == user_id))).all())
            if count:
                found[table.name] = count
    return found


# -- /privacy --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "locale", "home"), [("en", "en", "🏠 Home"), ("zh-hans", "zh_Hans", "🏠 首页")]
)
async def test_privacy_shows_the_hospitals_notice_in_the_patients_language(
    bot: RunningBot, emulator: BotAPIEmulator, code: str, locale: str, home: str
) -> None:
    texts, problems = load_privacy_texts(CONTENT, ["en", "zh_Hans"], "en")
    assert problems == []
    notice = texts.texts[locale]
    user = emulator.user(831 if locale == "en" else 832, language_code=code)
    await user.send("/privacy")
    message = user.last_bot_message()
    assert message is not None and message.html == notice.html()
    assert message.text.startswith(notice.title)
    assert "/forget" in message.text and "/mydata" in message.text
    assert message.buttons() == [[home]]
    await user.send("/help")
    assert "/privacy" in user.last_text()
    assert emulator.errors == []


# -- /mydata ---------------------------------------------------------------------------------


async def test_mydata_of_a_new_user(bot: RunningBot, emulator: BotAPIEmulator) -> None:
    user = emulator.user(833, language_code="en")
    await user.send("/mydata")
    lines = user.last_text().splitlines()
    assert lines[0] == "What this bot stores about you"
    assert "Your Telegram user number: 833" in lines
    assert "Language: none chosen (the bot follows your Telegram language)" in lines
    assert "News: never subscribed" in lines
    assert "News messages delivered to you: 0" in lines
    record = await bot.runtime.storage.get_user(833)
    assert record is not None
    assert f"First used: {record.first_seen:%Y-%m-%d %H:%M} UTC" in lines


# -- /forget ---------------------------------------------------------------------------------

LANGUAGES = [
    # Telegram's code, the locale, the language button, an interest, Yes, the done text
    ("en", "en", "English", "New treatments", "🗑 Yes, erase my data", "✅ Everything"),
    ("zh-hans", "zh_Hans", "中文 (简体)", "新疗法", "🗑 是的，删除我的数据", "✅ 本机器人保存"),
]


@pytest.mark.parametrize(("code", "locale", "language", "interest", "yes", "done"), LANGUAGES)
async def test_forget_erases_everything_and_the_next_start_is_a_new_user(
    start_bot: BotStarter,
    emulator: BotAPIEmulator,
    storage_url: str,
    code: str,
    locale: str,
    language: str,
    interest: str,
    yes: str,
    done: str,
) -> None:
    """Over 60 lines: one patient's whole story, checked in the tables at every step."""
    uid = 840 if locale == "en" else 841
    async with start_bot(database_url=storage_url) as bot:
        storage = bot.runtime.storage
        user = emulator.user(uid, language_code=code)
        await user.send("/subscribe")
        await user.press(interest)
        await user.send("/language")
        await user.press(language)
        # One broadcast delivered to them, one queued for next week.
        sent_id = await storage.create_broadcast(
            texts=NEWS, locales=None, interests=None, send_at=None, paid=False, created_by=None
        )

        async def delivered() -> bool:
            return (await storage.recipient_states(sent_id)).get(uid, ("",))[0] == "sent"

        await eventually(delivered, "the broadcast reaches the patient")
        later_id = await storage.create_broadcast(
            texts=LATER,
            locales=None,
            interests=None,
            send_at=utc() + timedelta(days=7),
            paid=False,
            created_by=None,
        )
        await user.send("/mydata")
        shown = user.last_text().replace("：", ": ")
        assert f": {uid}\n" in shown
        assert shown.count(": 1") == 2  # one delivered, one waiting
        assert await rows_naming(storage, uid) == {
            "users": 1,
            "subscriptions": 1,
            "broadcast_recipients": 2,
        }

        await user.send("/forget")
        offer = user.last_bot_message()
        assert offer is not None and offer.buttons()[0][0] == yes
        confirm = offer.inline_keyboard()[0][0]["callback_data"]
        before = utc()
        press = await user.press(yes)
        assert press.text in ("Erased.", "已删除。")
        assert user.last_text().startswith(done)
        erased_offer = user.chat.get(offer.message_id)
        assert erased_offer is not None and erased_offer.buttons() == []

        # Gone from every table; the broadcasts' counts stay right without them.
        assert await rows_naming(storage, uid) == {}
        sent = await storage.broadcast_summary(sent_id)
        assert sent is not None and sent.sent == 1 and sent.total == 1
        queued = await storage.broadcast_summary(later_id)
        assert queued is not None and queued.skipped == 1 and queued.remaining == 0
        async with storage.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(
                        broadcast_recipients.c.broadcast_id,
                        broadcast_recipients.c.user_id,
                        broadcast_recipients.c.state,
                        broadcast_recipients.c.reason,
                        broadcast_recipients.c.message_id,
                    ).where(broadcast_recipients.c.broadcast_id.in_([sent_id, later_id]))
                )
            ).all()
        by_broadcast = {row.broadcast_id: row for row in rows}
        assert by_broadcast[sent_id].state == "sent" and by_broadcast[sent_id].message_id is None
        assert by_broadcast[later_id].state == "skipped"
        assert by_broadcast[later_id].reason == "erased"
        assert all(row.user_id < 0 for row in rows)

        # The same button again (an old message, a double tap): harmless, nothing recreated.
        again = await user.press_data(confirm, message_id=offer.message_id)
        assert again.answered
        assert await rows_naming(storage, uid) == {}
        # (Its edit repeats the text already there: Telegram's "not modified", success.)
        unexpected = [e for e in emulator.errors if "not modified" not in (e.description or "")]
        assert unexpected == []

        # The next /start is a new user: new first_seen, no language, not subscribed.
        await user.send("/start")
        assert "Subscribe" in str(user.buttons()) or "订阅" in str(user.buttons())
        record = await storage.get_user(uid)
        assert record is not None and record.first_seen >= before and record.locale is None
        assert await storage.get_subscription(uid) is None


async def test_forget_asks_first_and_cancel_keeps_everything(
    bot: RunningBot, emulator: BotAPIEmulator
) -> None:
    storage = bot.runtime.storage
    user = emulator.user(842, language_code="en")
    await user.send("/subscribe")
    await user.send("/forget")
    assert user.last_text().startswith("Erase everything this bot stores about you?")
    assert user.buttons() == [["🗑 Yes, erase my data", "✖ No, keep it"]]
    await user.press("✖ No, keep it")
    assert user.last_text().startswith("Nothing was erased.")
    assert await storage.get_user(842) is not None
    subscription = await storage.get_subscription(842)
    assert subscription is not None and subscription.active


async def test_a_forget_button_of_another_user_or_too_old_is_out_of_date(
    bot: RunningBot, emulator: BotAPIEmulator
) -> None:
    storage = bot.runtime.storage
    user = emulator.user(843, language_code="en")
    await user.send("/subscribe")
    now_minute = int(utc().timestamp() // 60)
    forged = [
        callbacks.ForgetConfirm(user_tag("forget", 844), now_minute),  # offered to someone else
        callbacks.ForgetConfirm(user_tag("forget", 843), now_minute - 11),  # too old
    ]
    for action in forged:
        press = await user.press_data(callbacks.encode(action))
        assert press.text == "That button is out of date. Send /forget again to erase your data."
    assert await storage.get_user(843) is not None
    assert await storage.get_subscription(843) is not None


async def test_forget_by_an_admin_drops_their_draft(
    start_bot: BotStarter, emulator: BotAPIEmulator
) -> None:
    async with start_bot(make_settings(ADMIN_IDS="845")) as bot:
        admin = emulator.user(845, language_code="en")
        await admin.send("/broadcast")
        assert await bot.runtime.storage.get_draft(845) is not None
        await admin.send("/forget")
        await admin.press("🗑 Yes, erase my data")
        assert await bot.runtime.storage.get_draft(845) is None
        assert await rows_naming(bot.runtime.storage, 845) == {}


# -- retention -------------------------------------------------------------------------------


async def age(storage: Storage, days: int, *user_ids: int) -> None:
    """Set ``last_seen`` (and ``first_seen``) ``days`` back, directly in the table."""
    when = utc() - timedelta(days=days)
    async with storage.engine.begin() as conn:
        await conn.execute(
            update(users)
            .where(users.c.user_id.in_(user_ids))
            .values(first_seen=when, last_seen=when)
        )


async def plant_users(storage: Storage) -> None:
    """851 long gone, never subscribed; 852 long gone, unsubscribed; 853 long gone but still
    subscribed; 854 seen yesterday, unsubscribed; 855 blocked the bot long ago and has no
    user row; 856 seen 729 days ago."""
    for uid in (851, 852, 853, 854, 856):
        await storage.touch_user(uid)
    for uid in (852, 853, 854, 855):
        await storage.subscribe(uid, locale="en")
    await storage.unsubscribe(852)
    await storage.unsubscribe(854)
    await storage.mark_blocked(855, now=utc() - timedelta(days=800))
    await age(storage, 731, 851, 852, 853)
    await age(storage, 1, 854)
    await age(storage, 729, 856)


async def test_retention_erases_users_neither_subscribed_nor_seen(storage: Storage) -> None:
    await plant_users(storage)
    queued = await storage.create_broadcast(
        texts={"en": "x"},
        locales=None,
        interests=None,
        send_at=utc() + timedelta(days=1),
        paid=False,
        created_by=None,
    )
    erased = await storage.purge_inactive(730)
    assert (erased.people, erased.users, erased.subscriptions) == (3, 2, 2)
    for uid in (851, 852, 855):
        assert await rows_naming(storage, uid) == {}, uid
    for uid in (853, 854, 856):
        assert await storage.get_user(uid) is not None, uid
    # 853 is still subscribed: still a recipient of the queued broadcast.
    assert set(await storage.recipient_states(queued)) == {853}
    assert (await storage.purge_inactive(730)).users == 0  # nothing more to do


async def test_the_retention_job_runs_inside_run(start_bot: BotStarter, storage: Storage) -> None:
    await plant_users(storage)
    job = RetentionJob(storage, 730, interval=3600, first_delay=0)
    job.start()
    try:
        await eventually(lambda: job.passes == 1, "one pass")
    finally:
        await job.stop()
    assert await storage.get_user(851) is None
    assert await storage.get_user(853) is not None
    async with start_bot(make_settings(USER_RETENTION_DAYS="30")) as bot:
        assert bot.runtime.retention is not None
        assert bot.runtime.retention.retention_days == 30
        assert bot.runtime.retention.interval == 24 * 3600


async def test_privacy_commands_on_the_command_line(
    storage_url: str,
    storage: Storage,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await plant_users(storage)
    monkeypatch.setenv("DATABASE_URL", storage_url)
    assert await asyncio.to_thread(main, ["privacy", "purge"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("erased 3 user(s) neither subscribed nor seen within 730 days")
    assert await asyncio.to_thread(main, ["privacy", "forget", "854"]) == 0
    assert capsys.readouterr().out.startswith("erased user 854: 1 subscription(s) deleted")
    assert await rows_naming(storage, 854) == {}
    assert await asyncio.to_thread(main, ["privacy", "forget", "854"]) == 0
    assert capsys.readouterr().out.startswith("nothing stored for user 854")


# -- storage ---------------------------------------------------------------------------------


async def test_an_erased_admin_loses_drafts_and_quiet_chats_are_noted_once(
    storage: Storage,
) -> None:
    await storage.open_draft(861, ["en"])
    erased = await storage.erase_user(861)
    assert erased.drafts == 1 and erased.users == 0
    assert await storage.note_quiet_chat(-5) is True
    assert await storage.note_quiet_chat(-5) is False
    at_once = await asyncio.gather(*(storage.note_quiet_chat(-6) for _ in range(5)))
    assert sorted(at_once) == [False, False, False, False, True]


async def test_erasure_leaves_other_users_alone(storage: Storage) -> None:
    for uid in (871, 872):
        await storage.touch_user(uid)
        await storage.subscribe(uid, locale="en")
    bid = await storage.create_broadcast(
        texts={"en": "x"},
        locales=None,
        interests=None,
        send_at=None,
        paid=False,
        created_by=None,
    )
    await storage.erase_user(871)
    states = await storage.recipient_states(bid)
    assert states[872] == ("pending", None)
    assert [s for uid, s in states.items() if uid != 872] == [("skipped", None)]
    assert await storage.get_user(872) is not None
    async with storage.engine.connect() as conn:
        leftover = (
            await conn.execute(
                select(broadcast_recipients.c.user_id).where(
                    or_(broadcast_recipients.c.user_id == 871)
                )
            )
        ).all()
    assert leftover == []
