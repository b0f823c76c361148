"""The admin's progress message of a broadcast, edited in place while it sends (texts in
``progress.py``)."""

from __future__ import annotations

import logging
from typing import Protocol

from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import RetryAfter, TelegramError

from bot.broadcast.clock import Clock
from bot.broadcast.engine_config import EngineStats
from bot.broadcast.progress import format_progress
from bot.core.i18n import Translator
from bot.storage import BroadcastSummary
from bot.telegram_side.api_errors import retry_after_seconds

log = logging.getLogger("bot.broadcast.engine")


class ReportHost(Protocol):
    """What the reporter needs from the engine."""

    bot: Bot
    clock: Clock
    stats: EngineStats

    async def progress_translator(self, summary: BroadcastSummary) -> Translator: ...


class ProgressReporter:
    """Edits one broadcast's progress message; a 429 holds edits back, other errors are logged."""

    def __init__(self, engine: ReportHost, broadcast_id: int) -> None:
        self.engine = engine
        self.id = broadcast_id
        self.last_text = ""
        self.blocked_until = 0.0

    async def edit(self, summary: BroadcastSummary, *, force: bool = False) -> None:
        if summary.progress_chat_id is None or summary.progress_message_id is None:
            return
        engine = self.engine
        if not force and engine.clock.monotonic() < self.blocked_until:
            return
        t = await engine.progress_translator(summary)
        text = format_progress(summary, t)
        if text == self.last_text:
            return
        try:
            await engine.bot.edit_message_text(
                text=text,
                chat_id=summary.progress_chat_id,
                message_id=summary.progress_message_id,
                parse_mode=ParseMode.HTML,
            )
            self.last_text = text
            engine.stats.progress_edits += 1
        except RetryAfter as exc:
            self.blocked_until = engine.clock.monotonic() + retry_after_seconds(exc)
        except TelegramError as exc:
            if "not modified" not in exc.message:
                log.warning(
                    "event=broadcast_progress_failed broadcast_id=%d reason=%r",
                    self.id,
                    exc.message,
                )
