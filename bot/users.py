"""What the bot remembers about a user while it runs: their saved language, cached.

Every update needs the user's saved language; reading it from the database on every press
would put a query on the patient's critical path. The first update of a user in this process
reads (and records first/last seen); later ones hit the cache, and ``last_seen`` is refreshed
in the background at most once per ``touch_interval`` seconds. A language choice is written
through before the bot answers, so it is never lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from bot.storage import Storage

log = logging.getLogger(__name__)


@dataclass
class _Entry:
    locale: str | None
    touched: float


class UserTracker:
    def __init__(self, storage: Storage, *, touch_interval: float = 60.0) -> None:
        self.storage = storage
        self.touch_interval = touch_interval
        self._cache: dict[int, _Entry] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def saved_locale(self, user_id: int) -> str | None:
        """The user's saved language (None if they never chose); records that they were seen."""
        now = time.monotonic()
        entry = self._cache.get(user_id)
        if entry is None:
            record = await self.storage.touch_user(user_id)
            entry = self._cache.setdefault(user_id, _Entry(record.locale, now))
        elif now - entry.touched >= self.touch_interval:
            entry.touched = now
            task = asyncio.create_task(self._touch(user_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return entry.locale

    async def set_locale(self, user_id: int, locale: str | None) -> None:
        await self.storage.set_locale(user_id, locale)
        entry = self._cache.get(user_id)
        if entry is None:
            self._cache[user_id] = _Entry(locale, time.monotonic())
        else:
            entry.locale = locale

    async def flush(self) -> None:
        """Wait for background writes (at shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _touch(self, user_id: int) -> None:
        try:
            await self.storage.touch_user(user_id)
        except Exception as exc:  # a missed last_seen must never break a patient's menu
            log.warning("event=touch_failed user_id=%s error=%s", user_id, type(exc).__name__)
