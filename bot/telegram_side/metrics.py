"""Prometheus metrics of one process: ``Runtime.metrics``, served on ``METRICS_PORT``.

Every metric lives in the :class:`BotMetrics` instance's own ``CollectorRegistry``, not
prometheus-client's global default: tests and benchmarks run several bots in one process, each
with its own counts, and nothing a library registers globally ends up in ``/metrics``.

The named methods are the API; code that counts something calls them and never touches a
metric object:

- :meth:`BotMetrics.update_processed` (the application, for every update it processes),
- :meth:`BotMetrics.update_throttled` (whatever drops or delays an update for flood reasons),
- :meth:`BotMetrics.telegram_observer` (an ``ObservedRequest`` observer: errors by code, 429s),
- :meth:`BotMetrics.database_error` (and :meth:`watch_database`, SQLAlchemy's error hook),
- :meth:`BotMetrics.set_broadcast_lease` (this process delivers broadcasts, 0/1),
- :meth:`BotMetrics.watch_broadcasts` (a delivery engine's ``EngineStats``, read at scrape),
- :meth:`BotMetrics.webhook_request` (the webhook server's answers, by status).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from telegram import Update

from bot.broadcast.engine_config import EngineStats
from bot.telegram_side.transport import Observer

__all__ = ["CONTENT_TYPE", "PREFIX", "BotMetrics", "update_type"]

PREFIX = "interventional_bot"
#: The Content-Type of :meth:`BotMetrics.render` (Prometheus text format 0.0.4).
CONTENT_TYPE = CONTENT_TYPE_LATEST

#: Final states of a broadcast recipient counted by the engine (``EngineStats`` fields); a
#: field the engine does not have (yet) is left out.
BROADCAST_FINAL_STATES = ("sent", "blocked", "failed", "skipped", "in_doubt")

# The update types the bot asks for come first: most updates are one of them.
_UPDATE_TYPES = ("message", "callback_query", "my_chat_member", *map(str, Update.ALL_TYPES))


def update_type(update: object) -> str:
    """``message``, ``callback_query``, … (Telegram's name for the update's kind), or ``other``."""
    if isinstance(update, Update):
        for kind in _UPDATE_TYPES:
            if getattr(update, kind, None) is not None:
                return kind
    return "other"


class _BroadcastCollector(Collector):
    """Broadcast messages by final state, summed over every engine this process ran: the
    engine keeps the counts (``EngineStats``), read when Prometheus scrapes."""

    def __init__(self) -> None:
        self.stats: list[EngineStats] = []

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily(
            f"{PREFIX}_broadcast_messages",
            "Broadcast messages by final state (sent, blocked, failed, ...), this process.",
            labels=["state"],
        )
        for state in BROADCAST_FINAL_STATES:
            counts = [getattr(stats, state, None) for stats in self.stats]
            if all(isinstance(count, int) for count in counts):
                family.add_metric([state], float(sum(c for c in counts if c is not None)))
        yield family


class BotMetrics:
    """The metrics of one running bot; see the module docstring for the methods to call."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self._updates = Counter(
            f"{PREFIX}_updates",
            "Updates the application processed (handed to its handlers), by type.",
            ["type"],
            registry=registry,
        )
        self._handler_seconds = Histogram(
            f"{PREFIX}_update_handling_seconds",
            "Time to process one update through every handler group, by update type.",
            ["type"],
            registry=registry,
        )
        self._throttled = Counter(
            f"{PREFIX}_throttled_updates",
            "Updates dropped or delayed by flood protection, by reason.",
            ["reason"],
            registry=registry,
        )
        self._telegram_errors = Counter(
            f"{PREFIX}_telegram_errors",
            "Bot API answers other than 200, by HTTP status (interactive bot or broadcasts).",
            ["source", "code"],
            registry=registry,
        )
        self._telegram_429 = Counter(
            f"{PREFIX}_telegram_rate_limited",
            "Bot API 429 answers (flood control), interactive bot or broadcasts.",
            ["source"],
            registry=registry,
        )
        self._database_errors = Counter(
            f"{PREFIX}_database_errors",
            "Database calls that failed (driver errors, lost connections, timeouts).",
            registry=registry,
        )
        self._lease = Gauge(
            f"{PREFIX}_broadcast_lease_holder",
            "1 when this process delivers broadcasts, else 0.",
            registry=registry,
        )
        self._webhook_requests = Counter(
            f"{PREFIX}_webhook_requests",
            "Requests to the webhook, by the HTTP status answered (403: wrong secret).",
            ["status"],
            registry=registry,
        )
        self._broadcasts = _BroadcastCollector()
        registry.register(self._broadcasts)
        # process_cpu_seconds_total, memory, open files (Linux /proc; nothing elsewhere).
        ProcessCollector(registry=registry)
        self._lock = threading.Lock()
        for source in ("interactive", "broadcast"):  # present at 0 before the first 429
            self._telegram_429.labels(source)

    # -- updates ------------------------------------------------------------------------------

    def update_processed(self, kind: str, seconds: float) -> None:
        """One update of ``kind`` went through the handlers in ``seconds``."""
        self._updates.labels(kind).inc()
        self._handler_seconds.labels(kind).observe(seconds)

    def update_throttled(self, reason: str = "per_user") -> None:
        """An update was dropped or delayed by flood protection (keep ``reason`` to a few
        fixed words: each value is a time series)."""
        self._throttled.labels(reason).inc()

    # -- Telegram -----------------------------------------------------------------------------

    def telegram_observer(self, source: str) -> Observer:
        """An ``ObservedRequest`` observer counting non-200 answers and 429s for ``source``."""
        rate_limited = self._telegram_429.labels(source)

        def observe(
            method: str,
            chat_id: int | None,
            status: int,
            retry_after: float | None,
            across_chats: bool = False,
        ) -> None:
            if status == 200:
                return
            self._telegram_errors.labels(source, str(status)).inc()
            if status == 429:
                rate_limited.inc()

        return observe

    # -- database -----------------------------------------------------------------------------

    def database_error(self) -> None:
        self._database_errors.inc()

    def watch_database(self, engine: AsyncEngine) -> None:
        """Count every failed statement and every failed connection attempt on ``engine``,
        once each, through SQLAlchemy's public events.

        ``handle_error`` sees failed statements (a connect error reaches it too on SQLite,
        with no connection yet: counted below instead); a refused or timed-out connection on
        asyncpg raises ``OSError`` past it, so connecting goes through ``do_connect``, which
        connects exactly as the dialect would and counts a failure.
        """

        def on_statement_error(context: Any) -> None:
            if context.connection is not None:
                self.database_error()

        def connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
            try:
                return dialect.connect(*cargs, **cparams)
            except Exception:
                self.database_error()
                raise

        event.listen(engine.sync_engine, "handle_error", on_statement_error)
        event.listen(engine.sync_engine, "do_connect", connect)

    # -- broadcasts ---------------------------------------------------------------------------

    def set_broadcast_lease(self, held: bool) -> None:
        """Whether this process is the one that delivers broadcasts now."""
        self._lease.set(1 if held else 0)

    def watch_broadcasts(self, stats: EngineStats) -> None:
        """Report a delivery engine's counts (kept summed after that engine stops)."""
        with self._lock:
            if all(s is not stats for s in self._broadcasts.stats):
                self._broadcasts.stats.append(stats)

    # -- webhook ------------------------------------------------------------------------------

    def webhook_request(self, status: int) -> None:
        self._webhook_requests.labels(str(status)).inc()

    # -- exposition ---------------------------------------------------------------------------

    def render(self) -> bytes:
        """Every metric in Prometheus' text format (``CONTENT_TYPE``)."""
        return generate_latest(self.registry)
