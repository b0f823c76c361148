"""The retention rule, applied daily inside `run`: erase users past USER_RETENTION_DAYS.

A user who is neither subscribed to news nor seen for ``USER_RETENTION_DAYS`` (default 730) is
erased exactly as their own /forget would (``Storage.purge_inactive``); expired broadcast
drafts go too. The first pass runs shortly after the start, then one a day. Several replicas
may each run it: erasing is idempotent. ``interventional-bot privacy purge`` runs one pass now.
"""

from __future__ import annotations

import logging

from bot.storage import DATABASE_ERRORS, Erased, Storage
from bot.telegram_side.periodic import Periodic

log = logging.getLogger(__name__)

DAY = 24 * 3600.0


async def purge_once(storage: Storage, retention_days: int) -> Erased:
    """One pass of the retention rule; logs what it erased."""
    erased = await storage.purge_inactive(retention_days)
    drafts = await storage.purge_expired_drafts()
    log.info(
        "event=retention_purge days=%d people=%d users=%d subscriptions=%d "
        "recipients_skipped=%d recipients_anonymised=%d drafts=%d",
        retention_days,
        erased.people,
        erased.users,
        erased.subscriptions,
        erased.skipped,
        erased.anonymised,
        erased.drafts + drafts,
    )
    return erased


class RetentionJob:
    """``start()`` … ``await stop()``: :func:`purge_once` after ``first_delay``, then every
    ``interval`` seconds."""

    def __init__(
        self,
        storage: Storage,
        retention_days: int,
        *,
        interval: float = DAY,
        first_delay: float = 60.0,
    ) -> None:
        self.storage = storage
        self.retention_days = retention_days
        self.interval = interval
        self.first_delay = first_delay
        self.passes = 0
        self._job = Periodic("retention", self._pass, interval=interval, first_delay=first_delay)

    def start(self) -> None:
        self._job.start()

    async def stop(self) -> None:
        await self._job.stop()

    async def _pass(self) -> None:
        try:
            await purge_once(self.storage, self.retention_days)
            self.passes += 1
        except DATABASE_ERRORS as exc:  # tried again tomorrow; never stops the bot
            log.warning("event=retention_failed error=%s", type(exc).__name__)
