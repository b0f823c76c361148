"""Replicas in step through PostgreSQL: caches dropped on every change, reloads everywhere.

Several `run` replicas share one PostgreSQL database behind a load balancer, and each keeps
per-user caches (``user_caches.py``). :class:`ReplicaSync` holds one connection of its own
that ``LISTEN``s (``storage/notifications.py``):

- ``bot_users``: a user's language, subscription or existence changed (triggers send it in the
  writing transaction, whichever replica, job or CLI wrote): the user is dropped from this
  replica's caches (:meth:`Coherence.changed`), so their next update reads the database.
- ``bot_reload``: an admin's /reload or a SIGHUP on another replica: this one reloads too
  (``on_reload``, which validates before it swaps) and answers on ``bot_reloaded``.
- ``bot_lease``: another replica gave a lease up at a clean stop (``lease_listeners``: this
  replica's lease keepers try to take it at once instead of at their next retry).
- ``bot_broadcasts``: a broadcast was queued (``broadcast_listeners``: the engine looks for due
  broadcasts now; only the lease holder's look finds work).

Correctness never rests on the connection being up: until it listens, and from the moment it
is lost (the server ended it, or a ping every ``ping_interval`` s went unanswered) until it
listens again, the caches are not trusted and every update reads the database. Listening
again drops everything cached (a notification may have been missed) and reloads the content
once (a /reload may have been missed). It reconnects with exponential backoff; one warning
line when the outage starts, one line when it ends.

On SQLite (one process) nothing runs: the caches are trusted and written through.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.core.coherence import Coherence
from bot.storage import DATABASE_ERRORS, Storage
from bot.storage.notifications import (
    BROADCASTS_CHANNEL,
    LEASE_CHANNEL,
    RELOAD_CHANNEL,
    RELOADED_CHANNEL,
    USERS_CHANNEL,
    Listening,
    can_notify,
    count_listeners,
    listen,
    notify,
)

log = logging.getLogger(__name__)

#: Results of other replicas' reloads kept for the admin who asked (per request).
_RESULTS_KEPT = 64


@dataclass(frozen=True)
class ReplicaResult:
    """Another replica's answer to a reload this one asked for."""

    replica: str
    ok: bool
    detail: str  # the content version, or how many problems kept the old content


