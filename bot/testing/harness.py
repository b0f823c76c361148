"""The real bot, wired to the in-process emulator: used by tests, `demo` and benchmarks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from bot.config import Settings
from bot.core.content.bundle import load_content
from bot.storage import DatabaseTimeouts, open_storage
from bot.telegram_side.context import BotApplication
from bot.telegram_side.runtime import Runtime, create_runtime
from bot.telegram_side.wiring import build_application, running
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
    timeout = settings.database_timeout
    storage = await open_storage(
        database_url or settings.database_url,
        schema=schema,
        timeouts=DatabaseTimeouts(statement=timeout, pool=timeout),
    )
    try:
        runtime = await create_runtime(settings, content, storage)
        app = build_application(
            settings, runtime, token=emulator.token, base_url=emulator.base_url
        )
        async with running(app):
            yield RunningBot(emulator, runtime, app)
    finally:
        await storage.close()
