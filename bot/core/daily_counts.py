"""Statistics without text: what is counted per day, and the in-memory batch of counts.

Each count is ``(day, metric, key) -> n``: a day (UTC), what happened, and to what (a topic, a
source id), never to whom. The running bot adds to a :class:`DailyCounts` in memory (a press
costs a dictionary update, no database write) and a job writes the batch every few seconds and
at shutdown (``telegram_side/stats_flush.py``), adding it to the ``daily_counts`` table.

The metrics and their keys:

======================  ==========================================================
``view``                a topic screen opened: key ``<topic>:<locale>``
``helpful``             "Was this helpful?" answered 👍: key ``<topic>``
``not_helpful``         answered 👎: key ``<topic>``
``search``              a typed message: key ``matched`` or ``unmatched``
``urgent``              the urgent-care message sent (key empty)
``deep_link``           /start from a link: key the link's source id (``(none)``: none)
``new_user``            a user seen for the first time (key empty)
``subscription_started``  news subscription started (key empty)
``subscription_ended``  ended: key ``unsubscribed``, ``blocked`` or ``erased``
======================  ==========================================================
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime

VIEW = "view"
HELPFUL = "helpful"
NOT_HELPFUL = "not_helpful"
SEARCH = "search"
URGENT = "urgent"
DEEP_LINK = "deep_link"
NEW_USER = "new_user"
SUBSCRIPTION_STARTED = "subscription_started"
SUBSCRIPTION_ENDED = "subscription_ended"
METRICS = (
    VIEW,
    HELPFUL,
    NOT_HELPFUL,
    SEARCH,
    URGENT,
    DEEP_LINK,
    NEW_USER,
    SUBSCRIPTION_STARTED,
    SUBSCRIPTION_ENDED,
)
#: The longest metric name and key the table holds.
MAX_METRIC_LENGTH = 32
MAX_KEY_LENGTH = 80
#: Distinct deep-link sources counted per day by one process; more are counted as
#: :data:`OTHER_SOURCE`, so that nobody can fill the table by sending made-up links.
MAX_SOURCES_PER_DAY = 200
OTHER_SOURCE = "(other)"
#: The key of a link without a source id (a source id has no parentheses).
NO_SOURCE = "(none)"

CountKey = tuple[date, str, str]


def utc_today() -> date:
    return datetime.now(UTC).date()


def view_key(topic_id: str, locale: str) -> str:
    return f"{topic_id}:{locale}"


def split_view_key(key: str) -> tuple[str, str]:
    """``recovery:zh_Hans`` -> ``("recovery", "zh_Hans")``."""
    topic_id, _, locale = key.partition(":")
    return topic_id, locale


class DailyCounts:
    """Counts waiting to be written: ``add`` while the bot runs, ``take`` to write them."""

    def __init__(self, today: Callable[[], date] = utc_today) -> None:
        self.today = today
        self._counts: defaultdict[CountKey, int] = defaultdict(int)
        self._sources: tuple[date, set[str]] = (date.min, set())

    def add(self, metric: str, key: str = "", n: int = 1, *, day: date | None = None) -> None:
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}")
        if len(key) > MAX_KEY_LENGTH:
            raise ValueError(f"key over {MAX_KEY_LENGTH} characters: {key!r}")
        self._counts[(day or self.today(), metric, key)] += n

    def add_source(self, source: str | None) -> None:
        """A deep link opened from ``source`` (None: a link without one)."""
        key = source or NO_SOURCE
        today = self.today()
        day, seen = self._sources
        if day != today:
            seen = set()
            self._sources = (today, seen)
        if key not in seen:
            if len(seen) >= MAX_SOURCES_PER_DAY:
                key = OTHER_SOURCE
            else:
                seen.add(key)
        self.add(DEEP_LINK, key, day=today)

    def add_typed(self, counts: Mapping[str, int]) -> None:
        """The typed-message counts of ``TypedCounts.take()`` (matched, unmatched, urgent)."""
        for outcome in ("matched", "unmatched"):
            if counts.get(outcome):
                self.add(SEARCH, outcome, counts[outcome])
        if counts.get("urgent"):
            self.add(URGENT, "", counts["urgent"])

    def take(self) -> dict[CountKey, int]:
        """Every count so far (zeros left out), and start again from nothing."""
        counts = {key: n for key, n in self._counts.items() if n}
        self._counts = defaultdict(int)
        return counts

    def restore(self, counts: Mapping[CountKey, int]) -> None:
        """Put back what :meth:`take` returned when writing it failed (tried again later)."""
        for key, n in counts.items():
            self._counts[key] += n

    def peek(self) -> dict[CountKey, int]:
        return {key: n for key, n in self._counts.items() if n}

    def __len__(self) -> int:
        return len(self._counts)
