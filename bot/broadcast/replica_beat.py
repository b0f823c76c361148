"""Each replica's interactive send rate, shared through the database (issue 10, part 3).

Telegram's ~30 messages a second are per bot: the interactive replies of every replica count
against the budget the broadcast holder paces its bulk sends by. Each process measures the
messages its own interactive bot sent (:class:`InteractiveMeter`, told by the engine's
``note_interactive``) and writes the rate into its ``replicas`` row every ``interval`` seconds
(:class:`ReplicaBeat`); in the same beat it reads the sum of the other live replicas' rates and
hands it to ``on_others``: the engine reserves that much of its pacer
(:meth:`~bot.broadcast.pacing.Pacer.reserve`). Its own interactive messages already take
pacer slots directly, so only the others' are reserved.

Only on PostgreSQL: a SQLite file has one `run` (``storage/run_lock.py``), so no other replica
to share with, and a write every second would be all cost.

The shared figure lags by up to ``window + interval`` seconds (3 + 1 by default), which
Telegram's burst tolerance of about a second's worth absorbs for browsing (a patient reads
between presses); ``benchmarks/replicas.py`` measures it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from datetime import timedelta

from bot.core.times import utc
from bot.storage import DATABASE_ERRORS, Storage

__all__ = ["InteractiveMeter", "ReplicaBeat"]

log = logging.getLogger(__name__)

#: A replica row not seen for this long is deleted by whoever beats (a process that is gone).
FORGET_AFTER = timedelta(hours=1)


class InteractiveMeter:
    """Messages sent in the last ``window`` seconds (wall clock), as a rate."""

    def __init__(self, window: float = 3.0) -> None:
        self.window = window
        self._times: deque[float] = deque()

    def note(self) -> None:
        self._times.append(time.monotonic())

    def rate(self) -> float:
        horizon = time.monotonic() - self.window
        times = self._times
        while times and times[0] < horizon:
            times.popleft()
        return len(times) / self.window


class ReplicaBeat:
    """This process's ``replicas`` row, every ``interval`` seconds; the others' rate back."""

    def __init__(
        self,
        storage: Storage,
        replica_id: str,
        meter: InteractiveMeter,
        on_others: Callable[[float], None],
        *,
        interval: float = 1.0,
    ) -> None:
        self.storage = storage
        self.replica_id = replica_id
        self.meter = meter
        self.on_others = on_others
        self.interval = interval
        self.others = 0.0
        self._task: asyncio.Task[None] | None = None
        self._beats = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="replica-beat")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:  # never started (SQLite): no row to remove
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        with contextlib.suppress(*DATABASE_ERRORS):
            await self.storage.forget_replica(self.replica_id)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(*DATABASE_ERRORS):  # the outage is logged elsewhere
                await self.beat()
            await asyncio.sleep(self.interval)

    async def beat(self) -> None:
        """Write this replica's rate, read the others'."""
        await self.storage.replica_beat(self.replica_id, self.meter.rate())
        others = await self.storage.others_interactive_rate(self.replica_id)
        if others != self.others:
            log.debug("event=replica_rates others=%.1f", others)
        self.others = others
        self.on_others(others)
        self._beats += 1
        if self._beats % 600 == 1:  # now and then: rows of replicas gone long ago
            await self.storage.forget_replica(None, older_than=utc() - FORGET_AFTER)
