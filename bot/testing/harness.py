"""The real bot, wired to the in-process emulator: used by tests, `demo` and benchmarks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from bot.app import BotApplication, build_application, create_runtime, load_content, running
from bot.config import Settings
from bot.context import Runtime
from bot.storage import open_storage
from bot.testing.emulator import BotAPIEmulator


@dataclass
class RunningBot:
    emulator: BotAPIEmulator
    runtime: Runtime
    app: BotApplication


@asynccontextmanager
async def running_bot(
    settings: Settings,
    emulator: BotAPIEmulator,
    *,
    database_url: str | None = None,
    schema: str | None = None,
) -> AsyncIterator[RunningBot]:
    """Load content, open storage, start long polling against ``emulator``; stop on exit."""
    content = load_content(settings)
    storage = await open_storage(database_url or settings.database_url, schema=schema)
    try:
        runtime = await create_runtime(settings, content, storage)
        app = build_application(
            settings, runtime, token=emulator.token, base_url=emulator.base_url
        )
        async with running(app, runtime):
            yield RunningBot(emulator, runtime, app)
    finally:
        await storage.close()
