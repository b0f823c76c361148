"""Replies to one chat at Telegram's pace: about one a second, the latest screen winning.

Telegram allows a bot about one message a second in a chat (short bursts tolerated) and
answers 429 with ``retry_after`` beyond it. A 429 for one chat says nothing about the others,
so it backs off that chat only. :class:`ReplyPacing` is consulted by the interactive bot's
transport (:class:`~bot.telegram_side.transport.ObservedRequest`) before every message or edit
it sends to a chat:

- each chat has a token bucket (:class:`~bot.core.flood.KeyedRate`, ``CHAT_REPLY_RATE``/s
  less :data:`SAFETY_MARGIN`, bursts of ``CHAT_REPLY_BURST``), shared by new messages and
  edits; a reply waits for its chat's turn, at most :data:`MAX_REPLY_WAIT` seconds;
- a 429 for a chat blocks that chat for ``retry_after``; a reply that would have to wait longer
  than :data:`MAX_REPLY_WAIT` is not sent (:class:`ReplyDropped`) and its chat is left alone;
- an edit that waited for its turn is not sent if, meanwhile, a newer button press on the same
  message arrived (:meth:`ReplyPacing.press_arrived`, told by the update scheduler): that
  press's screen replaces it, so the intermediate screen is skipped and its slot given back.

Handlers see a :class:`ReplyDropped` as "nothing to do" (``handlers/replies.py``); the button
press is answered all the same.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Literal

from telegram.error import TelegramError

from bot.core.cache import BoundedCache
from bot.core.flood import KeyedRate
from bot.core.limits import MESSAGE_METHODS

__all__ = ["EDIT_METHODS", "MAX_REPLY_WAIT", "PACED_METHODS", "ReplyDropped", "ReplyPacing"]

#: The longest an interactive reply waits for its chat's turn (pace or 429) before it is
#: dropped: longer, and the update holds one of the few update slots for nothing.
MAX_REPLY_WAIT = 5.0
#: Replies go this much slower than the rate asked for: Telegram measures when requests
#: arrive, and a reply sent exactly 1 s after the previous one can arrive a little sooner.
#: With the chat's one broadcast message on top, pacing at exactly Telegram's rate drew 429s.
SAFETY_MARGIN = 1.05

#: Methods that edit a message in place.
EDIT_METHODS = frozenset(
    {"editMessageText", "editMessageReplyMarkup", "editMessageCaption", "editMessageMedia"}
)
#: Methods paced per chat: those that put something new on the chat's screen.
PACED_METHODS = EDIT_METHODS | MESSAGE_METHODS


class ReplyDropped(TelegramError):
    """A reply that was not sent: replaced by a newer screen (``superseded``), or its chat
    must wait too long (``rate_limited``)."""

    def __init__(self, reason: Literal["superseded", "rate_limited"]) -> None:
        super().__init__(f"Reply dropped: {reason}")
        self.reason = reason


class ReplyPacing:
    """Per-chat pace, per-chat 429 backoff, and the latest-screen rule; see the module."""

    def __init__(
        self,
        rate: float = 1.0,
        burst: int = 2,
        *,
        max_wait: float = MAX_REPLY_WAIT,
        chats_kept: int = 50_000,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.max_wait = max_wait
        self._chats: KeyedRate[int] = KeyedRate(
            rate / SAFETY_MARGIN, burst, maxsize=chats_kept, clock=clock
        )
        # How many presses each (chat, message) has had; an edit that waited compares.
        self._presses: BoundedCache[tuple[int, int], int] = BoundedCache(
            maxsize=chats_kept, ttl=60.0, clock=clock
        )
        self._sleep = sleep
        self.superseded = 0
        self.dropped = 0

    def press_arrived(self, chat_id: int, message_id: int) -> None:
        """A button on this message was pressed (and will be handled)."""
        key = (chat_id, message_id)
        self._presses.set(key, (self._presses.get(key) or 0) + 1)

    def rate_limited(self, chat_id: int, retry_after: float) -> None:
        """Telegram answered 429 for this chat."""
        self._chats.block(chat_id, retry_after)

    def delay(self, chat_id: int) -> float:
        """Seconds until the chat's next reply may go."""
        return self._chats.delay(chat_id)

    async def turn(self, method: str, chat_id: int | None, message_id: int | None) -> None:
        """Wait for the chat's turn to send ``method``; :class:`ReplyDropped` when it must not."""
        if chat_id is None or method not in PACED_METHODS:
            return
        pressed: tuple[int, int] | None = None
        generation: int | None = None
        if message_id is not None and method in EDIT_METHODS:
            pressed = (chat_id, message_id)
            generation = self._presses.get(pressed)
        reservation = self._chats.reserve(chat_id, self.max_wait)
        if reservation is None:
            self.dropped += 1
            raise ReplyDropped("rate_limited")
        if reservation.wait <= 0:
            return
        await self._sleep(reservation.wait)
        if pressed is not None and self._presses.get(pressed) != generation:
            self._chats.release(chat_id, reservation)
            self.superseded += 1
            raise ReplyDropped("superseded")
