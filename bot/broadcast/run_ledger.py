"""What a delivery run holds in memory, and writing it back to the database without losing any.

- ``held``: recipients the run claimed (``sending`` in the database) whose result is not written
  yet; at most the run's ``window``, which bounds the duplicates a crash can cause.
- ``queue``: held recipients whose request has not left yet; released to ``pending`` at the end.
- ``results``: outcomes waiting to be written.

Every database call of a run goes through :meth:`Ledger.db`: an error is noted in the engine's
:class:`~bot.broadcast.outage.DatabaseOutage` and returned as :data:`FAILED` instead of raised.
Results that could not be written stay, in order, and are written first when it answers.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from bot.broadcast.clock import Clock
from bot.broadcast.outage import DatabaseOutage
from bot.storage import DATABASE_ERRORS, Outcome, Recipient, Storage

log = logging.getLogger("bot.broadcast.engine")

T = TypeVar("T")


class Failed(enum.Enum):
    """What :meth:`Ledger.db` returns instead of raising a database error."""

    FAILED = enum.auto()


FAILED = Failed.FAILED


class Ledger:
    """One run's claimed recipients and unwritten results (see the module docstring)."""

    def __init__(
        self,
        storage: Storage,
        outage: DatabaseOutage,
        clock: Clock,
        broadcast_id: int,
        epoch: int | None = None,
    ) -> None:
        """``epoch``: the broadcast lease's, under which the run claims (its writes change only
        rows claimed under it)."""
        self.storage = storage
        self.epoch = epoch
        self.outage = outage
        self.clock = clock
        self.id = broadcast_id
        self.queue: deque[Recipient] = deque()
        self.held: dict[int, Recipient] = {}
        self.results: list[Outcome] = []
        self.written = asyncio.Event()  # set after each write; the feed waits on it for room
        self._lock = asyncio.Lock()

    async def db(self, where: str, call: Awaitable[T]) -> T | Failed:
        """``await call``; a database error is noted in the outage and returned as FAILED."""
        try:
            return await call
        except DATABASE_ERRORS as exc:
            self.outage.failed(where, exc)
            return FAILED

    def hold(self, recipients: Iterable[Recipient]) -> None:
        for recipient in recipients:
            self.held[recipient.user_id] = recipient
            self.queue.append(recipient)

    def record(self, outcome: Outcome) -> None:
        self.results.append(outcome)
        if len(self.results) >= 200:
            self.written.set()  # wakes the feed, which lets the flusher catch up

    async def flush(self) -> bool:
        """Write the results held in memory; False (and kept) when the database refuses."""
        async with self._lock:
            if not self.results:
                return True
            batch, self.results = self.results, []
            done = await self.db(
                "record",
                self.storage.record_outcomes(
                    self.id, batch, now=self.clock.now(), epoch=self.epoch
                ),
            )
            if isinstance(done, Failed):
                self.results[:0] = batch  # written first when the database answers
                return False
            self.outage.recovered()
            for outcome in batch:
                self.held.pop(outcome.user_id, None)
            self.written.set()
            return True

    async def release_queue(self) -> bool:
        """Claimed recipients whose request never left go back to ``pending``."""
        if not self.queue:
            return True
        ids = [recipient.user_id for recipient in self.queue]
        done = await self.db(
            "release", self.storage.release_recipients(self.id, ids, epoch=self.epoch)
        )
        if isinstance(done, Failed):
            return False
        self.outage.recovered()
        for user_id in ids:
            self.held.pop(user_id, None)
        self.queue.clear()
        return True

    async def release_unheld(self) -> bool:
        """After a failed claim: rows it may have marked ``sending`` go back to ``pending``."""
        released = await self.db(
            "release", self.storage.release_unheld(self.id, list(self.held), epoch=self.epoch)
        )
        if isinstance(released, Failed):
            return False
        if released:
            self.outage.recovered()
            log.info("event=broadcast_released broadcast_id=%d count=%d", self.id, released)
        return True

    async def settle(self, *, stopping: Callable[[], bool], grace: float) -> None:
        """Write every result and release the queue. Waits out an outage, except while the
        engine is ``stopping``: then for at most ``grace`` seconds (wall clock)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self.results or self.queue:
            if await self.flush():
                await self.release_queue()
            if not (self.results or self.queue):
                return
            wait = self.outage.wait() or 0.05
            if not stopping():
                end = self.clock.monotonic() + wait
                while not stopping() and (rest := end - self.clock.monotonic()) > 0:
                    await self.clock.sleep(min(rest, 0.1))
                continue
            left = deadline - loop.time()
            if left <= 0:
                log.error(
                    "event=broadcast_unsaved broadcast_id=%d results=%d claimed=%d; "
                    "they stay sending and are resent after a restart",
                    self.id,
                    len(self.results),
                    len(self.queue),
                )
                return
            await asyncio.sleep(min(wait, left))  # the shutdown bound is on the wall clock
