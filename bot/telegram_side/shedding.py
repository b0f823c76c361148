"""What the user sees of an update the bot did not process (``update_scheduler.py`` dropped it).

- A button press is answered, so its spinner stops: with "One moment, please…" when the user
  is over their rate or the queue is full, with nothing when a newer press replaces it (the
  newer screen is on its way) or when the bot is stopping. One that waited past Telegram's
  answer window cannot be answered any more; Telegram stops its spinner itself.
- A message over the user's rate gets, at most once a minute per user and only in a private
  chat, a short note asking them to slow down. Nothing else: a reply to each would be the
  flood the bot is protecting everyone else from.

These answers need no database: the language is the one cached for the user, else Telegram's
``language_code``. They wait in one bounded queue (:data:`MAX_PENDING`; beyond it a press is
left to expire, and counted) served by at most :data:`WORKERS` tasks, which exist only while
there is something to send. Every drop is counted in one summary log line per interval
(``event=updates_shed``), never a line each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable

from telegram import Update
from telegram.constants import ChatType
from telegram.error import TelegramError

from bot.core.cache import BoundedCache
from bot.core.flood import DropReason
from bot.core.i18n import _, resolve_locale
from bot.telegram_side.burst_log import BurstLog
from bot.telegram_side.runtime import Runtime
from bot.telegram_side.update_scheduler import PRESS_ANSWER_WINDOW

log = logging.getLogger(__name__)

# TRANSLATORS: pop-up when a patient taps faster than the bot answers; keep it short.
ONE_MOMENT = _("One moment, please…")
SLOW_DOWN = _(
    "You are sending messages faster than I can answer. Please wait a few seconds, then send "
    "one again. The buttons keep working."
)

#: Answers and notes waiting to be sent; beyond it, a dropped update gets nothing (under such
#: a flood, answering every dropped press would take the capacity the others need).
MAX_PENDING = 200
#: Answers and notes sent at once.
WORKERS = 4
#: At most one slow-down note per user in this many seconds.
NOTE_EVERY = 60.0


class Shedder:
    """``on_drop`` of the update scheduler: answers what must be answered; see the module."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        max_pending: int = MAX_PENDING,
        workers: int = WORKERS,
        note_every: float = NOTE_EVERY,
        log_interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.runtime = runtime
        self.max_pending = max_pending
        self.workers = workers
        self._clock = clock
        self._pending: deque[tuple[float, Update, str, str | None]] = deque()
        self._noted: BoundedCache[int, bool] = BoundedCache(
            maxsize=50_000, ttl=note_every, clock=clock
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self.summary = BurstLog(log, "updates_shed", interval=log_interval, distinct="users")
        self.notes_sent = 0
        self.answers_sent = 0

    def __call__(self, update: Update, reason: DropReason) -> None:
        user = update.effective_user
        self.summary.add(reason, user.id if user is not None else None)
        query = update.callback_query
        if query is not None:
            if reason == "stale":  # past Telegram's answer window: an answer would be refused
                return
            text = self._text(update, ONE_MOMENT) if reason in ("rate", "overflow") else None
            self._enqueue("answer", update, text)
            return
        chat = update.effective_chat
        if (
            reason in ("rate", "flooding")
            and update.message is not None
            and user is not None
            and chat is not None
            and chat.type == ChatType.PRIVATE
            and self._noted.get(user.id) is None
        ):
            self._noted.set(user.id, True)
            self._enqueue("note", update, self._text(update, SLOW_DOWN))

    async def flush(self) -> None:
        """Wait for answers still being sent, and write the summary line (at shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self.summary.flush()

    # -- internals --------------------------------------------------------------------------

    def _text(self, update: Update, message: str) -> str:
        user = update.effective_user
        runtime = self.runtime
        renderer = runtime.renderer
        locale = resolve_locale(
            runtime.users.cached_locale(user.id) if user is not None else None,
            user.language_code if user is not None else None,
            renderer.locales,
            runtime.settings.default_locale,
        )
        return renderer.catalogs.get(locale)(message)

    def _enqueue(self, kind: str, update: Update, text: str | None) -> None:
        if len(self._pending) >= self.max_pending:
            self.summary.add("unanswered")
            return
        self._pending.append((self._clock(), update, kind, text))
        if len(self._tasks) < self.workers:
            task = asyncio.create_task(self._work())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _work(self) -> None:
        """Send what is pending, then end (a new worker starts when more comes)."""
        while self._pending:
            queued, update, kind, text = self._pending.popleft()
            if kind == "note":
                await self._note(update, text or "")
            elif self._clock() - queued < PRESS_ANSWER_WINDOW:
                await self._answer(update, text)
            else:
                self.summary.add("unanswered")  # too late: Telegram would refuse it

    async def _answer(self, update: Update, text: str | None) -> None:
        query = update.callback_query
        assert query is not None
        try:
            await query.answer(text)
            self.answers_sent += 1
        except TelegramError:  # too old already: nothing left to do
            self.summary.add("answer_failed")

    async def _note(self, update: Update, text: str) -> None:
        message = update.message
        assert message is not None
        with contextlib.suppress(TelegramError):
            # Plain text: the note holds no markup, and a translation must not be parsed.
            await message.reply_text(text, parse_mode=None, do_quote=False)
            self.notes_sent += 1
