"""Simulated Telegram users: they type, press buttons by their label and read the transcript.

A test reads like a patient::

    pat = emulator.user(42, language_code="en")
    await pat.send("/start")
    await pat.press("Which tumours are suitable?")
    assert "suitable" in pat.last_text()

A user acts only through the public interface :class:`TelegramForUsers` (which
:class:`~bot.testing.emulator.bot_api_emulator.BotAPIEmulator` offers) and reads its
:class:`~bot.testing.emulator.chat_model.Chat`; it does not know the emulator itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from bot.testing.emulator.chat_model import Chat, ChatMessage, Press

__all__ = ["SimUser", "TelegramForUsers"]


class TelegramForUsers(Protocol):
    """What a simulated user needs from Telegram: to send, to press, and to wait for the bot."""

    def deliver_text(self, user_id: int, text: str) -> ChatMessage:
        """The user sends ``text`` to the bot."""
        ...

    def deliver_press(
        self, user_id: int, message_id: int, data: str, *, label: str | None = None
    ) -> Press:
        """The user presses a button with callback ``data`` on a message of the chat."""
        ...

    async def wait_for_bot(
        self,
        user_id: int,
        ready: Callable[[], bool],
        *,
        within: float,
        settle: float,
        what: str,
        since: float,
    ) -> None:
        """Wait until ``ready()``, then until the bot leaves the chat alone ``settle`` s."""
        ...


class SimUser:
    """One user in a private chat with the bot, seen through the emulator."""

    def __init__(
        self,
        emulator: TelegramForUsers,
        chat: Chat,
        *,
        timeout: float = 5.0,
        settle: float = 0.05,
    ) -> None:
        self.emulator = emulator
        self.chat = chat
        #: How long send()/press() wait for the bot before failing.
        self.timeout = timeout
        #: How long the chat must stay quiet (no bot request for it) to count as settled.
        self.settle = settle
        #: Every press, in order, with the perf_counter() at which its update was queued.
        self.presses: list[Press] = []

    @property
    def id(self) -> int:
        return self.chat.id

    @property
    def first_name(self) -> str:
        return self.chat.first_name

    @property
    def language_code(self) -> str | None:
        return self.chat.language_code

    # ---------------------------------------------------------------- acting

    async def send(
        self,
        text: str,
        *,
        wait: bool = True,
        within: float | None = None,
        settle: float | None = None,
    ) -> ChatMessage:
        """Type ``text`` (a command gets a bot_command entity) and wait until the bot handled it.

        Handled means: at least one bot message, edit or deletion in this chat after it, then
        ``settle`` seconds without bot requests for this chat.
        """
        before = self.chat.outputs
        since = time.perf_counter()
        message = self.emulator.deliver_text(self.id, text)
        if wait:
            await self.emulator.wait_for_bot(
                self.id,
                lambda: self.chat.outputs > before,
                within=self.timeout if within is None else within,
                settle=self.settle if settle is None else settle,
                what=f"user {self.id} sent {text!r}",
                since=since,
            )
        return message

    async def press(
        self,
        label: str,
        *,
        message_id: int | None = None,
        wait: bool = True,
        within: float | None = None,
        settle: float | None = None,
    ) -> Press:
        """Press the inline button labelled ``label`` (exact, or a unique substring).

        The button is looked up on the latest bot message with a keyboard, or on ``message_id``
        (to press a button of an old message). Waits until the bot answered the callback query
        and the chat settled, unless ``wait=False``.
        """
        message = self._keyboard_message(message_id)
        button = self._find_button(message, label)
        data = button.get("callback_data")
        if not isinstance(data, str):
            raise AssertionError(
                f"button {button.get('text')!r} has no callback_data (it is {sorted(button)})"
            )
        return await self._press(
            message, data, str(button.get("text")), wait=wait, within=within, settle=settle
        )

    async def press_data(
        self,
        data: str,
        *,
        message_id: int | None = None,
        wait: bool = True,
        within: float | None = None,
        settle: float | None = None,
    ) -> Press:
        """Send a callback query with arbitrary (possibly forged) ``data`` from a bot message."""
        if message_id is None:
            message = self.last_bot_message()
            if message is None:
                raise AssertionError(f"user {self.id}: the bot has sent no message to press on")
        else:
            message = self._message(message_id)
        return await self._press(message, data, None, wait=wait, within=within, settle=settle)

    async def wait_answered(
        self, press: Press, *, within: float | None = None, settle: float | None = None
    ) -> Press:
        """Wait for the answer to a press made with ``wait=False``, and for the chat to settle."""
        await self.emulator.wait_for_bot(
            self.id,
            lambda: press.answered,
            within=self.timeout if within is None else within,
            settle=self.settle if settle is None else settle,
            what=f"user {self.id} pressed {press.label or press.data!r}",
            since=press.queued_at,
        )
        return press

    async def _press(
        self,
        message: ChatMessage,
        data: str,
        label: str | None,
        *,
        wait: bool,
        within: float | None,
        settle: float | None,
    ) -> Press:
        press = self.emulator.deliver_press(self.id, message.message_id, data, label=label)
        self.presses.append(press)
        if wait:
            await self.wait_answered(press, within=within, settle=settle)
        return press

    # ---------------------------------------------------------------- reading

    def transcript(self) -> list[ChatMessage]:
        """The chat as the user sees it: every message not deleted, edits applied."""
        return [m for m in self.chat.messages if not m.deleted]

    def format_transcript(self) -> str:
        return "\n".join(str(m) for m in self.transcript())

    def bot_messages(self) -> list[ChatMessage]:
        return [m for m in self.transcript() if m.from_bot]

    def last_bot_message(self) -> ChatMessage | None:
        messages = self.bot_messages()
        return messages[-1] if messages else None

    def last_text(self) -> str:
        """The visible text of the latest bot message."""
        message = self.last_bot_message()
        if message is None:
            raise AssertionError(f"user {self.id}: the bot has sent nothing")
        return message.text

    def buttons(self, message_id: int | None = None) -> list[list[str]]:
        """Labels of the latest keyboard (or of ``message_id``), row by row."""
        return self._keyboard_message(message_id).buttons()

    def _message(self, message_id: int) -> ChatMessage:
        message = self.chat.get(message_id)
        if message is None:
            raise AssertionError(f"user {self.id}: no message {message_id} in the chat")
        return message

    def _keyboard_message(self, message_id: int | None) -> ChatMessage:
        if message_id is not None:
            return self._message(message_id)
        for message in reversed(self.bot_messages()):
            if message.inline_keyboard():
                return message
        raise AssertionError(
            f"user {self.id}: no bot message with buttons\n{self.format_transcript()}"
        )

    @staticmethod
    def _find_button(message: ChatMessage, label: str) -> dict[str, object]:
        buttons = [b for row in message.inline_keyboard() for b in row]
        exact = [b for b in buttons if b.get("text") == label]
        if exact:
            return exact[0]
        partial = [b for b in buttons if label in str(b.get("text", ""))]
        if len(partial) == 1:
            return partial[0]
        labels = [str(b.get("text")) for b in buttons]
        problem = "matches several buttons" if partial else "matches no button"
        raise AssertionError(
            f"{label!r} {problem} on message {message.message_id}; buttons: {labels}"
        )
