"""The running bot's services, typed: one :class:`Runtime` per process.

Handlers reach it as ``context.runtime`` (see :mod:`bot.telegram_side.context`); there are no
string keys in ``bot_data``. Content can be swapped while the bot runs (hot reload): each
update takes ``runtime.renderer`` and ``runtime.desk`` (the search over that same content)
together, once, at its start, so a user never sees half old, half new.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Protocol

from bot.broadcast.engine import BroadcastEngine
from bot.config import Settings
from bot.core.cache import BoundedCache
from bot.core.coherence import Coherence
from bot.core.content.bundle import LoadedContent
from bot.core.content.privacy_text import PrivacyTexts
from bot.core.daily_counts import DailyCounts
from bot.core.interests import Interests
from bot.core.render import Renderer
from bot.core.search.counts import TypedCounts
from bot.core.search.desk import QuestionDesk
from bot.storage import DatabaseTimeouts, Storage, open_storage
from bot.telegram_side.database_health import DatabaseHealth
from bot.telegram_side.metrics import BotMetrics
from bot.telegram_side.replica_sync import ReplicaSync
from bot.telegram_side.retention import RetentionJob
from bot.telegram_side.stats_flush import StatsWriter
from bot.telegram_side.user_caches import SubscriberCache, UserTracker


class UpdateSource(Protocol):
    """Where updates come from (long polling or the webhook; telegram_side/update_sources.py)."""

    @property
    def receiving(self) -> bool:
        """Updates are arriving: polling runs, or the webhook is set and its server listens."""
        ...


#: Group chats remembered as already told about private chats (the database has them all).
QUIET_CHATS_CACHED = 10_000


@dataclass
class Runtime:
    """Everything a handler needs, built once at start."""

    settings: Settings
    storage: Storage
    renderer: Renderer
    users: UserTracker
    subscribers: SubscriberCache
    # Typed messages: the search index and urgent signs of the content ``renderer`` shows.
    desk: QuestionDesk
    # What a subscriber can pick for news (content/interests.yaml).
    interests: Interests = field(default_factory=Interests)
    # The privacy notice per locale (content/<locale>/privacy.yaml), for /privacy.
    privacy: PrivacyTexts = field(default_factory=PrivacyTexts)
    # Group chats already told that the bot works in private chats (handlers/gate.py).
    quiet_chats: BoundedCache[int, bool] = field(
        default_factory=lambda: BoundedCache(maxsize=QUIET_CHATS_CACHED, ttl=24 * 3600.0)
    )
    # Two reloads at once would race to the swap (bot.telegram_side.hot_reload).
    reload_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # The broadcast delivery engine, while `run` (or a test harness) has one running.
    engine: BroadcastEngine | None = None
    # The daily erasure of users past USER_RETENTION_DAYS, while `run` runs.
    retention: RetentionJob | None = None
    # How many typed messages matched a topic, did not, or got the urgent-care message (in
    # memory; never the text). The stats writer takes them with each batch.
    typed_counts: TypedCounts = field(default_factory=TypedCounts)
    # Statistics without text: counted here in memory by the handlers (views, answers, deep
    # links, new users, subscriptions), written to daily_counts by ``stats_writer``.
    counts: DailyCounts = field(default_factory=DailyCounts)
    # Writes ``counts`` every few seconds while `run` (or a test harness) runs.
    stats_writer: StatsWriter | None = None

    async def flush_counts(self) -> None:
        """Write the counts now (before /stats reads them)."""
        if self.stats_writer is not None:
            await self.stats_writer.flush()

    # Prometheus metrics of this process (served on METRICS_PORT); named methods to count with.
    metrics: BotMetrics = field(default_factory=BotMetrics)
    # Long polling or the webhook, while `run` (or a test harness) receives updates.
    update_source: UpdateSource | None = None
    # Whether the database is in an outage; every database call of a patient's update goes
    # through it (telegram_side/database_health.py). Shared with `users` and `subscribers`.
    database: DatabaseHealth = field(default_factory=DatabaseHealth)
    # Whether `users` and `subscribers` may trust what they cached (replicas: only while
    # `replicas` listens for changes; telegram_side/replica_sync.py). Shared with both.
    coherence: Coherence = field(default_factory=Coherence)
    # Listens for changes and reloads made through other replicas, while `run` runs on
    # PostgreSQL (None on SQLite and before the start).
    replicas: ReplicaSync | None = None

    @property
    def locales(self) -> list[str]:
        return self.renderer.locales

    def use_content(self, content: LoadedContent, desk: QuestionDesk | None = None) -> None:
        """Serve ``content`` from the next update on; ``desk`` is its renderer and search index
        when they were built already (off the event loop, see hot_reload.py). The assignments
        run without an await between them, so no update can see one without the other."""
        if desk is None:
            desk = QuestionDesk.build(content, self.settings)
        self.interests = content.interests
        self.privacy = content.privacy
        self.renderer = desk.renderer
        self.desk = desk


async def create_runtime(
    settings: Settings, content: LoadedContent, storage: Storage | None = None
) -> Runtime:
    if storage is None:
        timeout = settings.database_timeout
        storage = await open_storage(
            settings.database_url, timeouts=DatabaseTimeouts(statement=timeout, pool=timeout)
        )
    desk = QuestionDesk.build(content, settings)
    counts = DailyCounts()
    database = DatabaseHealth()
    # Replicas on PostgreSQL: caches trusted only while changes are heard (replica_sync.py).
    coherence = Coherence(shared=storage.backend == "postgresql")
    runtime = Runtime(
        settings,
        storage,
        desk.renderer,
        UserTracker(storage, counts=counts, database=database, coherence=coherence),
        SubscriberCache(storage, database=database, coherence=coherence),
        desk,
        content.interests,
        content.privacy,
        counts=counts,
        database=database,
        coherence=coherence,
    )
    runtime.metrics.watch_database(storage.engine)
    return runtime
