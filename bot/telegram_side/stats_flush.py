"""Writes the statistics: the in-memory daily counts go to the database every few seconds.

Handlers count into ``runtime.counts`` (:class:`~bot.core.daily_counts.DailyCounts`), a
dictionary in memory, so that a press costs no database write. :class:`StatsWriter` adds the
batch to ``daily_counts`` (one upsert per row, in one transaction) every
:data:`FLUSH_INTERVAL` seconds, at shutdown, and before /stats reads. The typed-message counts
(``runtime.typed_counts``) go with each batch. When the database cannot take a batch, it is
kept and tried again with the next one; a crash loses at most the last few seconds of counts.
"""

from __future__ import annotations

import logging

from bot.core.daily_counts import DailyCounts
from bot.core.search.counts import TypedCounts
from bot.storage import Storage
from bot.telegram_side.database_health import DatabaseHealth, DatabaseOutage
from bot.telegram_side.periodic import Periodic

log = logging.getLogger(__name__)

#: Seconds between two writes of the counts.
FLUSH_INTERVAL = 5.0
#: Rows kept in memory while the database is away; past this the oldest batch is dropped.
MAX_PENDING_ROWS = 100_000


class StatsWriter:
    """``start()`` … ``await stop()``; :meth:`flush` writes what was counted so far."""

    def __init__(
        self,
        storage: Storage,
        counts: DailyCounts,
        typed: TypedCounts,
        *,
        interval: float = FLUSH_INTERVAL,
        database: DatabaseHealth | None = None,
    ) -> None:
        self.storage = storage
        # Shared with the patient side: an outage is logged once, not once per flush.
        self.database = database or DatabaseHealth()
        self.counts = counts
        self.typed = typed
        self.interval = interval
        self._job = Periodic("stats-flush", self.flush, interval=interval)

    async def flush(self) -> int:
        """Add everything counted so far to the database; returns the rows written (0 when the
        database failed: the counts are kept for the next try)."""
        self.counts.add_typed(self.typed.take())
        batch = self.counts.take()
        if not batch:
            return 0
        try:
            await self.database.call(lambda: self.storage.add_daily_counts(batch), "stats")
        except DatabaseOutage:
            kept = len(batch) + len(self.counts) <= MAX_PENDING_ROWS
            if kept:
                self.counts.restore(batch)
            else:  # the database has been away long: the oldest counts go (said once each)
                log.warning("event=stats_dropped rows=%d", len(batch))
            return 0
        return len(batch)

    def start(self) -> None:
        self._job.start()

    async def stop(self) -> None:
        """Stop the loop and write what is left (the bot's updates have stopped by now)."""
        await self._job.stop()
        await self.flush()
