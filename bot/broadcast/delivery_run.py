"""One broadcast being delivered: claim, pace, send, decide, record, report progress.

A :class:`DeliveryRun` lives from the moment the engine finds a due broadcast until it is done,
cancelled, or the engine stops. It uses only the engine's public face (:class:`RunHost`), so the
engine can be read apart from the run.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Mapping
from typing import Protocol

from telegram import Bot, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import RetryAfter, TelegramError

from bot.broadcast.clock import Clock, wait_event
from bot.broadcast.engine_config import EngineConfig, EngineStats, in_flight_bound
from bot.broadcast.pacing import Pacer
from bot.broadcast.policy import Decision, Delivered, Final, Pause, Retry, StopEngine, decide
from bot.broadcast.progress import format_progress
from bot.core.i18n import Translator
from bot.core.render import Screen
from bot.storage import BroadcastSummary, Outcome, Recipient, Storage
from bot.telegram_side.api_errors import retry_after_seconds
from bot.telegram_side.markup import to_markup

log = logging.getLogger("bot.broadcast.engine")


class RunHost(Protocol):
    """What a run needs from the engine (:class:`~bot.broadcast.engine.BroadcastEngine`)."""

    storage: Storage
    config: EngineConfig
    stats: EngineStats
    clock: Clock
    bot: Bot
    pacer: Pacer
    paid_pacer: Pacer

    @property
    def stopping(self) -> bool: ...

    async def idle(self, seconds: float) -> None: ...

    def message(self, texts: Mapping[str, str], locale: str) -> Screen: ...

    async def wait_for_chat(self, chat_id: int) -> None: ...

    async def progress_translator(self, summary: BroadcastSummary) -> Translator: ...


class DeliveryRun:
    """Delivering one broadcast (until done, cancelled or the engine stops)."""

    def __init__(self, engine: RunHost, summary: BroadcastSummary) -> None:
        self.engine = engine
        self.storage = engine.storage
        self.clock = engine.clock
        self.summary = summary
        self.id = summary.id
        cfg = engine.config
        self.paid = summary.paid
        self.pacer = engine.paid_pacer if self.paid else engine.pacer
        rate = cfg.paid_rate if self.paid else cfg.rate
        self.window = cfg.window or in_flight_bound(rate)
        self.texts: Mapping[str, str] = summary.texts
        self.queue: deque[Recipient] = deque()
        self.results: list[Outcome] = []
        self.unsettled = 0  # claimed (marked sending) and not yet written back
        self.tasks: set[asyncio.Task[None]] = set()
        self.cancelled = False
        self.fatal = False
        self.settled = asyncio.Event()
        self.finished = asyncio.Event()  # the feed is over: helpers finish their step and end
        self.last_progress = ""
        self.progress_blocked_until = 0.0

    async def execute(self) -> None:
        if not await self.storage.start_broadcast(self.id, now=self.clock.now()):
            return
        log.info(
            "event=broadcast_start broadcast_id=%d total=%d paid=%s",
            self.id,
            self.summary.total,
            self.paid,
        )
        monitor = asyncio.create_task(self._monitor())
        flusher = asyncio.create_task(self._flusher())
        try:
            await self._feed()
        finally:
            if self.tasks:
                await asyncio.gather(*self.tasks, return_exceptions=True)
            # Ask the helpers to stop rather than cancel them: a flush cancelled inside its
            # SQLite transaction can leave the write lock held until the connection is
            # collected, and the final flush below would then time out on it.
            self.finished.set()
            await asyncio.gather(flusher, monitor, return_exceptions=True)
            await self._flush()
            if self.queue:
                await self.storage.release_recipients(self.id, [r.user_id for r in self.queue])
                self.queue.clear()
        stopping = self.engine.stopping
        if self.fatal:
            await self.engine.idle(30)
            return
        finished = not self.cancelled and not stopping
        if finished and await self.storage.finish_broadcast(self.id, now=self.clock.now()):
            self.engine.stats.broadcasts_done.append(self.id)
        final = await self.storage.broadcast_summary(self.id)
        if final is not None:
            log.info(
                "event=broadcast_%s broadcast_id=%d sent=%d blocked=%d failed=%d pending=%d",
                "stopped" if stopping and final.status == "sending" else final.status,
                self.id,
                final.sent,
                final.blocked,
                final.failed,
                final.remaining,
            )
            if final.status in ("done", "cancelled"):
                await self._edit_progress(final, force=True)

    async def _feed(self) -> None:
        engine = self.engine
        while not (self.cancelled or self.fatal or engine.stopping):
            if not self.queue:
                room = self.window - self.unsettled
                if room < max(1, self.window // 4):
                    await self._wait_settled(0.05)
                    continue
                rows = await self.storage.claim_recipients(self.id, room, now=self.clock.now())
                if not rows:
                    if self.unsettled == 0 and not self.tasks:
                        due = await self.storage.next_retry_at(self.id)
                        if due is None:
                            return  # everyone is in a final state
                        wait = (due - self.clock.now()).total_seconds()
                        await self.clock.sleep(min(0.25, max(0.01, wait)))
                    else:
                        await self._wait_settled(0.05)
                    continue
                self.unsettled += len(rows)
                self.queue.extend(rows)
            if not await self.pacer.acquire(max_wait=engine.config.cancel_check_interval):
                continue
            recipient = self.queue.popleft()
            task = asyncio.create_task(self._send(recipient))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _wait_settled(self, seconds: float) -> None:
        self.settled.clear()
        await wait_event(self.clock, self.settled, seconds)

    async def _send(self, recipient: Recipient) -> None:
        """Send to one recipient, ask the policy what the answer means, act on it."""
        engine = self.engine
        result: Delivered | Exception
        try:
            screen = engine.message(self.texts, recipient.locale)
            await engine.wait_for_chat(recipient.user_id)
            message = await engine.bot.send_message(
                chat_id=recipient.user_id,
                text=screen.text,
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
                reply_markup=to_markup(screen.keyboard),
                allow_paid_broadcast=True if self.paid else None,
            )
            result = Delivered(message.message_id)
        except Exception as exc:  # noqa: BLE001 - whatever it was, the policy says what it means
            result = exc
        decision = decide(
            result, attempts=recipient.attempts, config=engine.config, now=self.clock.now()
        )
        self.results.append(self._act(recipient.user_id, decision))
        if len(self.results) >= 200:
            self.settled.set()

    def _act(self, user_id: int, decision: Decision) -> Outcome:
        """Count and log ``decision``, pause or stop if it says so; the outcome to store."""
        stats = self.engine.stats
        match decision:
            case Final(state="sent"):
                stats.sent += 1
            case Final(state="blocked"):
                stats.blocked += 1
            case Final():
                stats.failed += 1
            case Retry():
                stats.retried += 1
                return Outcome(
                    user_id,
                    "pending",
                    decision.attempts,
                    reason=decision.reason,
                    retry_at=decision.retry_at,
                )
            case Pause():
                self.pacer.pause(decision.seconds)
                stats.rate_limited += 1
                log.warning(
                    "event=broadcast_429 broadcast_id=%d retry_after=%g", self.id, decision.seconds
                )
                return Outcome(user_id, "pending", decision.attempts, retry_at=decision.retry_at)
            case StopEngine():
                log.error(
                    "event=broadcast_paused broadcast_id=%d reason=%r", self.id, decision.reason
                )
                self.fatal = True
                return Outcome(user_id, "pending", decision.attempts)
        return Outcome(
            user_id,
            decision.state,
            decision.attempts,
            message_id=decision.message_id,
            reason=decision.reason,
        )

    async def _flusher(self) -> None:
        interval = self.engine.config.flush_interval
        while not await self._finished_within(interval):
            await self._flush()

    async def _finished_within(self, seconds: float) -> bool:
        return await wait_event(self.clock, self.finished, seconds)

    async def _flush(self) -> None:
        if not self.results:
            return
        batch, self.results = self.results, []
        try:
            await self.storage.record_outcomes(self.id, batch, now=self.clock.now())
        except Exception:
            log.exception("event=broadcast_store_failed broadcast_id=%d", self.id)
            self.results[:0] = batch  # try again with the next flush
            return
        self.unsettled -= len(batch)
        self.settled.set()

    async def _monitor(self) -> None:
        cfg = self.engine.config
        next_progress = self.clock.monotonic() + min(cfg.progress_interval, 0.5)
        while not await self._finished_within(cfg.cancel_check_interval):
            status = await self.storage.broadcast_status(self.id)
            if status != "sending":
                self.cancelled = True
                return
            if self.clock.monotonic() >= next_progress:
                next_progress = self.clock.monotonic() + cfg.progress_interval
                summary = await self.storage.broadcast_summary(self.id)
                if summary is not None:
                    await self._edit_progress(summary)

    async def _edit_progress(self, summary: BroadcastSummary, *, force: bool = False) -> None:
        if summary.progress_chat_id is None or summary.progress_message_id is None:
            return
        if not force and self.clock.monotonic() < self.progress_blocked_until:
            return
        engine = self.engine
        t = await engine.progress_translator(summary)
        text = format_progress(summary, t)
        if text == self.last_progress:
            return
        try:
            await engine.bot.edit_message_text(
                text=text,
                chat_id=summary.progress_chat_id,
                message_id=summary.progress_message_id,
                parse_mode=ParseMode.HTML,
            )
            self.last_progress = text
            engine.stats.progress_edits += 1
        except RetryAfter as exc:
            self.progress_blocked_until = self.clock.monotonic() + retry_after_seconds(exc)
        except TelegramError as exc:
            if "not modified" not in exc.message:
                log.warning(
                    "event=broadcast_progress_failed broadcast_id=%d reason=%r",
                    self.id,
                    exc.message,
                )
