"""The database as the patient's side sees it: up, or in an outage; one log line each way.

Every database call a patient's update makes goes through :meth:`DatabaseHealth.call`. While
the database answers, that is all it does. When a call fails with one of
:data:`~bot.storage.DATABASE_ERRORS`, an outage starts: one line
``event=database_unavailable`` is logged, and from then on calls are not even tried (they
raise :class:`DatabaseOutage` at once), except one probe every ``probe_every`` seconds, so that
a database that hangs instead of refusing does not hold every update for its timeout. A call
that succeeds ``probe_every`` seconds or more after the last failure ends the outage, with one
line ``event=database_available`` (how long it lasted, how many calls failed or were skipped);
a success sooner than that (a call that started before the failures, or a database that
fails every other call, as SQLite does when its lock is fought over) does not, so a flapping
database is one outage, not a line each way per flap. Never one line per update.

Callers fall back: menus come from memory, the language from Telegram's ``language_code``, the
subscription is taken as unknown (the main menu offers to subscribe), and a change the patient
asked for is answered with "could not be saved".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from bot.storage import DATABASE_ERRORS, StorageUnavailableError

log = logging.getLogger(__name__)

T = TypeVar("T")

#: During an outage, one call in this many seconds tries the database.
PROBE_EVERY = 5.0


class DatabaseOutage(StorageUnavailableError):
    """The database could not be used for ``where`` (it failed, or an outage is on).

    A :class:`~bot.storage.StorageError`, so it is one of ``DATABASE_ERRORS`` too.
    """

    def __init__(self, where: str) -> None:
        super().__init__(f"database unavailable ({where})")
        self.where = where


class DatabaseHealth:
    """Whether the database is in an outage; see the module docstring."""

    def __init__(
        self,
        *,
        probe_every: float = PROBE_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.probe_every = probe_every
        self._clock = clock
        self._down_since: float | None = None
        self._last_failure = 0.0
        self._next_probe = 0.0
        self.failed_calls = 0
        self.skipped_calls = 0
        self.outages = 0

    @property
    def down(self) -> bool:
        return self._down_since is not None

    async def call(self, fn: Callable[[], Awaitable[T]], where: str) -> T:
        """``await fn()``, unless an outage is on; :class:`DatabaseOutage` when it fails."""
        if not self._may_try():
            self.skipped_calls += 1
            raise DatabaseOutage(where)
        try:
            result = await fn()
        except DATABASE_ERRORS as exc:
            self.failed(exc, where)
            raise DatabaseOutage(where) from exc
        self.succeeded()
        return result

    def failed(self, exc: BaseException, where: str) -> None:
        """A database call failed (logged only if it starts an outage)."""
        self.failed_calls += 1
        now = self._clock()
        self._last_failure = now
        self._next_probe = now + self.probe_every
        if self._down_since is None:
            self._down_since = now
            self.outages += 1
            self.failed_calls = 1
            self.skipped_calls = 0
            log.error(
                "event=database_unavailable where=%s error=%s fallback=menus_from_memory",
                where,
                type(exc).__name__,
            )

    def succeeded(self) -> None:
        """A database call worked: an outage, if any, is over unless it failed just now."""
        if self._down_since is None:
            return
        now = self._clock()
        if now - self._last_failure < self.probe_every:
            return
        lasted = now - self._down_since
        self._down_since = None
        log.warning(
            "event=database_available after=%.1fs failed_calls=%d skipped_calls=%d",
            lasted,
            self.failed_calls,
            self.skipped_calls,
        )

    def _may_try(self) -> bool:
        if self._down_since is None:
            return True
        now = self._clock()
        if now < self._next_probe:
            return False
        self._next_probe = now + self.probe_every
        return True
