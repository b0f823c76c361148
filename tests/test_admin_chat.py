"""The admin's /broadcast wizard and /broadcasts, end to end; and that nobody else has them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from bot.core import callbacks
from bot.testing import BotAPIEmulator, SimUser
from bot.testing.harness import RunningBot
from tests.conftest import BotStarter, make_settings

ADMIN = 900
EN_TEXT = '<b>Open day</b> on Friday: <a href="https://example.org/open">details</a>'
ZH_TEXT = "<b>开放日</b>：周五上午 9 点"


@pytest.fixture
async def staff_bot(start_bot: BotStarter) -> AsyncIterator[RunningBot]:
    async with start_bot(make_settings(ADMIN_IDS=str(ADMIN))) as running:
        yield running


async def eventually(check: Callable[[], bool], what: str, within: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"not within {within:g} s: {what}")
        await asyncio.sleep(0.02)


async def unknown_command_answer(emulator: BotAPIEmulator, user_id: int) -> str:
    probe = emulator.user(user_id, language_code="en")
    await probe.send("/nosuchcommand")
    return probe.last_text()


async def start_wizard(admin: SimUser) -> None:
    await admin.send("/broadcast")
    assert "Step 1 of 2: send the text for English." in admin.last_text()


async def test_non_admins_get_the_unknown_command_answer(
    staff_bot: RunningBot, emulator: BotAPIEmulator
) -> None:
    expected = await unknown_command_answer(emulator, 700)
    patient = emulator.user(701, language_code="en")
    for command in ("/broadcast", "/broadcasts", "/cancel", "/skip"):
        await patient.send(command)
        assert patient.last_text() == expected, command
        assert patient.buttons() == emulator.chat(700).messages[-1].buttons()
    # Text after /broadcast is ordinary text to the menu, not a broadcast.
    await patient.send("<b>Everyone</b> come to the open day")
    assert patient.last_text().startswith("I could not find a topic for your message.")
    # A forged Confirm button is an out-of-date button.
    press = await patient.press_data(callbacks.encode(callbacks.BroadcastConfirm()))
    assert press.answered
    assert patient.last_text().startswith("That button is out of date.")
    assert await staff_bot.runtime.storage.list_broadcasts() == []
    assert emulator.errors == []


async def test_without_admin_ids_nobody_is_an_admin(
    bot: RunningBot, emulator: BotAPIEmulator
) -> None:
    expected = await unknown_command_answer(emulator, 702)
    user = emulator.user(ADMIN, language_code="en")
    await user.send("/broadcast")
    assert user.last_text() == expected


async def test_admin_walks_the_wizard_and_confirms(
    staff_bot: RunningBot, emulator: BotAPIEmulator
) -> None:
    storage = staff_bot.runtime.storage
    for uid, code in ((711, "en"), (712, "zh-hans")):
        await emulator.user(uid, language_code=code).send("/subscribe")
    admin = emulator.user(ADMIN, language_code="en")
    await start_wizard(admin)
    assert "/cancel" in admin.last_text()

    # Invalid HTML is refused with Telegram's reason, and the step is asked again.
    await admin.send("<b>Open day</i> on Friday")
    reply = admin.last_text()
    assert "Telegram would refuse this text: can't parse entities" in reply
    assert "Step 1 of 2: send the text for English." in reply

    await admin.send(EN_TEXT)
    assert "Step 2 of 2: send the text for 中文 (简体)." in admin.last_text()
    assert "/skip" in admin.last_text()
    sent_before = len(admin.bot_messages())
    await admin.send(ZH_TEXT, settle=0.3)  # the preview is several messages

    # The preview: each text exactly as subscribers will see it, with the Unsubscribe button.
    new = admin.bot_messages()[sent_before:]
    assert new[0].text.startswith("👀 Preview")
    english, chinese, question = new[1], new[2], new[3]
    assert english.html == EN_TEXT and english.text == "Open day on Friday: details"
    assert {"type": "bold", "offset": 0, "length": 8} in english.entities
    assert chinese.html == ZH_TEXT
    for preview in (english, chinese):
        assert [b["callback_data"] for b in preview.inline_keyboard()[0]] == ["1:u"]
    assert english.buttons() == [["🔕 Unsubscribe"]]
    assert "There are 2 subscribers now." in question.text
    assert question.buttons() == [["✅ Confirm and send", "✖ Cancel"]]
    assert await storage.list_broadcasts() == []  # nothing before Confirm

    await admin.press("✅ Confirm and send")
    broadcasts = await storage.list_broadcasts()
    assert len(broadcasts) == 1
    queued = broadcasts[0]
    assert dict(queued.texts) == {"en": EN_TEXT, "zh_Hans": ZH_TEXT}
    assert queued.locales is None and queued.created_by == ADMIN
    assert queued.total == 2
    # The progress message the delivery engine edits is the one the admin got.
    progress = admin.chat.get(queued.progress_message_id or 0)
    assert progress is not None and progress.from_bot
    assert queued.progress_chat_id == ADMIN

    # A second press of Confirm queues nothing more.
    press = await admin.press_data(
        callbacks.encode(callbacks.BroadcastConfirm()), message_id=question.message_id
    )
    assert press.text is not None and "no longer open" in press.text
    assert len(await storage.list_broadcasts()) == 1

    await admin.send("/broadcasts")
    listing = admin.last_text()
    assert f"#{queued.id}" in listing
    assert "2 recipients" in listing
    assert "Open day on Friday" in listing
    assert emulator.errors == []


async def test_cancel_queues_nothing(staff_bot: RunningBot, emulator: BotAPIEmulator) -> None:
    storage = staff_bot.runtime.storage
    admin = emulator.user(ADMIN, language_code="en")

    # The Cancel button under the preview.
    await start_wizard(admin)
    await admin.send(EN_TEXT)
    await admin.send(ZH_TEXT, settle=0.3)  # the preview is several messages
    await admin.press("✖ Cancel")
    assert admin.last_text() == "Broadcast cancelled. Nothing was sent."
    await admin.press_data(callbacks.encode(callbacks.BroadcastConfirm()))
    assert await storage.list_broadcasts() == []

    # /cancel in the middle; the admin's text then goes to the menu as anyone's would.
    await start_wizard(admin)
    await admin.send(EN_TEXT)
    await admin.send("/cancel")
    assert admin.last_text() == "Broadcast cancelled. Nothing was sent."
    await admin.send(ZH_TEXT, settle=0.3)  # the preview is several messages
    assert admin.last_text().startswith("没有找到") or admin.last_text().startswith(
        "I could not find a topic for your message."
    )
    assert await storage.list_broadcasts() == []

    await admin.send("/broadcasts")
    assert admin.last_text() == "No broadcasts yet. Start one with /broadcast."


async def test_skipping_a_language_leaves_its_subscribers_out(
    staff_bot: RunningBot, emulator: BotAPIEmulator
) -> None:
    storage = staff_bot.runtime.storage
    for uid, code in ((721, "en"), (722, "zh-hans")):
        await emulator.user(uid, language_code=code).send("/subscribe")
    admin = emulator.user(ADMIN, language_code="en")
    await start_wizard(admin)
    await admin.send("/skip")  # the default locale cannot be skipped
    assert "The English text is needed" in admin.last_text()
    await admin.send(EN_TEXT)
    await admin.send("/skip")
    assert "Subscribers who read 中文 (简体) get nothing from this broadcast." in (
        admin.last_text()
    )
    await admin.press("✅ Confirm and send")
    (queued,) = await storage.list_broadcasts()
    assert dict(queued.texts) == {"en": EN_TEXT}
    assert queued.locales == ("en",)
    assert queued.total == 1


async def test_from_the_admin_chat_to_a_chinese_patient_and_back(
    staff_bot: RunningBot, emulator: BotAPIEmulator
) -> None:
    """The whole story: queued in the chat, delivered in Chinese, one tap to unsubscribe."""
    storage = staff_bot.runtime.storage
    patient = emulator.user(731, language_code="zh-hans")
    await patient.send("/subscribe")
    admin = emulator.user(ADMIN, language_code="en")
    await start_wizard(admin)
    await admin.send(EN_TEXT)
    await admin.send(ZH_TEXT, settle=0.3)  # the preview is several messages
    await admin.press("✅ Confirm and send")
    (queued,) = await storage.list_broadcasts()
    progress_id = queued.progress_message_id or 0

    def finished() -> bool:
        progress = admin.chat.get(progress_id)
        return progress is not None and "finished" in progress.text

    await eventually(finished, "the progress message ends with the report")
    report = admin.chat.get(progress_id)
    assert report is not None
    assert report.text.startswith(f"Broadcast #{queued.id}: finished")
    assert "Sent 1 · Blocked 0 · Failed 0 · Remaining 0" in report.text
    assert report.edit_count >= 1  # the one message, edited in place

    news = patient.last_bot_message()
    assert news is not None and news.html == ZH_TEXT
    assert [b["callback_data"] for b in news.inline_keyboard()[0]] == ["1:u"]
    await patient.press(news.buttons()[0][0], message_id=news.message_id)
    subscription = await storage.get_subscription(731)
    assert subscription is not None and not subscription.active
    assert emulator.errors == []
