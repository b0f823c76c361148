"""Database outages as the delivery engine sees them: when one began, how long to wait, logging.

Any database error (``DATABASE_ERRORS``: PostgreSQL gone or stuck past its timeout, SQLite's
"database is locked" after ``busy_timeout``, "database or disk is full", a pool wait that ran
out) starts an outage. While it lasts the engine claims nothing, keeps the results it could not
write in memory, and tries again after 0.25, 0.5, 1, 2, 4, 5, 5 … s (on the engine's clock).
The first write that succeeds ends it.

One warning line when an outage starts and one info line when it ends (with its duration and
the number of calls that failed), whatever the number of attempts in between. A database that
flaps (fails, answers, fails again within ``QUIET_AFTER`` seconds, e.g. one slow query timing
out again and again while writes work) does not log each turn: such an outage is logged only
if it lasts ``LATE_WARNING`` seconds, and the short ones are summed up in at most one
``database_flapping`` line a minute. The lines name the error's type and the database's
one-line message, never the statement or its parameters (which hold user ids).
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import DBAPIError

from bot.broadcast.clock import Clock

log = logging.getLogger("bot.broadcast.engine")

FIRST_WAIT = 0.25
MAX_WAIT = 5.0
QUIET_AFTER = 60.0  # an outage starting this soon after the last one is logged only if long
LATE_WARNING = 5.0
_DETAIL_MAX = 120


class DatabaseOutage:
    """The engine's view of the database: up, or down since when (one per engine)."""

    def __init__(
        self, clock: Clock, *, first_wait: float = FIRST_WAIT, max_wait: float = MAX_WAIT
    ) -> None:
        self.clock = clock
        self.first_wait = first_wait
        self.max_wait = max_wait
        self._since: float | None = None
        self._failures = 0  # failed calls in the current outage
        self._quiet = False  # the current outage is not logged (yet)
        self._last_end: float | None = None
        self._last_flap_note = -QUIET_AFTER
        self._flaps = 0  # short outages not logged one by one
        self.outages = 0  # since the engine started
        self.failed_calls = 0  # since the engine started

    @property
    def down(self) -> bool:
        return self._since is not None

    def failed(self, where: str, exc: BaseException) -> None:
        """A database call failed; the first failure of an outage is logged."""
        self._failures += 1
        self.failed_calls += 1
        now = self.clock.monotonic()
        if self._since is None:
            self._since = now
            self.outages += 1
            recent = self._last_end is not None and now - self._last_end < QUIET_AFTER
            self._quiet = recent
            if not recent:
                self._warn(where, exc, 0.0)
        elif self._quiet and now - self._since >= LATE_WARNING:
            self._quiet = False  # a real outage after all
            self._warn(where, exc, now - self._since)

    def _warn(self, where: str, exc: BaseException, seconds: float) -> None:
        log.warning(
            "event=database_unavailable where=%s error=%s detail=%r since_seconds=%.1f; "
            "broadcasts pause until it answers",
            where,
            type(_inner(exc)).__name__,
            _detail(exc),
            seconds,
        )

    def recovered(self) -> None:
        """A write succeeded: the outage (if any) is over."""
        if self._since is None:
            return
        now = self.clock.monotonic()
        if not self._quiet:
            log.info(
                "event=database_back after_seconds=%.1f failed_calls=%d; broadcasts resume",
                now - self._since,
                self._failures,
            )
        else:
            self._flaps += 1
            if now - self._last_flap_note >= QUIET_AFTER:
                log.warning(
                    "event=database_flapping short_outages=%d; each paused broadcasts briefly",
                    self._flaps,
                )
                self._last_flap_note = now
                self._flaps = 0
        self._since = None
        self._last_end = now
        self._failures = 0
        self._quiet = False

    def wait(self) -> float:
        """Seconds before the next attempt: doubling from ``first_wait`` up to ``max_wait``."""
        if self._failures <= 0:
            return 0.0
        return min(self.max_wait, self.first_wait * 2.0 ** min(self._failures - 1, 30))


def _inner(exc: BaseException) -> BaseException:
    """The driver's error inside SQLAlchemy's wrapper."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return exc.orig
    return exc


def _detail(exc: BaseException) -> str:
    """The driver's one-line message: no SQL, no parameters."""
    inner = _inner(exc)
    lines = str(inner).strip().splitlines()
    return (lines[0] if lines else "")[:_DETAIL_MAX]
