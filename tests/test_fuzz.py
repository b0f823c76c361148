"""10,000 updates of every kind the Bot API defines, through the emulator's update queue.

Each update is built from Telegram's published Bot API (``BOT_API_SPEC``, the machine-readable
spec ``.ci/run`` points at): one of the ``Update`` fields, its object filled from the spec's
required fields and some optional ones, down a few levels. Then what matters is made nasty:
random and forged callback data, texts of 4,096 characters and empty ones, commands that do
not exist, messages without ``from``, groups, channels, edits, joins, blocks, stickers. 200
users send them as fast as the emulator takes them; the bot must not raise, must stay within
its bounds, and must still serve a patient who arrives right after.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import re
import time
from pathlib import Path
from typing import Any

import pytest

from bot.telegram_side.update_scheduler import UpdateScheduler
from bot.testing import BotAPIEmulator
from bot.testing.harness import RunningBot
from tests.conftest import CONTENT, LOCALES, BotStarter, make_settings

SPEC = os.environ.get("BOT_API_SPEC")
pytestmark = pytest.mark.skipif(not SPEC, reason="BOT_API_SPEC is not set (.ci/run sets it)")

UPDATES = 10_000
USERS = [900_000 + n for n in range(200)]
GROUPS = [-100_500_000 - n for n in range(10)]
CHANNELS = [-100_600_000 - n for n in range(5)]
MESSAGE_KINDS = {
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_message",
    "edited_business_message",
    "guest_message",
}
TEXTS = [
    "/start",
    "/start features",
    "/start ../../etc/passwd",
    "/help",
    "/language",
    "/subscribe",
    "/unsubscribe",
    "/stop",
    "/broadcast",
    "/reload",
    "/no_such_command",
    "/start@interventional_test_bot",
    "",
    "x" * 4096,
    "界" * 4096,
    "<b>not html</b> & {braces} %s",
    "hello",
]
CALLBACK_DATA = [
    "1:h",
    "1:l",
    "1:t:features",
    "1:t:features:2",
    "1:t:nope",
    "1:w:features:0:0",
    "1:L:zh_Hans",
    "1:L:xx",
    "1:s",
    "1:u",
    "1:d",
    "1:i:events",
    "1:bc",
    "1:bx",
    "2:h",
    "",
    "1:" + "t" * 80,
    "garbage:::",
    "1:t:" + "é" * 30,
]
_ALWAYS = re.compile(r"always [“\"]([^”\"]+)[”\"]")
_QUOTED = re.compile(r"[“\"]([a-z_]+)[”\"]")


class UpdateFactory:
    """Updates built from the Bot API spec; see the module docstring."""

    def __init__(self, spec: dict[str, Any], rng: random.Random, bot_id: int) -> None:
        self.types: dict[str, Any] = spec["types"]
        self.rng = rng
        self.bot_id = bot_id
        fields = self.types["Update"]["fields"]
        self.kinds: list[str] = [f["name"] for f in fields if f["name"] != "update_id"]

    def update(self, kind: str) -> dict[str, Any]:
        field = next(f for f in self.types["Update"]["fields"] if f["name"] == kind)
        description = field.get("description", "")
        payload: dict[str, Any] = self.value(kind, field["types"][0], description, 0)
        if kind in MESSAGE_KINDS:
            self._nasty_message(payload, kind)
        elif kind == "callback_query":
            self._nasty_press(payload)
        elif isinstance(payload, dict) and "chat" in payload:
            payload["chat"] = self.chat(self.rng.choice(USERS + GROUPS))
        return payload

    def value(self, name: str, type_name: str, description: str, depth: int) -> Any:
        rng = self.rng
        if type_name.startswith("Array of "):
            inner = type_name.removeprefix("Array of ")
            count = rng.randint(1, 2)
            return [self.value(name, inner, description, depth + 1) for _ in range(count)]
        if type_name == "Integer":
            if "date" in name or name.endswith("_time"):
                return int(time.time()) - rng.randint(0, 100)
            if name in ("id", "user_id", "chat_id", "sender_id"):
                return rng.choice(USERS)
            return rng.randint(0, 1000)
        if type_name == "Float":
            return round(rng.uniform(0, 90), 4)
        if type_name in ("Boolean", "True"):
            return True if type_name == "True" else rng.random() < 0.5
        if type_name == "String":
            return self.string(description)
        if type_name == "User":
            return self.user(rng.choice(USERS))
        if type_name == "Chat":
            return self.chat(rng.choice(USERS + GROUPS + CHANNELS))
        return self.object(type_name, depth)

    def object(self, type_name: str, depth: int) -> Any:
        spec = self.types[type_name]
        if "subtypes" in spec:
            choices = spec["subtypes"]
            if depth > 3:  # deep down, end the recursion (rich text nests without limit)
                choices = [c for c in choices if self._flat(c)] or choices
            choice = self.rng.choice(choices)
            if choice not in self.types:  # "String", "Array of RichText"
                return self.value("text", choice, "", depth + 1)
            return self.object(choice, depth)
        chance = 0.04 if depth == 0 else 0.02
        result: dict[str, Any] = {}
        for field in spec.get("fields", []):
            if not field["required"] and (depth > 2 or self.rng.random() > chance):
                continue
            type_name = self.rng.choice(field["types"])
            result[field["name"]] = self.value(
                field["name"], type_name, field.get("description", ""), depth + 1
            )
        return result

    def string(self, description: str) -> str:
        """A discriminator ("always “x”"), one of the values the description lists, or any."""
        always = _ALWAYS.search(description)
        if always:
            return always.group(1)
        options: list[str] = _QUOTED.findall(description)
        if options and ("can be" in description or "one of" in description):
            return self.rng.choice(options)
        return self.rng.choice(["x", "Ω", "test", "a" * 64, "1:h"])

    def _flat(self, type_name: str) -> bool:
        """A primitive, or an object whose required fields are all primitive."""
        spec = self.types.get(type_name)
        if spec is None:
            return not type_name.startswith("Array of ")
        primitive = {"Integer", "String", "Boolean", "Float", "True"}
        return "subtypes" not in spec and all(
            set(f["types"]) <= primitive for f in spec.get("fields", []) if f["required"]
        )

    def user(self, user_id: int) -> dict[str, Any]:
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": "Fuzz"}
        if self.rng.random() < 0.7:
            user["language_code"] = self.rng.choice(["en", "zh-hans", "fr", "", "zh-TW"])
        return user

    def chat(self, chat_id: int) -> dict[str, Any]:
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": "Fuzz"}
        kind = "channel" if chat_id in CHANNELS else self.rng.choice(["group", "supergroup"])
        return {"id": chat_id, "type": kind, "title": "Fuzz chat"}

    def _nasty_message(self, message: dict[str, Any], kind: str) -> None:
        rng = self.rng
        channel = "channel" in kind
        user_id = rng.choice(USERS)
        chat_id = rng.choice(CHANNELS) if channel else rng.choice([user_id, user_id, *GROUPS])
        message["chat"] = self.chat(chat_id)
        message["date"] = int(time.time())
        if channel or rng.random() < 0.1:
            message.pop("from", None)  # channel posts, anonymous admins: no sender
        else:
            message["from"] = self.user(user_id)
        if rng.random() < 0.8:
            text = rng.choice(TEXTS)
            message["text"] = text
            message.pop("entities", None)
            if text.startswith("/") and rng.random() < 0.9:
                length = len(text.split(maxsplit=1)[0])
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        if rng.random() < 0.05:
            message["new_chat_members"] = [self.user(rng.choice(USERS))]
        if rng.random() < 0.05:
            message["sticker"] = self.object("Sticker", 1)

    def _nasty_press(self, query: dict[str, Any]) -> None:
        rng = self.rng
        user_id = rng.choice(USERS)
        query["from"] = self.user(user_id)
        query["data"] = rng.choice(CALLBACK_DATA)
        if rng.random() < 0.1:
            query.pop("message", None)
            query["inline_message_id"] = "inline-1"
            return
        query["message"] = {
            "message_id": rng.randint(1, 30),
            "date": int(time.time()),
            "chat": self.chat(user_id),
            "from": {"id": self.bot_id, "is_bot": True, "first_name": "Bot"},
            "text": "menu",
        }


def scheduler_of(bot: RunningBot) -> UpdateScheduler:
    queue = bot.app.update_queue
    assert isinstance(queue, UpdateScheduler)
    return queue


async def test_ten_thousand_updates_of_every_kind_then_a_patient(
    start_bot: BotStarter, emulator: BotAPIEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    assert SPEC is not None
    spec = json.loads(await asyncio.to_thread(Path(SPEC).read_text, encoding="utf-8"))
    factory = UpdateFactory(spec, random.Random(9), emulator.bot_id)
    for chat_id in USERS + GROUPS + CHANNELS:  # the chats exist, so replies can be delivered
        emulator.user(chat_id)
    caplog.set_level(logging.WARNING)
    settings = make_settings(
        CONTENT,
        LOCALES,
        USER_UPDATE_RATE="3",
        USER_UPDATE_BURST="5",
        CHAT_REPLY_RATE="1",
        CHAT_REPLY_BURST="2",
    )
    async with start_bot(settings) as bot:
        scheduler = scheduler_of(bot)
        tasks_seen: list[int] = []
        kinds_sent: set[str] = set()
        for n in range(UPDATES):
            kind = factory.kinds[n % len(factory.kinds)] if n < 500 else _weighted(factory)
            emulator.queue_update(kind, factory.update(kind))
            kinds_sent.add(kind)
            if n % 250 == 0:
                tasks_seen.append(len(asyncio.all_tasks()))
                await asyncio.sleep(0)
        assert kinds_sent == set(factory.kinds)  # every kind the Bot API defines

        # A patient arrives right after: served within a few seconds, menu and a press.
        patient = emulator.user(999_999, language_code="en")
        await patient.send("/start", within=15)
        await patient.press("Features", within=15)
        assert patient.last_text().startswith("Home › Features")

        while emulator.pending_updates or scheduler.waiting or scheduler.in_flight:
            tasks_seen.append(len(asyncio.all_tasks()))
            await asyncio.sleep(0.1)

    limits = scheduler.limits
    assert scheduler.stats.most_waiting <= limits.max_waiting
    assert scheduler.stats.most_in_flight <= limits.max_in_flight
    assert max(tasks_seen) <= _task_bound(limits.max_in_flight), max(tasks_seen)
    assert scheduler.stats.dropped > 1000
    # Nothing raised out of a handler or a task. (Under this load SQLite may refuse a write
    # after its 5 s busy timeout: that is an outage, one line, and the patients' menus go on.)
    errors = [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.levelno >= logging.ERROR and "event=database_unavailable" not in r.getMessage()
    ]
    assert errors == [], errors[:5]
    assert len([r for r in caplog.records if "event=database_unavailable" in r.getMessage()]) <= 2


def _weighted(factory: UpdateFactory) -> str:
    """Mostly what patients send (messages, presses), the rest of every kind."""
    roll = factory.rng.random()
    if roll < 0.45:
        return "message"
    if roll < 0.75:
        return "callback_query"
    if roll < 0.82:
        return "edited_message"
    return factory.rng.choice(factory.kinds)


def _task_bound(max_in_flight: int) -> int:
    """Tasks alive at once may not grow with the flood: PTB's updates in flight, plus what the
    process also runs (the in-process emulator's HTTP handlers, answers to dropped presses),
    which varies with the machine's load. A task per update would be thousands."""
    return 2 * max_in_flight + 128
