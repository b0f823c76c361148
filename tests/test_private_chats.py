"""Only private chats are served: a group is told once and then left alone, channel posts and
edits are never input, and no user row is made for an update the bot ignores."""

from __future__ import annotations

from typing import Any

from telegram import Update

from bot.storage import Storage
from bot.testing import BotAPIEmulator
from bot.testing.harness import RunningBot
from tests.conftest import BotStarter

GROUP = -100_200
MEMBER = 611  # a patient who writes in the group
OTHER = 612
NOTE = (
    "I only talk in private chats, so that what you ask stays between us. "
    "Tap my name and send /start there. I will stay quiet in this group."
)


async def after_the_bot_took_everything(emulator: BotAPIEmulator, probe_id: int) -> None:
    """A private round trip: updates queued before it were taken (and the gate's work is
    quick and free of I/O for ignored ones); a short settle covers the rest."""
    await emulator.user(probe_id, language_code="en").send("/help", settle=0.3)


async def no_trace_of(storage: Storage, *user_ids: int) -> None:
    for user_id in user_ids:
        assert await storage.get_user(user_id) is None, user_id
        assert await storage.get_subscription(user_id) is None, user_id


async def test_a_group_is_told_once_and_then_left_alone(
    start_bot: BotStarter, emulator: BotAPIEmulator
) -> None:
    emulator.user(MEMBER, language_code="en")
    emulator.user(OTHER, language_code="zh-hans")
    group = emulator.group(GROUP, title="Liver patients")
    async with start_bot() as bot:
        emulator.add_to_group(GROUP, by_user_id=MEMBER)
        await emulator.wait_for_bot(
            GROUP,
            lambda: bool(emulator.bot_messages(GROUP)),
            within=5,
            settle=0.2,
            what="the note",
            since=0.0,
        )
        for sender, text in ((MEMBER, "/start"), (OTHER, "/subscribe"), (MEMBER, "hello")):
            emulator.deliver_group_text(GROUP, sender, text)
        await after_the_bot_took_everything(emulator, 613)
        (note,) = emulator.bot_messages(GROUP)
        assert note.text == NOTE
        await no_trace_of(bot.runtime.storage, MEMBER, OTHER)
        assert await bot.runtime.storage.count_users() == 1  # the private probe only
    # Remembered in the database: a restart (or another replica) stays quiet too.
    async with start_bot() as bot:
        emulator.deliver_group_text(GROUP, OTHER, "/help")
        emulator.add_to_group(GROUP, by_user_id=OTHER)
        await after_the_bot_took_everything(emulator, 613)
        assert len(emulator.bot_messages(GROUP)) == 1
        await no_trace_of(bot.runtime.storage, MEMBER, OTHER)
    assert group.messages[0].text == NOTE
    assert emulator.errors == []


async def test_a_supergroup_first_heard_from_by_a_message(
    bot: RunningBot, emulator: BotAPIEmulator
) -> None:
    emulator.user(MEMBER, language_code="zh-hans")
    emulator.group(-100_300, title="患者群", kind="supergroup")
    emulator.deliver_group_text(-100_300, MEMBER, "/start@interventional_test_bot")
    emulator.deliver_group_text(-100_300, MEMBER, "/start@interventional_test_bot")
    await after_the_bot_took_everything(emulator, 614)
    (note,) = emulator.bot_messages(-100_300)
    assert note.text.startswith("我只在私聊中回复")  # in the sender's language
    await no_trace_of(bot.runtime.storage, MEMBER)


async def test_a_button_pressed_in_a_group_is_answered_with_nothing(
    bot: RunningBot, emulator: BotAPIEmulator
) -> None:
    emulator.user(MEMBER, language_code="en")
    emulator.group(GROUP)
    emulator.deliver_group_text(GROUP, MEMBER, "/start")
    await after_the_bot_took_everything(emulator, 615)
    (note,) = emulator.bot_messages(GROUP)
    press = emulator.deliver_press(GROUP, note.message_id, "1:t:what")
    await emulator.wait_for_bot(
        GROUP, lambda: press.answered, within=5, settle=0.2, what="the press", since=0.0
    )
    assert press.answer_text is None
    assert emulator.bot_messages(GROUP) == [note]
    assert note.text == NOTE and note.edit_count == 0


def _update(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"update_id": 9_100_000, kind: payload}


async def test_channel_posts_edits_and_stickers_are_not_input(
    bot: RunningBot, emulator: BotAPIEmulator
) -> None:
    """Telegram is asked only for what the handlers use; the rest is dropped before any
    handler or database work if it arrives anyway."""
    storage = bot.runtime.storage
    assert emulator.allowed_updates == frozenset({"message", "callback_query", "my_chat_member"})
    emulator.group(-100_400, title="Hospital news", kind="channel")
    emulator.deliver_channel_post(-100_400, "/start")
    user = emulator.user(MEMBER, language_code="en")
    sent = await user.send("/start")
    emulator.deliver_edit(MEMBER, sent.message_id, "/help")
    await after_the_bot_took_everything(emulator, 616)
    assert emulator.bot_messages(-100_400) == []
    assert len(user.bot_messages()) == 1  # the menu for /start; nothing for the edit

    chat = {"id": 617, "type": "private", "first_name": "Sam"}
    sender = {"id": 617, "is_bot": False, "first_name": "Sam", "language_code": "en"}
    channel = {"id": -100_400, "type": "channel", "title": "Hospital news"}
    ignored = [
        _update("channel_post", {"message_id": 5, "date": 0, "chat": channel, "text": "/start"}),
        _update(
            "edited_message",
            {
                "message_id": 6,
                "date": 0,
                "edit_date": 1,
                "chat": chat,
                "from": sender,
                "text": "/start",
            },
        ),
        _update(
            "message",
            {
                "message_id": 7,
                "date": 0,
                "chat": chat,
                "from": sender,
                "sticker": {
                    "file_id": "x",
                    "file_unique_id": "y",
                    "type": "regular",
                    "width": 512,
                    "height": 512,
                    "is_animated": False,
                    "is_video": False,
                },
            },
        ),
    ]
    requests = len(emulator.requests)
    for payload in ignored:
        await bot.app.process_update(Update.de_json(payload, bot.app.bot))
    assert len(emulator.requests) == requests  # not a single Bot API call
    await no_trace_of(storage, 617)


async def test_blocking_the_bot_creates_no_user(bot: RunningBot, emulator: BotAPIEmulator) -> None:
    emulator.user(618, language_code="en")
    emulator.block_bot(618)
    emulator.unblock_bot(618)
    await after_the_bot_took_everything(emulator, 619)
    await no_trace_of(bot.runtime.storage, 618)
