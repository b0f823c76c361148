"""What a simulated user does to Telegram: type text, press a button, block the bot, and wait.

Each action changes the chat and queues the update the bot will receive by long polling.
:func:`wait_for_bot` waits until the bot has reacted and the chat has gone quiet; when it gives
up, its message shows the transcript and the failed requests meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bot.testing.emulator.chat_model import Chat, ChatMessage, Press, unix_time
from bot.testing.emulator.request_log import RequestLog
from bot.testing.emulator.telegram_world import TelegramWorld

__all__ = ["press_button", "send_text", "set_blocked", "wait_for_bot"]


def send_text(world: TelegramWorld, chat: Chat, text: str) -> ChatMessage:
    """The user sends ``text``; a leading /command gets a ``bot_command`` entity."""
    entities: tuple[dict[str, Any], ...] = ()
    if text.startswith("/"):
        command = text.split(maxsplit=1)[0]
        length = len(command.encode("utf-16-le")) // 2
        entities = ({"type": "bot_command", "offset": 0, "length": length},)
    message = chat.add(
        ChatMessage(chat.next_message_id(), False, text, unix_time(), html=text, entities=entities)
    )
    world.updates.put("message", world.message_json(chat, message))
    return message


def press_button(
    world: TelegramWorld, chat: Chat, message: ChatMessage, data: str, label: str | None
) -> Press:
    """The user presses a button carrying ``data`` on ``message``: a callback query."""
    press = Press(
        id=world.next_query_id(),
        chat_id=chat.id,
        message_id=message.message_id,
        data=data,
        label=label,
        queued_at=time.perf_counter(),
    )
    world.queries[press.id] = press
    world.updates.put(
        "callback_query",
        {
            "id": press.id,
            "from": chat.user_json(),
            "message": world.message_json(chat, message),
            "chat_instance": str(chat.id * 7 + 1),
            "data": data,
        },
    )
    return press


def set_blocked(world: TelegramWorld, chat: Chat, *, blocked: bool) -> None:
    """The user blocks (or unblocks) the bot; the bot hears of it by ``my_chat_member``."""
    if chat.blocked == blocked:
        return
    chat.blocked = blocked
    old, new = ("member", "kicked") if blocked else ("kicked", "member")

    def member(status: str) -> dict[str, Any]:
        result: dict[str, Any] = {"status": status, "user": world.bot.json()}
        if status == "kicked":
            result["until_date"] = 0
        return result

    world.updates.put(
        "my_chat_member",
        {
            "chat": chat.json(),
            "from": chat.user_json(),
            "date": unix_time(),
            "old_chat_member": member(old),
            "new_chat_member": member(new),
        },
    )


async def wait_for_bot(
    chat: Chat,
    ready: Callable[[], bool],
    *,
    within: float,
    settle: float,
    what: str,
    since: float,
    log: RequestLog,
) -> None:
    """Wait until ``ready()`` and then no bot request for ``chat`` for ``settle`` seconds.

    Raises AssertionError, with the transcript, when ``ready()`` is not true ``within`` seconds.
    """
    deadline = time.perf_counter() + within
    while True:
        now = time.perf_counter()
        if ready():
            quiet = now - chat.last_activity
            if quiet >= settle or now >= deadline + within:
                return
            wait = settle - quiet
        else:
            if now >= deadline:
                raise AssertionError(_timeout_report(chat, what, within, since, log))
            wait = deadline - now
        await chat.wait_for_activity(wait)


def _timeout_report(chat: Chat, what: str, timeout: float, since: float, log: RequestLog) -> str:
    lines = [f"{what}: the bot did not answer within {timeout:g} s", "transcript:"]
    lines += [f"  {m}".replace("\n", "\n  ") for m in chat.messages if not m.deleted]
    failed = [r for r in log.errors if r.chat_id in (chat.id, None) and r.time >= since]
    if failed:
        lines.append("failed requests meanwhile:")
        lines += [f"  {r.method} -> {r.status} {r.description}" for r in failed]
    if log.violations:
        lines.append("violations:")
        lines += [f"  [{v.layer}] {v.message}" for v in log.violations]
    return "\n".join(lines)
