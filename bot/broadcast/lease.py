"""Holding a lease: one process at a time delivers broadcasts (and, on PostgreSQL, polls).

:class:`LeaseKeeper` tries to take the lease (``Storage.acquire_lease``) at start and then in a
task of its own: the holder renews it every ``renew_interval`` seconds, the others try every
``retry_interval``. A lease lives ``ttl`` seconds after its last renewal, so when the holder
dies (SIGKILL, network loss) another process takes over within ``ttl + retry_interval``
(6 + 1 s by default, inside issue 10's 10 s). A holder that stops cleanly releases it and says
so on PostgreSQL (``NOTIFY bot_lease``); each standby's ``ReplicaSync`` hears it and calls
:meth:`LeaseKeeper.released_elsewhere`, so the next holder takes over at once, not at its next
retry (which remains the way when that news is missed).

The holder trusts its lease only until ``ttl - margin`` after the start of its last successful
renewal, on its own monotonic clock: by then it stops claiming and sending (``held`` turns
False), before any other process may take over. The epoch that every takeover increments fences
whatever it would still write (see ``bot/storage/leases.py``).

Time here is the wall clock: a lease is about other processes, which a test's fast clock does
not speed up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable

from bot.storage import DATABASE_ERRORS, Storage
from bot.storage.notifications import LEASE_CHANNEL, notify

__all__ = ["LeaseKeeper", "replica_id"]

log = logging.getLogger(__name__)


def replica_id() -> str:
    """``host:pid:random``: who holds a lease; a restarted process is someone else."""
    host = socket.gethostname()[:64] or "localhost"
    return f"{host}:{os.getpid()}:{secrets.token_hex(4)}"


class LeaseKeeper:
    """Takes, renews and releases one lease; ``held`` and ``epoch`` say where it stands."""

    def __init__(
        self,
        storage: Storage,
        name: str,
        *,
        holder: str | None = None,
        ttl: float = 6.0,
        renew_interval: float = 2.0,
        retry_interval: float = 1.0,
        take_over: bool | None = None,
    ) -> None:
        """``take_over``: the first try takes the lease whoever holds it; by default on SQLite,
        where the OS file lock (``storage/run_lock.py``) proves that no other ``run`` is alive,
        so a holder left by a crash is gone."""
        self.storage = storage
        self.name = name
        self.holder = holder or replica_id()
        self.ttl = ttl
        self.renew_interval = renew_interval
        self.retry_interval = retry_interval
        self.margin = min(1.0, ttl / 4)
        self._take_over = take_over
        self._epoch: int | None = None
        self._valid_until = 0.0
        self._reported = False
        self._task: asyncio.Task[None] | None = None
        self._failing = False
        self._nudged = asyncio.Event()
        #: Called with ``held`` each time it changes (metrics, the engine's wake-up).
        self.listeners: list[Callable[[bool], None]] = []

    @property
    def held(self) -> bool:
        """This process holds the lease now (and may act on it)."""
        return self._epoch is not None and time.monotonic() < self._valid_until

    @property
    def epoch(self) -> int | None:
        """The lease's epoch while it is held, else None."""
        return self._epoch if self.held else None

    @property
    def last_epoch(self) -> int | None:
        """The epoch this process held last, while nobody else can have taken it over for
        all it knows: kept while renewals fail (the database is down), None once another
        holder answered or the lease was given up. A run that started at this epoch pauses
        while it is not ``held``, and ends when this changes."""
        return self._epoch

    async def start(self) -> None:
        """One try now, then keep trying (or renewing) in a task."""
        if self._take_over is None:
            self._take_over = self.storage.backend == "sqlite"
        await self._try()
        self._task = asyncio.create_task(self._keep(), name=f"lease-{self.name}")

    async def stop(self) -> None:
        """Stop renewing and give the lease up, so that another process takes it at once."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        epoch, self._epoch = self._epoch, None
        if epoch is not None:
            with contextlib.suppress(*DATABASE_ERRORS):
                await self.storage.release_lease(self.name, self.holder, epoch)
                await notify(self.storage, LEASE_CHANNEL, self.name)  # the standbys try now
            log.info("event=lease_released name=%s epoch=%d", self.name, epoch)
        self._report()

    def released_elsewhere(self, name: str) -> None:
        """Another process gave the lease ``name`` up: if it is ours to want, try now."""
        if name == self.name and not self.held:
            self._nudged.set()

    def drop(self) -> None:
        """The database says the lease moved on (a fenced write): stop acting on it now."""
        if self._epoch is not None:
            log.warning("event=lease_lost name=%s epoch=%d reason=fenced", self.name, self._epoch)
        self._epoch = None
        self._report()

    async def _keep(self) -> None:
        while True:
            wait = self.renew_interval if self.held else self.retry_interval
            if self.held:  # wake up in time to notice a lease that ran out unrenewed
                wait = min(wait, max(0.0, self._valid_until - time.monotonic()) + 0.01)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._nudged.wait(), wait)
            self._nudged.clear()
            self._report()
            await self._try()

    async def _try(self) -> None:
        started = time.monotonic()
        force, self._take_over = bool(self._take_over), False
        try:
            epoch = await self.storage.acquire_lease(self.name, self.holder, self.ttl, force=force)
        except DATABASE_ERRORS as exc:
            if not self._failing:
                log.warning(
                    "event=lease_renew_failed name=%s error=%s", self.name, type(exc).__name__
                )
            self._failing = True
            self._report()  # held may have run out meanwhile
            return
        self._failing = False
        if epoch is None:
            if self._epoch is not None:
                log.warning("event=lease_lost name=%s epoch=%d", self.name, self._epoch)
            self._epoch = None
        else:
            if epoch != self._epoch:
                log.info(
                    "event=lease_acquired name=%s epoch=%d holder=%s",
                    self.name,
                    epoch,
                    self.holder,
                )
            self._epoch = epoch
            self._valid_until = started + self.ttl - self.margin
        self._report()

    def _report(self) -> None:
        held = self.held
        if held == self._reported:
            return
        self._reported = held
        if not held and self._epoch is not None:
            log.warning("event=lease_expired name=%s epoch=%d", self.name, self._epoch)
        for listener in self.listeners:
            listener(held)
