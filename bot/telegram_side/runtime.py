"""The running bot's services, typed: one :class:`Runtime` per process.

Handlers reach it as ``context.runtime`` (see :mod:`bot.telegram_side.context`); there are no
string keys in ``bot_data``. Content can be swapped while the bot runs (hot reload): each
update takes ``runtime.renderer`` once, at its start, so a user never sees half old, half new.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from bot.broadcast.engine import BroadcastEngine
from bot.config import Settings
from bot.core.content.bundle import LoadedContent
from bot.core.interests import Interests
from bot.core.render import Renderer
from bot.storage import DatabaseTimeouts, Storage, open_storage
from bot.telegram_side.user_caches import SubscriberCache, UserTracker


@dataclass
class Runtime:
    """Everything a handler needs, built once at start."""

    settings: Settings
    storage: Storage
    renderer: Renderer
    users: UserTracker
    subscribers: SubscriberCache
    # What a subscriber can pick for news (content/interests.yaml).
    interests: Interests = field(default_factory=Interests)
    # Two reloads at once would race to the swap (bot.telegram_side.hot_reload).
    reload_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # The broadcast delivery engine, while `run` (or a test harness) has one running.
    engine: BroadcastEngine | None = None

    @property
    def locales(self) -> list[str]:
        return self.renderer.locales

    def use_content(self, content: LoadedContent) -> None:
        """Serve ``content`` from the next update on (one assignment per field)."""
        self.interests = content.interests
        self.renderer = Renderer(content.library, content.catalogs, self.settings.hospital)


async def create_runtime(
    settings: Settings, content: LoadedContent, storage: Storage | None = None
) -> Runtime:
    if storage is None:
        timeout = settings.database_timeout
        storage = await open_storage(
            settings.database_url, timeouts=DatabaseTimeouts(statement=timeout, pool=timeout)
        )
    renderer = Renderer(content.library, content.catalogs, settings.hospital)
    return Runtime(
        settings,
        storage,
        renderer,
        UserTracker(storage),
        SubscriberCache(storage),
        content.interests,
    )
