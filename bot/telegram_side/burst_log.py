"""One log line per interval for events that come in bursts (429s, dropped updates).

A flood is thousands of identical events a minute; a line for each would bury everything else
in the log (one spamming account once made about a thousand ERROR lines in 15 s). A
:class:`BurstLog` counts them instead and writes one ``key=value`` line per ``interval``
seconds while they keep coming: how many of each kind, how many distinct chats or users (never
which), and the largest value of any measure (e.g. ``retry_after``). Nothing is written for a
quiet interval.

The line is written by a timer of the running event loop at the end of the interval (no task);
outside an event loop, at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Hashable

#: Distinct chats or users remembered per interval (beyond it the count shows as a floor).
MAX_DISTINCT = 10_000


class BurstLog:
    """``add()`` an event; one line per ``interval`` seconds sums them up."""

    def __init__(
        self,
        logger: logging.Logger,
        event: str,
        *,
        interval: float = 10.0,
        level: int = logging.WARNING,
        distinct: str = "chats",
    ) -> None:
        self.logger = logger
        self.event = event
        self.interval = interval
        self.level = level
        self.distinct = distinct
        self.lines = 0  # lines written so far (for tests)
        self._counts: Counter[str] = Counter()
        self._who: set[Hashable] = set()
        self._maxima: dict[str, float] = {}
        self._timer: asyncio.TimerHandle | None = None

    def add(self, kind: str, who: Hashable | None = None, **measures: float | None) -> None:
        self._counts[kind] += 1
        if who is not None and len(self._who) < MAX_DISTINCT:
            self._who.add(who)
        for name, value in measures.items():
            if value is not None:
                self._maxima[name] = max(value, self._maxima.get(name, value))
        if self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self._timer = loop.call_later(self.interval, self.flush)

    @property
    def pending(self) -> int:
        """Events counted and not yet written."""
        return sum(self._counts.values())

    def flush(self) -> None:
        """Write the line for what was counted (if anything) and start a new interval."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        total = self.pending
        if not total:
            return
        who = len(self._who)
        fields = [
            f"event={self.event}",
            f"count={total}",
            f"{self.distinct}={who}{'+' if who >= MAX_DISTINCT else ''}",
            *(f"{kind}={n}" for kind, n in sorted(self._counts.items())),
            *(f"max_{name}={value:g}" for name, value in sorted(self._maxima.items())),
            f"interval={self.interval:g}s",
        ]
        self._counts.clear()
        self._who.clear()
        self._maxima.clear()
        self.lines += 1
        self.logger.log(self.level, " ".join(fields))
