"""One broadcast being delivered: claim, pace, send, decide, record, report progress.

A :class:`DeliveryRun` lives from the moment the engine finds a due broadcast until it is done,
cancelled, or the engine stops. It uses only the engine's public face (:class:`RunHost`), so the
engine can be read apart from the run.

What the run holds in memory (claimed recipients, their queue, unwritten results) is its
:class:`~bot.broadcast.run_ledger.Ledger`.

Database errors never end a run: every call goes through :meth:`Ledger.db`, and an error starts
(or continues) the engine's :class:`~bot.broadcast.outage.DatabaseOutage`. While it lasts
nothing new is claimed; the run waits (backing off), writes the results it holds first when the
database answers, and only then claims again. A claim whose answer was lost may have marked
rows ``sending`` that the run does not hold: those go back to ``pending`` before the next claim.
The monitor (cancel, progress) skips its turn instead of dying. The broadcast is ``done`` only
when the finishing statement finds nothing ``pending`` or ``sending``; otherwise the run takes
it up again.

The run acts under the engine's broadcast lease, at the epoch it started with: while the lease
is not renewed in time (the database is slow or gone) it neither claims nor sends; it ends once
another holder may have taken over (``LeaseKeeper.last_epoch`` changed, or a fenced claim).
Every claim, result and release it writes names the epoch, so nothing it writes late can undo a
successor's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Protocol

from telegram import Bot, LinkPreviewOptions
from telegram.constants import ParseMode

from bot.broadcast.clock import Clock, wait_event
from bot.broadcast.decision_effects import act_on
from bot.broadcast.engine_config import EngineConfig, EngineStats, in_flight_bound
from bot.broadcast.lease import LeaseKeeper
from bot.broadcast.outage import DatabaseOutage
from bot.broadcast.pacing import Pacer
from bot.broadcast.policy import Delivered, StopEngine, decide
from bot.broadcast.progress_report import ProgressReporter
from bot.broadcast.run_ledger import Failed, Ledger
from bot.core.i18n import Translator
from bot.core.render import Screen
from bot.storage import BroadcastSummary, Outcome, Recipient, Storage
from bot.telegram_side.markup import to_markup

log = logging.getLogger("bot.broadcast.engine")

#: The reason stored with a recipient whose request was in flight when the engine stopped.
STOPPED_IN_FLIGHT = "No answer before shutdown: may have been delivered"


class RunHost(Protocol):
    """What a run needs from the engine (:class:`~bot.broadcast.engine.BroadcastEngine`)."""

    storage: Storage
    config: EngineConfig
    stats: EngineStats
    clock: Clock
    bot: Bot
    pacer: Pacer
    paid_pacer: Pacer
    outage: DatabaseOutage
    lease: LeaseKeeper

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
        self.outage = engine.outage
        self.summary = summary
        self.id = summary.id
        cfg = engine.config
        self.paid = summary.paid
        self.pacer = engine.paid_pacer if self.paid else engine.pacer
        rate = cfg.paid_rate if self.paid else cfg.rate
        self.window = cfg.window or in_flight_bound(rate)
        self.texts: Mapping[str, str] = summary.texts
        self.epoch = engine.lease.epoch  # the run ends when the lease is not held at it
        self.ledger = Ledger(self.storage, self.outage, self.clock, self.id, self.epoch)
        self.db = self.ledger.db
        self.tasks: set[asyncio.Task[None]] = set()
        self.cancelled = False
        self.fatal = False
        self.lost_claim = False  # a claim failed: it may have marked rows nobody holds
        self.finished = asyncio.Event()  # the feed is over: helpers finish their step and end
        self.progress = ProgressReporter(engine, self.id)

    async def execute(self) -> None:
        """Deliver; a database error in ``start_broadcast`` reaches the engine's loop."""
        if not await self.storage.start_broadcast(self.id, now=self.clock.now()):
            return
        self.outage.recovered()
        log.info(
            "event=broadcast_start broadcast_id=%d total=%d paid=%s",
            self.id,
            self.summary.total,
            self.paid,
        )
        helpers = [asyncio.create_task(self._monitor()), asyncio.create_task(self._flusher())]
        try:
            while await self._feed():
                if await self._finish():
                    break
                self.lost_claim = True  # rows remain that this run does not hold: take them up
        finally:
            await self._wind_down(helpers)
        await self._report()

    def _halted(self) -> bool:
        return self.cancelled or self.fatal or self.engine.stopping or self._lease_gone()

    def _lease_gone(self) -> bool:
        return self.epoch is None or self.engine.lease.last_epoch != self.epoch

    # -- claiming and sending -------------------------------------------------------------------

    async def _feed(self) -> bool:
        """Claim and send until nobody is left to claim (True) or the run must end (False)."""
        engine = self.engine
        queue = self.ledger.queue
        while not self._halted():
            if not await self._ready_to_claim():
                continue
            if not engine.lease.held:  # not renewed lately: neither claim nor send until it is
                await self._pause(0.1)
                continue
            if not queue:
                more = await self._claim()
                if more is None:
                    return True
                if not more:
                    continue
            if not await self.pacer.acquire(max_wait=engine.config.cancel_check_interval):
                continue
            if self._halted() or not queue or not engine.lease.held:
                continue
            task = asyncio.create_task(self._send(queue.popleft()))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        return False

    async def _ready_to_claim(self) -> bool:
        """After a database error: wait (backing off), write what is held first, and put back
        what a lost claim may have marked. False: not yet (look again)."""
        ledger = self.ledger
        if self.outage.down:
            await self._pause(self.outage.wait())
            if ledger.results:  # the probe: nothing new before what we hold is written
                await ledger.flush()
                return False
        if self.lost_claim:
            if not await ledger.release_unheld():
                return False
            self.lost_claim = False
        return not self._halted()

    async def _claim(self) -> bool | None:
        """Claim more recipients: True if some are queued, False to look again, None when
        nobody is pending or held any more."""
        ledger = self.ledger
        room = self.window - len(ledger.held)
        if room < max(1, self.window // 4):
            await self._wait_written(0.05)
            return False
        claim = await self.db(
            "claim",
            self.storage.claim_recipients(self.id, room, now=self.clock.now(), epoch=self.epoch),
        )
        if isinstance(claim, Failed):
            self.lost_claim = True
            return False
        if claim.fenced:  # another replica took the lease over: stop now
            self.engine.lease.drop()
            return False
        self.engine.stats.skipped += claim.skipped
        if claim.recipients or claim.skipped:
            self.outage.recovered()  # it wrote
        ledger.hold(claim.recipients)
        if claim.recipients:
            return True
        if claim.skipped:
            return False  # the whole batch was skipped: claim again at once
        if ledger.held or self.tasks:
            await self._wait_written(0.05)
            return False
        due = await self.db("poll", self.storage.next_retry_at(self.id))
        if isinstance(due, Failed):
            return False
        if due is None:
            return None  # everyone is in a final state
        wait = (due - self.clock.now()).total_seconds()
        await self.clock.sleep(min(0.25, max(0.01, wait)))
        return False

    async def _wait_written(self, seconds: float) -> None:
        self.ledger.written.clear()
        await wait_event(self.clock, self.ledger.written, seconds)

    async def _pause(self, seconds: float) -> None:
        """Wait ``seconds`` on the engine's clock, less if the run must end."""
        end = self.clock.monotonic() + seconds
        while not self._halted() and (left := end - self.clock.monotonic()) > 0:
            await self.clock.sleep(min(left, 0.1))

    async def _send(self, recipient: Recipient) -> None:
        """Send to one recipient, ask the policy what the answer means, act on it."""
        engine = self.engine
        result: Delivered | Exception
        left = False
        try:
            screen = engine.message(self.texts, recipient.locale)
            await engine.wait_for_chat(recipient.user_id)
            left = True
            message = await engine.bot.send_message(
                chat_id=recipient.user_id,
                text=screen.text,
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
                reply_markup=to_markup(screen.keyboard),
                allow_paid_broadcast=True if self.paid else None,
            )
            result = Delivered(message.message_id)
        except asyncio.CancelledError:
            self._interrupted(recipient, left=left)
            raise
        except Exception as exc:  # noqa: BLE001 - whatever it was, the policy says what it means
            result = exc
        decision = decide(
            result, attempts=recipient.attempts, config=engine.config, now=self.clock.now()
        )
        if isinstance(decision, StopEngine):
            self.fatal = True
        outcome = act_on(
            decision, recipient.user_id, stats=engine.stats, pacer=self.pacer, broadcast_id=self.id
        )
        self.ledger.record(outcome)

    def _interrupted(self, recipient: Recipient, *, left: bool) -> None:
        """The engine stopped before the answer came: never sent twice, never lost."""
        if left:  # the request may have reached Telegram
            self.engine.stats.in_doubt += 1
            self.ledger.record(
                Outcome(
                    recipient.user_id,
                    "in_doubt",
                    recipient.attempts + 1,
                    reason=STOPPED_IN_FLIGHT,
                )
            )
        else:  # still waiting for its chat's turn: released to pending at the end
            self.ledger.queue.appendleft(recipient)

    # -- writing back --------------------------------------------------------------------------

    async def _flusher(self) -> None:
        interval = self.engine.config.flush_interval
        while not await self._finished_within(interval):
            if not self.outage.down:  # during an outage the feed writes, with its backoff
                await self.ledger.flush()

    async def _finished_within(self, seconds: float) -> bool:
        return await wait_event(self.clock, self.finished, seconds)

    async def _finish(self) -> bool:
        """Mark the broadcast done. False when recipients remain (the run goes on)."""
        while not self._halted():
            done = await self.db(
                "finish", self.storage.finish_broadcast(self.id, now=self.clock.now())
            )
            if isinstance(done, Failed):
                await self._pause(self.outage.wait())
                continue
            if done:
                self.outage.recovered()
                self.engine.stats.broadcasts_done.append(self.id)
                return True
            status = await self.db("status", self.storage.broadcast_status(self.id))
            if isinstance(status, Failed):
                continue
            if status != "sending":
                self.cancelled = True
                return True
            return False
        return True

    # -- the end ----------------------------------------------------------------------------------

    async def _wind_down(self, helpers: list[asyncio.Task[None]]) -> None:
        await self._await_sends()
        # Ask the helpers to stop rather than cancel them: a flush cancelled inside its SQLite
        # transaction can leave the write lock held until the connection is collected.
        self.finished.set()
        monitor = helpers[0]
        _, late = await asyncio.wait(helpers, timeout=1.0)
        if monitor in late:  # a progress edit stuck on a slow Telegram: not worth waiting for
            monitor.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
        engine = self.engine
        await self.ledger.settle(
            stopping=lambda: engine.stopping or self._lease_gone(),
            grace=engine.config.settle_grace,
        )

    async def _await_sends(self) -> None:
        """Let the requests in flight answer; once the engine is stopping, for at most
        ``in_flight_grace`` seconds (wall clock: real I/O), then cancel them (``in_doubt``)."""
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        while self.tasks:
            if deadline is None and self.engine.stopping:
                deadline = loop.time() + self.engine.config.in_flight_grace
            left = 0.1 if deadline is None else deadline - loop.time()
            if left <= 0:
                cut = list(self.tasks)
                for task in cut:
                    task.cancel()
                await asyncio.gather(*cut, return_exceptions=True)
                return
            await asyncio.wait(list(self.tasks), timeout=min(left, 0.1))

    async def _report(self) -> None:
        if self.fatal:
            await self.engine.idle(30)
            return
        final = await self.db("report", self.storage.broadcast_summary(self.id))
        if isinstance(final, Failed) or final is None:
            return
        stopped = self.engine.stopping and final.status == "sending"
        log.info(
            "event=broadcast_%s broadcast_id=%d sent=%d blocked=%d failed=%d skipped=%d "
            "in_doubt=%d pending=%d",
            "stopped" if stopped else final.status,
            self.id,
            final.sent,
            final.blocked,
            final.failed,
            final.skipped,
            final.in_doubt,
            final.remaining,
        )
        if final.status in ("done", "cancelled"):
            await self.progress.edit(final, force=True)

    # -- cancel and progress ------------------------------------------------------------------

    async def _monitor(self) -> None:
        """Notice a cancel, edit the progress message; skips its turn while the database is
        down (a cancel cannot be stored then either), never dies of it."""
        cfg = self.engine.config
        next_progress = self.clock.monotonic() + min(cfg.progress_interval, 0.5)
        while not await self._finished_within(cfg.cancel_check_interval):
            if self.outage.down:
                continue
            status = await self.db("status", self.storage.broadcast_status(self.id))
            if isinstance(status, Failed):
                continue
            if status != "sending":
                self.cancelled = True
                return
            if self.clock.monotonic() >= next_progress:
                next_progress = self.clock.monotonic() + cfg.progress_interval
                summary = await self.db("progress", self.storage.progress_summary(self.id))
                if isinstance(summary, BroadcastSummary):
                    await self.progress.edit(summary)
