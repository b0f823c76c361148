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
reason; 5xx, connect timeouts and network errors -> retried after 1, 2, 4 … s (``backoff``),
then ``failed`` with the reason after ``max_attempts`` tries; a read timeout (the request left,
its answer did not come) -> ``in_doubt``, never sent again; 429 -> pause; 401 -> stop
delivering. Consent is checked when each recipient is claimed: one whose subscription ended
since queueing is ``skipped``, and a changed language is followed.

Time. Every wait and timestamp (pace, per-chat spacing, backoff and ``retry_at``, ``send_at``,
progress interval, polling, database backoff) goes through the engine's
:class:`~bot.broadcast.clock.Clock`: the wall clock in production, a faster or jumping one in
tests.

Crash safety. Recipients are *claimed* in small batches: marked ``sending`` in the database
before any of their requests leaves; results are written in batches as they come. So at any
moment at most ``window`` recipients are ``sending`` (:func:`in_flight_bound`). After a crash
the engine that takes over starts by putting the ``sending`` recipients of the holder that is
gone back to ``pending`` and counts them as ``resent_after_crash``: nobody is skipped, and
nobody receives the message twice except those, at most ``window`` per crash (and in practice
only those whose request had reached Telegram).

Several replicas. Every ``run`` process has an engine, but only the one holding the
``broadcast`` lease (:class:`~bot.broadcast.lease.LeaseKeeper`) delivers; the others stand by
and take over when it dies or stops. A run ends as soon as its lease is no longer held, and its
claims, results and releases are fenced by the lease's epoch (``bot/storage/deliveries.py``).
Each engine also shares its process's interactive send rate through the database
(:class:`~bot.broadcast.replica_beat.ReplicaBeat`), and the holder paces bulk sends at the
limit minus the other replicas' rates.

Database faults. A database error pauses claiming (:class:`~bot.broadcast.outage.DatabaseOutage`:
backoff, one log line when it starts and one when it ends); results are kept in memory and
written first when it answers again; see ``delivery_run.py``.

Stopping. :meth:`BroadcastEngine.stop` stops claiming, gives requests in flight
``in_flight_grace`` seconds (those still unanswered end ``in_doubt``), writes the results and
releases what was claimed but never sent, all within ``shutdown_timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping

from telegram import Bot
from telegram.request import BaseRequest

from bot.broadcast.clock import Clock, SystemClock, wait_event
from bot.broadcast.delivery_run import DeliveryRun
from bot.broadcast.draft import broadcast_screen
from bot.broadcast.engine_config import EngineConfig, EngineStats, in_flight_bound
from bot.broadcast.lease import LeaseKeeper
from bot.broadcast.outage import DatabaseOutage
from bot.broadcast.pacing import Pacer
from bot.broadcast.replica_beat import InteractiveMeter, ReplicaBeat
from bot.config import Settings
from bot.core.cache import BoundedCache
from bot.core.i18n import Catalogs, Translator
from bot.core.limits import MESSAGE_METHODS
from bot.core.render import Screen
from bot.storage import BROADCAST_LEASE, DATABASE_ERRORS, BroadcastSummary, Storage
from bot.telegram_side.transport import AiohttpRequest, ObservedRequest

__all__ = ["BroadcastEngine", "EngineConfig", "EngineStats", "engine_for_application"]

