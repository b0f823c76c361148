"""What the bot remembers about users while it runs: saved language and subscription, cached.

Every update needs the user's saved language, and the main menu's news button whether they are
subscribed; reading both from the database on every press would put two queries on the
patient's critical path. The first update of a user reads (and records first/last seen); later
ones hit the cache. ``last_seen`` is refreshed in the background at most once per
``touch_interval`` seconds. A language choice or a subscription change is written through
before the bot answers, so it is never lost.

Both caches are :class:`~bot.core.cache.BoundedCache`: at most ``maxsize`` users, each entry
expiring after ``ttl`` seconds, so a change made by another process (the CLI on SQLite) shows
within that time and memory does not grow with the number of users.

Replicas on PostgreSQL (``Coherence(shared=True)``): every change to a user, whichever process
made it, drops that user from these caches (``telegram_side/replica_sync.py``); while that
news may be missed, both read the database on every update (a cached value only answers while
the database is away); a read races a change through :meth:`Coherence.fresh`; and the
handlers' write-through becomes a drop, so the next update reads what was committed.

Every database call goes through
:class:`~bot.telegram_side.database_health.DatabaseHealth`: while the database is away a read
answers "unknown" (the patient still gets every menu) and the outage is logged once, not once
per update.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from bot.core import daily_counts
from bot.core.cache import BoundedCache
from bot.core.coherence import Coherence
from bot.storage import Storage
from bot.telegram_side.database_health import DatabaseHealth, DatabaseOutage

#: Users kept in each cache; the least recently seen go first.
CACHE_USERS = 50_000


@dataclass(frozen=True)
class Visit:
    """What an update tells about its user: the saved language, and whether this update
    created them (their first update, or the first after /forget)."""

    locale: str | None
    new: bool = False


class UserTracker:
    """The saved language of each user (None until they choose one); counts new users."""

    def __init__(
        self,
        storage: Storage,
        *,
        touch_interval: float = 60.0,
        ttl: float = 600.0,
        maxsize: int = CACHE_USERS,
        counts: daily_counts.DailyCounts | None = None,
        database: DatabaseHealth | None = None,
        coherence: Coherence | None = None,
    ) -> None:
        self.storage = storage
        self.counts = counts
        self.database = database or DatabaseHealth()
        self.coherence = coherence or Coherence()
        self.touch_interval = touch_interval
        # A one-tuple, so that "chose no language" (None) differs from "not cached".
        self._cache: BoundedCache[int, tuple[str | None]] = BoundedCache(maxsize=maxsize, ttl=ttl)
        self.coherence.track(self._cache)
        self._tasks: set[asyncio.Task[None]] = set()

    async def saved_locale(self, user_id: int, *, touch: bool = True) -> str | None:
        """The user's saved language (None if they never chose, or if the database cannot say
        now); records that they were seen.

        ``touch=False`` only reads: an unknown user stays unknown (a press of /forget's
        button must not create the row it is about to erase).
        """
        return (await self.visit(user_id, touch=touch)).locale

    async def visit(self, user_id: int, *, touch: bool = True) -> Visit:
        """:meth:`saved_locale`, and whether the user was new (counted as a new user)."""
        cached = self._cache.get(user_id)
        if cached is None or not self.coherence.trusted:
            return await self._first_visit(user_id, touch=touch, fallback=cached)
        (locale,) = cached
        if touch and (self._cache.age(user_id) or 0.0) >= self.touch_interval:
            self._cache.set(user_id, cached)
            task = asyncio.create_task(self._touch(user_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return Visit(locale)

    async def _first_visit(
        self, user_id: int, *, touch: bool, fallback: tuple[str | None] | None = None
    ) -> Visit:
        ticket = self.coherence.ticket()
        try:
            if not touch:
                found = await self.database.call(
                    lambda: self.storage.get_user(user_id), "get_user"
                )
                return Visit(None if found is None else found.locale)
            record = await self.database.call(
                lambda: self.storage.touch_user(user_id), "touch_user"
            )
        except DatabaseOutage:
            return Visit(None if fallback is None else fallback[0])
        if self.coherence.fresh(ticket, user_id):
            self._cache.set(user_id, (record.locale,))
        # A row just made has first_seen == last_seen (both this touch's time); a touch of a
        # known user moves only last_seen.
        new = record.first_seen == record.last_seen
        if new and self.counts is not None:
            self.counts.add(daily_counts.NEW_USER)
        return Visit(record.locale, new)

    def cached_locale(self, user_id: int) -> str | None:
        """The saved language if it is in the cache (no database call, nothing recorded)."""
        cached = self._cache.get(user_id)
        return None if cached is None else cached[0]

    async def set_locale(self, user_id: int, locale: str | None) -> None:
        """Save the user's choice; :class:`DatabaseOutage` when it could not be saved."""
        await self.database.call(lambda: self.storage.set_locale(user_id, locale), "set_locale")
        if self.coherence.shared:
            self._cache.pop(user_id)  # the next update reads what was committed
        else:
            self._cache.set(user_id, (locale,))

    async def forget(self, user_id: int) -> None:
        """Before erasing a user: drop what is cached, and let background writes finish (one
        landing after the erasure would bring the user row back)."""
        self._cache.pop(user_id)
        await self.flush()
        self._cache.pop(user_id)

    def drop(self, user_id: int) -> None:
        """Forget what is cached about the user (after erasing them)."""
        self._cache.pop(user_id)

    async def flush(self) -> None:
        """Wait for background writes (at shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _touch(self, user_id: int) -> None:
        # A missed last_seen never breaks a menu; an outage is logged once, by DatabaseHealth.
        with contextlib.suppress(DatabaseOutage):
            await self.database.call(lambda: self.storage.touch_user(user_id), "touch_user")


class SubscriberCache:
    """Whether each user is subscribed, so the main menu's news button costs no query.

    Kept up to date by the handlers (every change of a subscription made in the chat goes
    through them). The delivery engine may mark a recipient blocked; such a user sees no menu
    until they unblock the bot, and the unblock handler resets the entry.
    """

    def __init__(
        self,
        storage: Storage,
        *,
        ttl: float = 600.0,
        maxsize: int = CACHE_USERS,
        database: DatabaseHealth | None = None,
        coherence: Coherence | None = None,
    ) -> None:
        self.storage = storage
        self.database = database or DatabaseHealth()
        self.coherence = coherence or Coherence()
        self._active: BoundedCache[int, bool] = BoundedCache(maxsize=maxsize, ttl=ttl)
        self.coherence.track(self._active)

    async def is_subscribed(self, user_id: int) -> bool:
        """Whether the user is subscribed. When the database cannot say: False, or what was
        cached (a replica that stopped trusting its cache keeps it for this)."""
        cached = self._active.get(user_id)
        if cached is not None and self.coherence.trusted:
            return cached
        ticket = self.coherence.ticket()
        try:
            subscription = await self.database.call(
                lambda: self.storage.get_subscription(user_id), "get_subscription"
            )
        except DatabaseOutage:
            return bool(cached)
        active = subscription is not None and subscription.active
        if self.coherence.fresh(ticket, user_id):
            self._active.set(user_id, active)
        return active

    def set(self, user_id: int, active: bool) -> None:
        """After the handler changed the subscription (written through on a single process;
        replicas drop the entry and read what was committed at the next update)."""
        if self.coherence.shared:
            self._active.pop(user_id)
        else:
            self._active.set(user_id, active)
