"""The admin's /broadcast wizard and /broadcasts, end to end; and that nobody else has them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from telegram import Update

from bot.core import callbacks
from bot.storage import DRAFT_TTL
from bot.testing import BotAPIEmulator, ChatMessage, SimUser
from bot.testing.harness import RunningBot
from tests.conftest import BotStarter, make_settings

ADMIN = 900
EN_TEXT = '<b>Open day</b> on Friday: <a href="https://example.org/open">details</a>'
ZH_TEXT = "<b>开放日</b>：周五上午 9 点"
# zh_Hant is not asked for: its text is the Simplified one converted by machine (OpenCC).
HANT_TEXT = "<b>開放日</b>：週五上午 9 點"
TEXTS = {"en": EN_TEXT, "zh_Hans": ZH_TEXT, "zh_Hant": HANT_TEXT}


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


async def preview(admin: SimUser, en: str = EN_TEXT, zh: str = ZH_TEXT) -> ChatMessage:
    """Walk the wizard to its preview; the question with Confirm and Cancel."""
    await start_wizard(admin)
    await admin.send(en)
    await admin.send(zh, settle=0.3)  # the preview is several messages
    question = admin.last_bot_message()
    assert question is not None and question.buttons() == [["✅ Confirm and send", "✖ Cancel"]]
    return question


def assert_queued(admin: SimUser, question_id: int, broadcast_id: int) -> None:
    asked = admin.chat.get(question_id)
    assert asked is not None
    assert asked.text == f"✅ Queued as broadcast #{broadcast_id}. Its progress is shown below."
    assert asked.buttons() == []


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
    # A forged Confirm button is an out-of-date button (with a draft id, or in the old form).
    for forged in (callbacks.encode(callbacks.BroadcastConfirm("0123456789ab")), "1:bc"):
        await patient.send("/start")
        press = await patient.press_data(forged)
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
    for uid, code in ((711, "en"), (712, "zh-hans"), (713, "zh-hk")):
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
    english, chinese, traditional, question = new[1], new[2], new[3], new[4]
    assert english.html == EN_TEXT and english.text == "Open day on Friday: details"
    assert {"type": "bold", "offset": 0, "length": 8} in english.entities
    assert (chinese.html, traditional.html) == (ZH_TEXT, HANT_TEXT)
    for preview in (english, chinese, traditional):
        assert [b["callback_data"] for b in preview.inline_keyboard()[0]] == ["1:u"]
    assert english.buttons() == [["🔕 Unsubscribe"]] and traditional.buttons() == [["🔕 退訂"]]
    assert "There are 3 subscribers now.\n\nThe 中文 (繁體) text was converted by machine from " \
        "the 中文 (简体) text: check it above." in question.text  # fmt: skip
    assert question.buttons() == [["✅ Confirm and send", "✖ Cancel"]]
    assert await storage.list_broadcasts() == []  # nothing before Confirm

    # Confirm carries this draft's id.
    draft = await storage.get_draft(ADMIN)
    assert draft is not None and not draft.waiting_for_text
    confirm_data = question.inline_keyboard()[0][0]["callback_data"]
    assert confirm_data == callbacks.encode(callbacks.BroadcastConfirm(draft.id))
    await admin.press("✅ Confirm and send")
    broadcasts = await storage.list_broadcasts()
    assert len(broadcasts) == 1
    queued = broadcasts[0]
    assert dict(queued.texts) == TEXTS
    assert queued.locales is None and queued.created_by == ADMIN
    assert queued.total == 3
    # "Queued" replaces the question (and its buttons) once the database has it.
    assert_queued(admin, question.message_id, queued.id)
    assert await storage.get_draft(ADMIN) is None  # the draft became the broadcast
    # The progress message the delivery engine edits is the one the admin got.
    progress = admin.chat.get(queued.progress_message_id or 0)
    assert progress is not None and progress.from_bot
    assert queued.progress_chat_id == ADMIN

    # A second press of Confirm queues nothing more.
    press = await admin.press_data(confirm_data, message_id=question.message_id)
    assert press.text is not None and "out of date" in press.text
    assert len(await storage.list_broadcasts()) == 1

    await admin.send("/broadcasts")
    listing = admin.last_text()
    assert f"#{queued.id}" in listing
    assert "3 recipients" in listing
    assert "Open day on Friday" in listing
    assert emulator.errors == []


async def test_cancel_queues_nothing(staff_bot: RunningBot, emulator: BotAPIEmulator) -> None:
    storage = staff_bot.runtime.storage
    admin = emulator.user(ADMIN, language_code="en")

    # The Cancel button under the preview.
    question = await preview(admin)
    confirm_data = question.inline_keyboard()[0][0]["callback_data"]
    await admin.press("✖ Cancel")
    assert admin.last_text() == "Broadcast cancelled. Nothing was sent."
    press = await admin.press_data(confirm_data, message_id=question.message_id)
    assert press.text is not None and "out of date" in press.text
    assert await storage.list_broadcasts() == []
    assert await storage.get_draft(ADMIN) is None

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
    # ... and those who read zh_Hant, whose text would have been converted from it.
    assert "Subscribers who read 中文 (简体), 中文 (繁體) get nothing from this broadcast." in (
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


# -- the draft: bound to its buttons, kept in the database, queued once ----------------------

OUT_OF_DATE = "This preview is out of date: nothing was done. Send /broadcast to start again."
SECOND_EN = "<b>Second</b> draft"
SECOND_ZH = "第二份草稿"


async def test_an_older_previews_buttons_are_out_of_date(
    staff_bot: RunningBot, emulator: BotAPIEmulator
) -> None:
    storage = staff_bot.runtime.storage
    await emulator.user(741, language_code="en").send("/subscribe")
    admin = emulator.user(ADMIN, language_code="en")
    older = await preview(admin)
    newer = await preview(admin, SECOND_EN, SECOND_ZH)
    for label in ("✅ Confirm and send", "✖ Cancel"):
        press = await admin.press(label, message_id=older.message_id)
        assert press.text == OUT_OF_DATE
    # Neither did anything: nothing queued, the newer draft untouched, its question as it was.
    assert await storage.list_broadcasts() == []
    draft = await storage.get_draft(ADMIN)
    assert draft is not None and dict(draft.texts) == {"en": SECOND_EN, "zh_Hans": SECOND_ZH}
    # (the draft holds what the admin wrote; the conversion is made for the preview and queue)
    assert admin.last_bot_message() == newer
    await admin.press("✅ Confirm and send", message_id=newer.message_id)
    (queued,) = await storage.list_broadcasts()
    assert dict(queued.texts) == {"en": SECOND_EN, "zh_Hans": SECOND_ZH, "zh_Hant": SECOND_ZH}
    assert emulator.errors == []


async def test_confirm_pressed_twice_at_once_queues_once(
    staff_bot: RunningBot, emulator: BotAPIEmulator
) -> None:
    storage = staff_bot.runtime.storage
    admin = emulator.user(ADMIN, language_code="en")
    question = await preview(admin)
    confirm_data = question.inline_keyboard()[0][0]["callback_data"]
    label = "✅ Confirm and send"
    first = await admin.press(label, message_id=question.message_id, wait=False)
    second = await admin.press(label, message_id=question.message_id, wait=False)
    await admin.wait_answered(first, settle=0.3)
    await admin.wait_answered(second, settle=0.3)
    assert len(await storage.list_broadcasts()) == 1
    # And once more, later: out of date.
    third = await admin.press_data(confirm_data, message_id=question.message_id)
    assert third.text == OUT_OF_DATE
    assert len(await storage.list_broadcasts()) == 1


async def test_a_failed_queue_keeps_the_draft(
    staff_bot: RunningBot, emulator: BotAPIEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = staff_bot.runtime.storage
    admin = emulator.user(ADMIN, language_code="en")
    question = await preview(admin)
    queue_draft = storage.queue_draft
    calls = 0

    async def database_down_once(*args: Any, **kwargs: Any) -> int | None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OperationalError("INSERT INTO broadcasts", {}, ConnectionResetError())
        return await queue_draft(*args, **kwargs)

    monkeypatch.setattr(storage, "queue_draft", database_down_once)
    await admin.press("✅ Confirm and send", message_id=question.message_id, settle=0.3)
    assert admin.last_text() == (
        "⚠️ The broadcast could not be queued: the database did not answer. Nothing was sent, "
        "and your draft is kept: press Confirm again."
    )
    assert await storage.list_broadcasts() == []
    assert await storage.get_draft(ADMIN) is not None
    asked = admin.chat.get(question.message_id)
    assert asked is not None and asked.buttons() == question.buttons()  # still there to press

    await admin.press("✅ Confirm and send", message_id=question.message_id, settle=0.3)
    (queued,) = await storage.list_broadcasts()
    assert dict(queued.texts) == TEXTS
    assert await storage.get_draft(ADMIN) is None


async def test_an_edited_text_is_never_taken_as_the_next_one(
    staff_bot: RunningBot, emulator: BotAPIEmulator
) -> None:
    storage = staff_bot.runtime.storage
    admin = emulator.user(ADMIN, language_code="en")
    await start_wizard(admin)
    english = await admin.send(EN_TEXT)
    assert "Step 2 of 2" in admin.last_text()
    asked = len(admin.bot_messages())
    # The admin corrects the English text in Telegram: the bot does not even ask for edits...
    assert emulator.allowed_updates == frozenset({"message", "callback_query", "my_chat_member"})
    emulator.deliver_edit(ADMIN, english.message_id, "<b>Open day</b> on Saturday")
    # ... and one that arrives anyway is dropped before any handler.
    edited = {
        "update_id": 9_000_001,
        "edited_message": {
            "message_id": english.message_id,
            "date": english.date,
            "edit_date": english.date + 5,
            "chat": admin.chat.json(),
            "from": admin.chat.user_json(),
            "text": "<b>Open day</b> on Saturday",
        },
    }
    await staff_bot.app.process_update(Update.de_json(edited, staff_bot.app.bot))
    assert len(admin.bot_messages()) == asked
    draft = await storage.get_draft(ADMIN)
    assert draft is not None and draft.step == 1 and dict(draft.texts) == {"en": EN_TEXT}

    await admin.send(ZH_TEXT, settle=0.3)
    await admin.press("✅ Confirm and send")
    (queued,) = await storage.list_broadcasts()
    assert dict(queued.texts) == TEXTS


async def test_admin_commands_work_only_in_private_chats(
    staff_bot: RunningBot, emulator: BotAPIEmulator
) -> None:
    storage = staff_bot.runtime.storage
    admin = emulator.user(ADMIN, language_code="en")
    group = emulator.group(-100_555, title="Radiology staff")
    emulator.deliver_group_text(group.id, ADMIN, "/broadcast")
    await emulator.wait_for_bot(
        group.id,
        lambda: bool(emulator.bot_messages(group.id)),
        within=5,
        settle=0.2,
        what="the note in the group",
        since=0.0,
    )
    for text in ("/broadcasts", "/reload", EN_TEXT, "/cancel"):
        emulator.deliver_group_text(group.id, ADMIN, text)
    await admin.send("/start", settle=0.3)  # the group's updates were taken before this one
    (note,) = emulator.bot_messages(group.id)
    assert note.text.startswith("I only talk in private chats")
    assert await storage.get_draft(ADMIN) is None
    assert await storage.list_broadcasts() == []


async def test_a_draft_outlives_the_process_that_started_it(
    start_bot: BotStarter, emulator: BotAPIEmulator
) -> None:
    """The draft is in the database: another process (a restart, a replica) takes the next step."""
    settings = make_settings(ADMIN_IDS=str(ADMIN))
    admin = emulator.user(ADMIN, language_code="en")
    async with start_bot(settings):
        await start_wizard(admin)
        await admin.send(EN_TEXT)
    async with start_bot(settings) as second:
        await admin.send(ZH_TEXT, settle=0.3)
        await admin.press("✅ Confirm and send")
        (queued,) = await second.runtime.storage.list_broadcasts()
    assert dict(queued.texts) == TEXTS


# The three ways a typed question is answered (handlers/questions.py).
TYPED_ANSWERS = (
    "This topic best matches your question",
    "These topics may answer your question",
    "I could not find a topic for your message",
)


async def test_a_draft_expires_after_30_minutes(
    staff_bot: RunningBot, emulator: BotAPIEmulator
) -> None:
    storage = staff_bot.runtime.storage
    admin = emulator.user(ADMIN, language_code="en")
    await start_wizard(admin)
    draft = await storage.get_draft(ADMIN)
    assert draft is not None
    later = draft.updated_at + DRAFT_TTL + timedelta(seconds=1)
    assert await storage.get_draft(ADMIN, now=later) is None
    # Expired and gone: the admin's text is a typed question again, answered by the search.
    await admin.send(EN_TEXT)
    assert admin.last_text().startswith(TYPED_ANSWERS)