log = logging.getLogger(__name__)


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
        lease: LeaseKeeper | None = None,
    ) -> None:
        self.storage = storage
        # A callable follows content reloads (SIGHUP, /reload swap runtime.renderer).
        self._catalogs = catalogs
        self.default_locale = default_locale
        self.config = config or EngineConfig()
        self.clock: Clock = clock or SystemClock()
        cfg = self.config
        pool = min(128, max(8, in_flight_bound(max(cfg.rate, cfg.paid_rate))))
        # Observable like the interactive bot's, so that metrics can count the answers to bulk
        # sends (``bulk_request.observer``; None: nothing is told).
        self.bulk_request = ObservedRequest(
            request
            or AiohttpRequest(
                connection_pool_size=pool,
                read_timeout=cfg.request_timeout,
                write_timeout=cfg.request_timeout,
                connect_timeout=cfg.request_timeout,
                pool_timeout=cfg.request_timeout,
            )
        )
        self.bot = Bot(
            token,
            base_url=base_url,
            request=self.bulk_request,
            get_updates_request=AiohttpRequest(connection_pool_size=1),
        )
        self.pacer = Pacer(cfg.rate, clock=self.clock)
        self.paid_pacer = Pacer(cfg.paid_rate, clock=self.clock)
        self.stats = EngineStats()
        self.outage = DatabaseOutage(self.clock)
        # When each chat last got a message (bulk or interactive), for the 1 msg/s per chat:
        self._chat_last: BoundedCache[int, float] = BoundedCache(
            maxsize=20_000, ttl=max(cfg.per_chat_interval, 0.001), clock=self.clock.monotonic
        )
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._delivering: int | None = None
        self.lease, self.interactive, self.replicas = self._coordination(lease)
        self.lease.listeners.append(lambda _held: self.wake())
        self._recovered_epoch: int | None = None  # the epoch whose takeover is recovered

    def _coordination(
        self, lease: LeaseKeeper | None
    ) -> tuple[LeaseKeeper, InteractiveMeter, ReplicaBeat]:
        """Only the holder of the lease delivers (bot/broadcast/lease.py); this process's
        interactive messages are counted and shared, the others' reserved from the pacer."""
        cfg = self.config
        lease = lease or LeaseKeeper(
            self.storage,
            BROADCAST_LEASE,
            ttl=cfg.lease_ttl,
            renew_interval=cfg.lease_renew,
            retry_interval=cfg.lease_retry,
        )
        meter = InteractiveMeter()
        return lease, meter, ReplicaBeat(self.storage, lease.holder, meter, self.pacer.reserve)

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.bot.initialize()
        await self.lease.start()
        if self.storage.backend == "postgresql":  # one `run` per SQLite file: nobody to share with
            self.replicas.start()
        if self.lease.epoch is not None:
            await self._recover(self.lease.epoch)
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._main(), name="broadcast-engine")
        log.info("event=broadcast_engine_started rate=%g", self.config.rate)

    async def stop(self) -> None:
        """Stop claiming, let requests in flight finish (a bounded time), store their results."""
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            # A bound on real I/O (requests in flight, the last writes): on the wall clock.
            try:
                await asyncio.wait_for(asyncio.shield(self._task), self.config.shutdown_timeout)
            except TimeoutError:
                log.error(
                    "event=broadcast_engine_stop_timeout seconds=%g", self.config.shutdown_timeout
                )
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        # After the last results are written: the next holder takes over at once.
        await self.lease.stop()
        await self.replicas.stop()
        with contextlib.suppress(OSError, RuntimeError):
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
        self,
        method: str,
        chat_id: int | None,
        status: int,
        retry_after: float | None,
        across_chats: bool = False,
    ) -> None:
        """Observer for the interactive bot's requests (see ``transport.ObservedRequest``).

        A message the interactive bot sent takes a bulk slot and counts for its chat's 1/s. A
        429 it drew pauses bulk sending only when it is clearly global (``across_chats``:
        several chats drew one within a short window, ``telegram_side/rate_limit_watch.py``);
        a 429 for one chat (a patient tapping fast) is that chat's alone, and the interactive
        side backs off that chat (``telegram_side/reply_pacing.py``).
        """
        if status == 429:
            if across_chats and retry_after:
                self.pacer.pause(retry_after)
                self.paid_pacer.pause(retry_after)
            return
        if method not in MESSAGE_METHODS:
            return
        self.interactive.note()
        self.pacer.take_now()
        self.paid_pacer.take_now()
        if chat_id is not None:
            self._chat_last.set(chat_id, self.clock.monotonic())

    # -- the loop -------------------------------------------------------------------------------

    async def _main(self) -> None:
        while not self._stopping.is_set():
            try:
                epoch = self.lease.epoch
                if epoch is None:  # another replica delivers: stand by (woken on a change)
                    await self.idle(self.config.poll_interval)
                    continue
                if epoch != self._recovered_epoch:
                    await self._recover(epoch)
                self.stats.polls += 1
                due = await self.storage.due_broadcast(self.clock.now())
                if due is None:
                    self.outage.recovered()  # it answers, and there is nothing to write
                    await self.idle(self.config.poll_interval)
                    continue
                self._delivering = due.id
                try:
                    await DeliveryRun(self, due).execute()
                finally:
                    self._delivering = None
            except asyncio.CancelledError:
                raise
            except DATABASE_ERRORS as exc:
                self.outage.failed("poll", exc)
                await self.idle(self.outage.wait())
            except Exception:
                log.exception("event=broadcast_engine_error")
                await self.idle(max(1.0, self.config.poll_interval * 4))

    async def _recover(self, epoch: int) -> None:
        """Just took the lease: the rows a holder that is gone left ``sending`` go back to
        ``pending``, counted as resent after a crash."""
        recovered = await self.storage.recover_in_flight(epoch)
        self._recovered_epoch = epoch
        for broadcast_id, count in sorted(recovered.items()):
            self.stats.resumed_in_doubt += count
            log.warning(
                "event=broadcast_resume broadcast_id=%d resent_after_crash=%d", broadcast_id, count
            )

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
            with contextlib.suppress(*DATABASE_ERRORS):
                user = await self.storage.get_user(summary.created_by)
                locale = user.locale if user is not None else None
        return self.translator(locale or self.default_locale)


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
