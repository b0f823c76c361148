"""What a private chat holds: the bot, the user, the messages with every edit kept, the presses.

These are plain records; the method implementations change them and the simulated users read
them. :func:`message_json` renders a message as the Bot API's ``Message`` object.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BotIdentity",
    "Chat",
    "ChatMessage",
    "MessageVersion",
    "Press",
    "message_json",
    "unix_time",
]


def unix_time() -> int:
    """Telegram's message dates: Unix time in whole seconds."""
    return int(time.time())


@dataclass(frozen=True)
class BotIdentity:
    """The bot as users see it (the ``User`` object of ``getMe`` and of its messages)."""

    id: int
    username: str
    first_name: str = "Interventional Test Bot"

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "is_bot": True,
            "first_name": self.first_name,
            "username": self.username,
        }


@dataclass(frozen=True)
class MessageVersion:
    """An earlier state of an edited message."""

    text: str
    html: str
    entities: tuple[dict[str, Any], ...]
    reply_markup: dict[str, Any] | None
    replaced_at: float


@dataclass
class ChatMessage:
    """A message as the user sees it, edits applied; ``html`` is the text as the bot sent it."""

    message_id: int
    from_bot: bool
    text: str
    date: int
    html: str = ""
    parse_mode: str | None = None
    entities: tuple[dict[str, Any], ...] = ()
    reply_markup: dict[str, Any] | None = None
    edit_date: int | None = None
    history: list[MessageVersion] = field(default_factory=list)
    deleted: bool = False
    created: float = field(default_factory=time.perf_counter)

    @property
    def edit_count(self) -> int:
        return len(self.history)

    def buttons(self) -> list[list[str]]:
        """Labels of the inline keyboard, row by row."""
        return [[str(b.get("text", "")) for b in row] for row in self.inline_keyboard()]

    def inline_keyboard(self) -> list[list[dict[str, Any]]]:
        if not self.reply_markup:
            return []
        rows = self.reply_markup.get("inline_keyboard") or []
        return [list(row) for row in rows]

    def __str__(self) -> str:
        who = "bot" if self.from_bot else "user"
        lines = [f"[{self.message_id}] {who}: {self.text}"]
        if self.edit_count:
            lines[0] += f"  (edited {self.edit_count}x)"
        lines += ["    " + " | ".join(f"[{label}]" for label in row) for row in self.buttons()]
        return "\n".join(lines)


@dataclass
class Press:
    """A callback query sent by a simulated user, and the bot's answer once it comes."""

    id: str
    chat_id: int
    message_id: int
    data: str
    label: str | None
    queued_at: float
    answered_at: float | None = None
    answer_text: str | None = None
    show_alert: bool = False
    url: str | None = None
    answers: int = 0

    @property
    def answered(self) -> bool:
        return self.answered_at is not None

    # The result of SimUser.press() reads as "the answer".
    @property
    def text(self) -> str | None:
        return self.answer_text


@dataclass
class Chat:
    """A private chat between the bot and one simulated user."""

    id: int
    first_name: str
    username: str | None
    language_code: str | None
    messages: list[ChatMessage] = field(default_factory=list)
    blocked: bool = False
    outputs: int = 0  # bot messages, edits and deletions, for "has the bot answered"
    last_activity: float = 0.0  # perf_counter of the last bot request concerning this chat
    menu_button: dict[str, Any] | None = None
    _next_message_id: int = 1
    _activity: asyncio.Event = field(default_factory=asyncio.Event)

    def touch(self) -> None:
        """Note a bot request concerning this chat and wake whoever waits for one."""
        self.last_activity = time.perf_counter()
        self._activity.set()
        self._activity = asyncio.Event()

    async def wait_for_activity(self, seconds: float) -> None:
        """Return at the next :meth:`touch`, or after ``seconds``."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._activity.wait(), seconds)

    def add(self, message: ChatMessage) -> ChatMessage:
        self.messages.append(message)
        return message

    def next_message_id(self) -> int:
        message_id = self._next_message_id
        self._next_message_id += 1
        return message_id

    def get(self, message_id: int) -> ChatMessage | None:
        """The message with this id, unless it was deleted."""
        for message in self.messages:
            if message.message_id == message_id and not message.deleted:
                return message
        return None

    def json(self) -> dict[str, Any]:
        result: dict[str, Any] = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.username:
            result["username"] = self.username
        return result

    def user_json(self) -> dict[str, Any]:
        result: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.username:
            result["username"] = self.username
        if self.language_code:
            result["language_code"] = self.language_code
        return result


def message_json(bot: BotIdentity, chat: Chat, message: ChatMessage) -> dict[str, Any]:
    """``message`` as the Bot API's ``Message`` object."""
    result: dict[str, Any] = {
        "message_id": message.message_id,
        "date": message.date,
        "chat": chat.json(),
        "from": bot.json() if message.from_bot else chat.user_json(),
        "text": message.text,
    }
    if message.entities:
        result["entities"] = list(message.entities)
    if message.reply_markup is not None:
        result["reply_markup"] = message.reply_markup
    if message.edit_date is not None:
        result["edit_date"] = message.edit_date
    return result