class ReplicaSync:
    """``start()`` … ``await stop()``; see the module docstring."""

    def __init__(
        self,
        storage: Storage,
        coherence: Coherence,
        *,
        replica: str | None = None,
        connect_timeout: float = 5.0,
        ping_interval: float = 5.0,
        backoff: tuple[float, float] = (0.5, 30.0),
    ) -> None:
        self.storage = storage
        self.coherence = coherence
        #: This process's name in reload requests and results (random per start).
        self.replica = replica or secrets.token_hex(4)
        self.connect_timeout = connect_timeout
        self.ping_interval = ping_interval
        self.backoff = backoff
        #: Reload this replica's content for another replica's request (set by the wiring).
        self.on_reload: Callable[[str], Awaitable[None]] | None = None
        #: Told the name of each lease another process gave up (set by the wiring: the lease
        #: keepers of this process try to take it at once).
        self.lease_listeners: list[Callable[[str], None]] = []
        #: Called when a broadcast was queued anywhere (set by the wiring: the engine's wake).
        self.broadcast_listeners: list[Callable[[], None]] = []
        self.listening: Listening | None = None
        #: How many times the connection was established and lost (tests read them).
        self.connects = 0
        self.losses = 0
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._requests = itertools.count(1)
        self._results: dict[str, list[ReplicaResult]] = {}
        self._result_arrived = asyncio.Event()

    @property
    def shared(self) -> bool:
        """Other processes share the database (PostgreSQL)."""
        return can_notify(self.storage)

    def start(self) -> None:
        if self.shared and self._task is None:
            self._task = asyncio.create_task(self._run(), name="replica-sync")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for pending in list(self._tasks):
            pending.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._close()
        self.coherence.distrust()

    # -- the connection ------------------------------------------------------------------------

    async def _run(self) -> None:
        failures = 0
        outage_logged = False
        down_since = time.monotonic()  # not listening yet: the caches are not trusted
        while True:
            self._lost.clear()
            try:
                self.listening = await listen(
                    self.storage,
                    {
                        USERS_CHANNEL: self._user_changed,
                        RELOAD_CHANNEL: self._reload_requested,
                        RELOADED_CHANNEL: self._reload_answered,
                        LEASE_CHANNEL: self._lease_released,
                        BROADCASTS_CHANNEL: self._broadcast_queued,
                    },
                    self._lost.set,
                    within=self.connect_timeout,
                )
            except Exception as exc:  # noqa: BLE001 - any failure to listen is an outage
                if not outage_logged:
                    log.warning("event=replica_sync_unavailable error=%s", type(exc).__name__)
                    outage_logged = True
                failures += 1
                await asyncio.sleep(self._delay(failures))
                continue
            self.coherence.trust()  # drops everything cached: changes may have been missed
            if self.connects == 0:
                log.info("event=replica_sync_listening replica=%s", self.replica)
            if outage_logged:
                log.info(
                    "event=replica_sync_available after_s=%.1f tries=%d",
                    time.monotonic() - down_since,
                    failures + 1,
                )
            if self.connects > 0:
                self._spawn(self._resync_content())  # a /reload may have been missed
            self.connects += 1
            failures, outage_logged = 0, False
            await self._watch()
            self.coherence.distrust()
            self.losses += 1
            down_since = time.monotonic()
            log.warning("event=replica_sync_unavailable error=connection_lost")
            outage_logged = True
            await self._close()
            await asyncio.sleep(self._delay(1))

    async def _watch(self) -> None:
        """Return when the listening connection is lost (ended, or a ping unanswered)."""
        while self.listening is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), self.ping_interval)
                return
            try:
                await self.listening.ping(self.connect_timeout)
            except Exception:  # noqa: BLE001 - whatever failed, the connection cannot be trusted
                return

    def _delay(self, failures: int) -> float:
        first, most = self.backoff
        return float(min(most, first * 2 ** max(0, failures - 1)))

    async def _close(self) -> None:
        listening, self.listening = self.listening, None
        if listening is not None:
            await listening.close()

    # -- what arrives --------------------------------------------------------------------------

    def _user_changed(self, payload: str) -> None:
        with contextlib.suppress(ValueError):
            self.coherence.changed(int(payload))

    def _lease_released(self, name: str) -> None:
        for listener in self.lease_listeners:
            listener(name)

    def _broadcast_queued(self, _broadcast_id: str) -> None:
        for listener in self.broadcast_listeners:
            listener()

    def _reload_requested(self, request: str) -> None:
        if request.split(".", 1)[0] != self.replica and self.on_reload is not None:
            self._spawn(self.on_reload(request))

    def _reload_answered(self, payload: str) -> None:
        # <request>:<replica>:<ok|failed>:<detail>
        parts = payload.split(":", 3)
        if len(parts) != 4 or parts[0] not in self._results:
            return
        request, replica, state, detail = parts
        self._results[request].append(ReplicaResult(replica, state == "ok", detail))
        self._result_arrived.set()

    async def _resync_content(self) -> None:
        if self.on_reload is not None:
            await self.on_reload("")  # no one waits for the answer of a resync

    def _spawn(self, work: Awaitable[None]) -> None:
        async def run() -> None:
            await work

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- reloads -------------------------------------------------------------------------------

    async def announce_reload(self) -> str | None:
        """Ask every other replica to reload; the request's name, or None when the database
        could not be told (then the others keep their content until their next reload)."""
        if not self.shared:
            return None
        request = f"{self.replica}.{next(self._requests)}"
        self._results[request] = []
        while len(self._results) > _RESULTS_KEPT:
            del self._results[next(iter(self._results))]
        try:
            await notify(self.storage, RELOAD_CHANNEL, request)
        except DATABASE_ERRORS as exc:
            log.warning("event=reload_not_announced error=%s", type(exc).__name__)
            return None
        return request

    async def answer_reload(self, request: str, ok: bool, detail: str) -> None:
        """Tell the replica that asked how its reload went here (best effort)."""
        if not request:
            return
        payload = f"{request}:{self.replica}:{'ok' if ok else 'failed'}:{detail}"
        try:
            await notify(self.storage, RELOADED_CHANNEL, payload)
        except DATABASE_ERRORS as exc:
            log.warning("event=reload_not_answered error=%s", type(exc).__name__)

    async def peers(self) -> int:
        """How many other replicas listen now (their listening connections, counted in
        ``pg_stat_activity``); 0 when the database cannot say."""
        try:
            listening = await count_listeners(self.storage)
        except DATABASE_ERRORS as exc:
            log.warning("event=replicas_not_counted error=%s", type(exc).__name__)
            return 0
        return max(0, listening - (1 if self.listening is not None else 0))

    async def results(self, request: str, *, expected: int, within: float) -> list[ReplicaResult]:
        """The other replicas' answers to ``request``: as soon as ``expected`` came, or what
        came within ``within`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        answers = self._results.get(request, [])
        while len(answers) < expected and (left := deadline - loop.time()) > 0:
            self._result_arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._result_arrived.wait(), left)
        return list(answers)
