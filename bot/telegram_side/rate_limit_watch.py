"""The interactive bot's 429s: is this one about a chat, or about the whole bot? And the log.

Telegram's 429 does not say which limit was hit. One chat drawing 429s is a patient tapping
faster than one message a second: only that chat should wait (``reply_pacing.py``). Several
chats drawing 429s within a short window means the bot as a whole is over its ~30 messages a
second: then, and only then, bulk sending pauses too (the broadcast engine's
``note_interactive``). :class:`RateLimitWatch` decides which, and logs one summary line per
interval for a burst of them (``event=rate_limited count=… chats=…``), never one per reply.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable

from bot.telegram_side.burst_log import BurstLog

log = logging.getLogger(__name__)

#: This many distinct chats with a 429 within :data:`GLOBAL_WINDOW` seconds: a global limit.
GLOBAL_CHATS = 3
GLOBAL_WINDOW = 2.0


class RateLimitWatch:
    """Told about every 429 of the interactive bot; says whether it looks global."""

    def __init__(
        self,
        *,
        chats: int = GLOBAL_CHATS,
        window: float = GLOBAL_WINDOW,
        log_interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.chats = chats
        self.window = window
        self._clock = clock
        self._recent: deque[tuple[float, int]] = deque(maxlen=1000)
        self.summary = BurstLog(log, "rate_limited", interval=log_interval)
        self.global_limits = 0

    def saw(self, method: str, chat_id: int | None, retry_after: float | None) -> bool:
        """A 429 for ``method`` to ``chat_id``: True when it is clearly global."""
        self.summary.add(method, chat_id, retry_after=retry_after)
        if chat_id is None:
            return False
        now = self._clock()
        self._recent.append((now, chat_id))
        while self._recent and self._recent[0][0] < now - self.window:
            self._recent.popleft()
        across = len({chat for _, chat in self._recent}) >= self.chats
        if across:
            self.global_limits += 1
        return across
