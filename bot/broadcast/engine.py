"""The delivery engine: runs inside `interventional-bot run` and sends what was queued.

It polls the database for due broadcasts (``send_at`` reached, scheduled or sending), so
whatever the CLI or an admin queued is delivered by the running bot, one broadcast at a time.

Pace. One send slot every ``1/rate`` seconds (:class:`~bot.broadcast.pacing.Pacer`; default
30/s, ``BROADCAST_RATE``; paid broadcasts 1000/s with ``allow_paid_broadcast``), at most one
message a second per chat. The interactive bot's own messages take slots too (reported by
:class:`~bot.telegram_side.transport.ObservedRequest`) and push bulk sends back, and broadcasts
use their own ``Bot`` and connection pool (:class:`~bot.telegram_side.transport.AiohttpRequest`),
so a patient's menu reply never queues behind bulk traffic. A 429 pauses bulk sends for its
``retry_after``.

Outcomes. Decided by :func:`bot.broadcast.policy.decide`, a pure function of the answer: 403 ->
``blocked`` (and the subscription ends); 400 such as "chat not found" -> ``failed`` with the
reason; 5xx, timeouts and network errors -> retried after 1, 2, 4 … s (``backoff``), then
``failed`` with the reason after ``max_attempts`` tries; 429 -> pause; 401 -> stop delivering.

Time. Every wait and timestamp (pace, per-chat spacing, backoff and ``retry_at``, ``send_at``,
progress interval, polling) goes through the engine's :class:`~bot.broadcast.clock.Clock`: the
wall clock in production, a faster or jumping one in tests.

Crash safety. Recipients are *claimed* in small batches: marked ``sending`` in the database
before any of their requests leaves; results are written in batches as they come. So at any
moment at most ``window`` recipients are ``sending`` (:func:`in_flight_bound`). After a crash
the engine starts by putting ``sending`` recipients back to ``pending`` and counts them in the
broadcast's ``in_doubt``: nobody is skipped, and nobody receives the message twice except
those, at most ``window`` per crash (and in practice only those whose request had reached
Telegram). A request that timed out may also have been delivered (Telegram gives no way to
tell), which is the same doubt Telegram's own clients live with.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from telegram import Bot, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import RetryAfter, TelegramError
from telegram.request import BaseRequest

from bot.broadcast.clock import Clock, SystemClock, wait_event
from bot.broadcast.draft import broadcast_screen
from bot.broadcast.pacing import Pacer
from bot.broadcast.policy import Decision, Delivered, Final, Pause, Retry, StopEngine, decide
from bot.broadcast.progress import format_progress
from bot.config import Settings
from bot.core.cache import BoundedCache
from bot.core.i18n import Catalogs, Translator
from bot.core.render import Screen
from bot.storage import BroadcastSummary, Outcome, Recipient, Storage
from bot.telegram_side.api_errors import retry_after_seconds
from bot.telegram_side.markup import to_markup
from bot.telegram_side.transport import AiohttpRequest, ObservedRequest

log = logging.getLogger(__name__)

#: callback_data of the "Unsubscribe" button on every broadcast message (bot.core.callbacks).
UNSUBSCRIBE_DATA = "1:u"

#: Where the running bot keeps its engine: ``application.bot_data[BROADCAST_ENGINE_KEY]``.
BROADCAST_ENGINE_KEY = "broadcast_engine"

#: Methods that create a message, and so count against Telegram's per-bot and per-chat limits.
MESSAGE_METHODS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendVideo",
        "sendAudio",
        "sendVoice",
        "sendAnimation",
        "sendSticker",
        "sendMediaGroup",
        "sendLocation",
        "sendContact",
        "copyMessage",
        "forwardMessage",
    }
)


def in_flight_bound(rate: float) -> int:
    """Most recipients marked ``sending`` at once at ``rate``: the duplicate bound per crash.

    A quarter of a second's worth, at least 4 and at most 256: enough for the round trips and
    batched writes at 1000/s, and at 30/s at most 8 possible duplicates after a crash.
    """
    return min(256, max(4, math.ceil(rate * 0.25)))


@dataclass(frozen=True)
class EngineConfig:
    rate: float = 30.0
    paid_rate: float = 1000.0
    per_chat_interval: float = 1.0
    poll_interval: float = 0.5
    max_attempts: int = 4  # the first try and 3 retries
    backoff: float = 1.0  # before the first retry; doubles each time
    request_timeout: float = 10.0
    progress_interval: float = 2.0
    window: int | None = None  # default: in_flight_bound(rate of the broadcast)
    flush_interval: float = 0.05
    cancel_check_interval: float = 0.25


@dataclass
class EngineStats:
    sent: int = 0
    blocked: int = 0
    failed: int = 0
    retried: int = 0
    rate_limited: int = 0  # 429 answers to bulk sends
    progress_edits: int = 0
    polls: int = 0  # times the engine looked for a due broadcast
    resumed_in_doubt: int = 0
    broadcasts_done: list[int] = field(default_factory=list)


class BroadcastEngine:
    """``await engine.start()`` … ``await engine.stop()``; see the module docstring."""

    def __init__(
        self,
        storage: Storage,
        catalogs: Catalogs | Callable[[], Catalogs],
        *,
        token: str,
        base_url: str,
        default_locale: str,
        config: EngineConfig | None = None,
        request: BaseRequest | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.storage = storage
        # A callable follows content reloads (SIGHUP, /reload swap runtime.renderer).
        self._catalogs = catalogs
        self.default_locale = default_locale
        self.config = config or EngineConfig()
        self.clock: Clock = clock or SystemClock()
        cfg = self.config
        pool = min(128, max(8, in_flight_bound(max(cfg.rate, cfg.paid_rate))))
        self.bot = Bot(
            token,
            base_url=base_url,
            request=request
            or AiohttpRequest(
                connection_pool_size=pool,
                read_timeout=cfg.request_timeout,
                write_timeout=cfg.request_timeout,
                connect_timeout=cfg.request_timeout,
                pool_timeout=cfg.request_timeout,
            ),
            get_updates_request=AiohttpRequest(connection_pool_size=1),
        )
        self.pacer = Pacer(cfg.rate, clock=self.clock)
        self.paid_pacer = Pacer(cfg.paid_rate, clock=self.clock)
        self.stats = EngineStats()
        # When each chat last got a message (bulk or interactive), for the 1 msg/s per chat.
        self._chat_last: BoundedCache[int, float] = BoundedCache(
            maxsize=20_000, ttl=max(cfg.per_chat_interval, 0.001), clock=self.clock.monotonic
        )
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._delivering: int | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.bot.initialize()
        recovered = await self.storage.recover_in_flight()
        for broadcast_id, count in sorted(recovered.items()):
            self.stats.resumed_in_doubt += count
            log.warning("event=broadcast_resume broadcast_id=%d in_doubt=%d", broadcast_id, count)
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._main(), name="broadcast-engine")
        log.info("event=broadcast_engine_started rate=%g", self.config.rate)

    async def stop(self) -> None:
        """Stop claiming, let requests in flight finish, store their results."""
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            # A bound on real I/O (requests in flight, the last writes): on the wall clock.
            try:
                await asyncio.wait_for(asyncio.shield(self._task), self.config.request_timeout + 5)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        with contextlib.suppress(Exception):
            await self.bot.shutdown()

    def wake(self) -> None:
        """Look for due broadcasts now (e.g. right after one was queued in this process)."""
        self._wake.set()

    @property
    def stopping(self) -> bool:
        """``stop()`` was called: runs stop claiming recipients and end."""
        return self._stopping.is_set()

    @property
    def delivering(self) -> int | None:
        """The id of the broadcast being delivered now, None when idle."""
        return self._delivering

    async def idle(self, seconds: float) -> None:
        """Wait ``seconds`` on the engine's clock, less if woken (:meth:`wake`, :meth:`stop`)."""
        self._wake.clear()
        await wait_event(self.clock, self._wake, seconds)

    def note_interactive(
        self, method: str, chat_id: int | None, status: int, retry_after: float | None
    ) -> None:
        """Observer for the interactive bot's requests (see ``transport.ObservedRequest``)."""
        if status == 429 and retry_after:
            self.pacer.pause(retry_after)
            self.paid_pacer.pause(retry_after)
            return
        if method not in MESSAGE_METHODS:
            return
        self.pacer.take_now()
        self.paid_pacer.take_now()
        if chat_id is not None:
            self._chat_last.set(chat_id, self.clock.monotonic())

    # -- the loop -------------------------------------------------------------------------------

    async def _main(self) -> None:
        while not self._stopping.is_set():
            try:
                self.stats.polls += 1
                due = await self.storage.due_broadcast(self.clock.now())
                if due is None:
                    await self.idle(self.config.poll_interval)
                    continue
                self._delivering = due.id
                try:
                    await _Run(self, due).execute()
                finally:
                    self._delivering = None
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("event=broadcast_engine_error")
                await self.idle(max(1.0, self.config.poll_interval * 4))

    # -- helpers used by a run ------------------------------------------------------------------

    @property
    def catalogs(self) -> Catalogs:
        return self._catalogs if isinstance(self._catalogs, Catalogs) else self._catalogs()

    def translator(self, locale: str) -> Translator:
        catalogs = self.catalogs
        known = locale in catalogs.locales
        return catalogs.get(locale if known else self.default_locale)

    def message(self, texts: Mapping[str, str], locale: str) -> Screen:
        """What a recipient in ``locale`` gets (text and Unsubscribe button, their language)."""
        return broadcast_screen(texts, locale, self.default_locale, self.catalogs)

    async def wait_for_chat(self, chat_id: int) -> None:
        """At most one message a second per chat (bulk or interactive)."""
        interval = self.config.per_chat_interval
        last = self._chat_last.get(chat_id)
        if last is not None:
            wait = last + interval - self.clock.monotonic()
            if wait > 0:
                await self.clock.sleep(wait)
        self._chat_last.set(chat_id, self.clock.monotonic())

    async def progress_translator(self, summary: BroadcastSummary) -> Translator:
        locale = None
        if summary.created_by is not None:
            with contextlib.suppress(Exception):
                user = await self.storage.get_user(summary.created_by)
                locale = user.locale if user is not None else None
        return self.translator(locale or self.default_locale)


class _Run:
    """Delivering one broadcast (until done, cancelled or the engine stops)."""

    def __init__(self, engine: BroadcastEngine, summary: BroadcastSummary) -> None:
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
        screen = engine.message(self.texts, recipient.locale)
        result: Delivered | Exception
        try:
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
        except Exception as exc:  # whatever it was, the policy says what it means
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


def engine_for_application(
    bot: Bot, storage: Storage, catalogs: Catalogs | Callable[[], Catalogs], settings: Settings
) -> BroadcastEngine:
    """The engine for the running bot: same token and Bot API server, its own connections.

    When the interactive bot's request is an :class:`ObservedRequest`, the engine watches it
    so that interactive messages keep priority over bulk sends.
    """
    token = bot.token
    base_url = bot.base_url.removesuffix(token)
    engine = BroadcastEngine(
        storage,
        catalogs,
        token=token,
        base_url=base_url,
        default_locale=settings.default_locale,
        config=EngineConfig(rate=settings.broadcast_rate, paid_rate=settings.broadcast_paid_rate),
    )
    request = bot.request
    if isinstance(request, ObservedRequest):
        request.observer = engine.note_interactive
    return engine
