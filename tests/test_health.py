"""/healthz, /readyz and /metrics over real HTTP, with the real bot running against the emulator.

The metrics are read back with prometheus-client's own parser of the text format, so what is
checked is what Prometheus would scrape.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.broadcast import BroadcastDraft, queue_broadcast
from bot.storage import Storage, parse_database_url
from bot.storage.connection import create_engine_for
from bot.telegram_side.health_server import HealthServer
from bot.telegram_side.metrics import BotMetrics
from bot.testing import BotAPIEmulator
from bot.testing.harness import RunningBot
from tests.conftest import BotStarter
from tests.webhook_helpers import free_port, get, sample, wait_until

P = "interventional_bot_"


@pytest.fixture
async def health(bot: RunningBot) -> AsyncIterator[str]:
    port = free_port()
    server = HealthServer(bot.runtime, listen="127.0.0.1", port=port)
    await server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await server.close()


async def test_alive_ready_and_counting(
    bot: RunningBot, emulator: BotAPIEmulator, health: str
) -> None:
    assert await get(f"{health}/healthz") == (200, "ok\n")
    assert await get(f"{health}/readyz") == (200, "ready\n")
    user = emulator.user(42)
    await user.send("/start", within=10)
    await user.press("Features", within=10)
    status, text = await get(f"{health}/metrics")
    assert status == 200
    assert sample(text, f"{P}updates_total", type="message") == 1
    assert sample(text, f"{P}updates_total", type="callback_query") == 1
    assert sample(text, f"{P}update_handling_seconds_count", type="message") == 1
    assert sample(text, f"{P}update_handling_seconds_bucket", type="message", le="+Inf") == 1
    assert sample(text, f"{P}broadcast_lease_holder") == 1
    assert sample(text, f"{P}broadcast_messages_total", state="sent") == 0
    assert sample(text, f"{P}telegram_rate_limited_total", source="interactive") == 0
    assert sample(text, f"{P}database_errors_total") == 0
    assert sample(text, "process_cpu_seconds_total") is not None


async def test_telegram_errors_by_code_and_429s(
    bot: RunningBot, emulator: BotAPIEmulator, health: str
) -> None:
    emulator.user(43)
    emulator.inject_fault("server_error", method="sendMessage", chat_id=43, status=502)
    emulator.inject_fault(
        "server_error",
        method="sendMessage",
        chat_id=43,
        status=429,
        answer="Too Many Requests: retry after 1",
    )
    emulator.deliver_text(43, "/help")

    def rate_limited() -> float | None:
        text = bot.runtime.metrics.render().decode()
        return sample(text, f"{P}telegram_rate_limited_total", source="interactive")

    await wait_until(lambda: rate_limited() == 1, what="both answers observed")
    _, text = await get(f"{health}/metrics")
    assert sample(text, f"{P}telegram_errors_total", source="interactive", code="502") == 1
    assert sample(text, f"{P}telegram_errors_total", source="interactive", code="429") == 1
    assert sample(text, f"{P}telegram_rate_limited_total", source="interactive") == 1


async def test_broadcast_messages_by_final_state(
    bot: RunningBot, emulator: BotAPIEmulator, health: str
) -> None:
    storage = bot.runtime.storage
    for user_id in (61, 62):
        emulator.user(user_id)
        await storage.subscribe(user_id, locale="en")
    # Blocked without the bot hearing of it (no my_chat_member): the send itself draws the 403.
    # (Had the bot heard, consent at send time would skip the recipient without a request.)
    emulator.chat(62).blocked = True
    await queue_broadcast(storage, BroadcastDraft({"en": "Open day"}), created_by=None)
    engine = bot.runtime.engine
    assert engine is not None
    engine.wake()
    await wait_until(lambda: engine.stats.sent + engine.stats.blocked == 2, what="delivered")
    _, text = await get(f"{health}/metrics")
    assert sample(text, f"{P}broadcast_messages_total", state="sent") == 1
    assert sample(text, f"{P}broadcast_messages_total", state="blocked") == 1
    assert sample(text, f"{P}telegram_errors_total", source="broadcast", code="403") == 1


async def test_not_ready_while_updates_are_not_received(bot: RunningBot, health: str) -> None:
    source = bot.runtime.update_source
    bot.runtime.update_source = None  # before start, and after stop
    try:
        status, text = await get(f"{health}/readyz")
    finally:
        bot.runtime.update_source = source
    assert status == 503
    assert text.startswith("updates: not being received")


async def test_not_ready_when_the_database_does_not_answer(
    start_bot: BotStarter, tmp_path: Path
) -> None:
    async with start_bot() as running:
        runtime = running.runtime
        # A database that cannot be opened (a file under /proc can never be created).
        target = parse_database_url("sqlite:////proc/no-database-here.db")
        broken = Storage(create_engine_for(target, connect_timeout=1), target)
        runtime.metrics.watch_database(broken.engine)
        working, runtime.storage = runtime.storage, broken
        port = free_port()
        server = HealthServer(runtime, listen="127.0.0.1", port=port)
        await server.start()
        try:
            status, text = await get(f"http://127.0.0.1:{port}/readyz")
            _, metrics = await get(f"http://127.0.0.1:{port}/metrics")
        finally:
            await server.close()
            runtime.storage = working
            await broken.close()
    assert status == 503
    assert text == "database: OperationalError\n"
    assert sample(metrics, f"{P}database_errors_total") == 1


def test_the_metrics_api_others_call() -> None:
    metrics = BotMetrics()
    metrics.update_throttled()
    metrics.update_throttled("overload")
    metrics.set_broadcast_lease(False)
    metrics.database_error()
    metrics.webhook_request(503)
    text = metrics.render().decode()
    assert sample(text, f"{P}throttled_updates_total", reason="per_user") == 1
    assert sample(text, f"{P}throttled_updates_total", reason="overload") == 1
    assert sample(text, f"{P}broadcast_lease_holder") == 0
    assert sample(text, f"{P}database_errors_total") == 1
    assert sample(text, f"{P}webhook_requests_total", status="503") == 1
    # Its own registry: a second bot in the same process counts apart.
    assert sample(BotMetrics().render().decode(), f"{P}database_errors_total") == 0
