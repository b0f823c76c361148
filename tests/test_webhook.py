"""Webhook mode in one process: the real bot behind its webhook server, the emulator posting.

The emulator posts updates to the bot's webhook server on 127.0.0.1 (``route_webhook``: what
DNS and the TLS proxy do in production), exactly as Telegram would, with the secret header.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from telegram import Bot

from bot.config import ConfigError, Settings, WebhookSettings
from bot.telegram_side.handlers.gate import ALLOWED_UPDATES
from bot.telegram_side.update_sources import WebhookSource
from bot.telegram_side.webhook_registration import register_webhook
from bot.telegram_side.webhook_server import MAX_BODY
from bot.testing import BotAPIEmulator
from bot.testing.harness import RunningBot, running_bot
from tests.conftest import make_settings
from tests.webhook_helpers import (
    SECRET,
    WEBHOOK_PATH,
    WEBHOOK_URL,
    free_port,
    post,
    sample,
    wait_until,
)


def webhook_settings(port: int) -> Settings:
    return make_settings(
        WEBHOOK_URL=WEBHOOK_URL,
        WEBHOOK_SECRET=SECRET,
        WEBHOOK_LISTEN="127.0.0.1",
        WEBHOOK_PORT=str(port),
    )


@pytest.fixture
async def webhook_bot(emulator: BotAPIEmulator, tmp_path: Path) -> AsyncIterator[RunningBot]:
    port = free_port()
    emulator.route_webhook(f"http://127.0.0.1:{port}")
    async with running_bot(
        webhook_settings(port), emulator, database_url=f"sqlite:///{tmp_path / 'bot.db'}"
    ) as running:
        yield running


def webhook_url(running: RunningBot) -> str:
    hook = running.runtime.settings.webhook
    assert hook is not None
    return f"http://127.0.0.1:{hook.port}{WEBHOOK_PATH}"


def update_json(update_id: int, user_id: int, text: str) -> bytes:
    user = {"id": user_id, "is_bot": False, "first_name": "Pat", "language_code": "en"}
    return json.dumps(
        {
            "update_id": update_id,
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": user_id, "type": "private", "first_name": "Pat"},
                "from": user,
                "text": text,
                "entities": [{"type": "bot_command", "offset": 0, "length": len(text)}],
            },
        }
    ).encode()


async def test_webhook_mode_sets_the_webhook_and_serves_patients(
    webhook_bot: RunningBot, emulator: BotAPIEmulator
) -> None:
    hook = emulator.webhook
    assert hook is not None
    assert (hook.url, hook.secret_token, hook.max_connections) == (WEBHOOK_URL, SECRET, 40)
    assert emulator.allowed_updates == frozenset(ALLOWED_UPDATES)
    source = webhook_bot.runtime.update_source
    assert isinstance(source, WebhookSource) and source.receiving
    user = emulator.user(42)
    await user.send("/start", within=10)
    await user.press("Features", within=10)
    assert user.last_text().startswith("Home › ")
    assert emulator.requests_for("getUpdates") == []  # no polling at all
    assert {d.status for d in emulator.webhooks.deliveries} == {200}


async def test_a_wrong_or_missing_secret_is_refused_and_changes_nothing(
    webhook_bot: RunningBot, emulator: BotAPIEmulator
) -> None:
    url = webhook_url(webhook_bot)
    body = update_json(1, 77, "/start")
    before = len(emulator.requests)
    assert (await post(url, body))[0] == 403
    assert (await post(url, body, {"X-Telegram-Bot-Api-Secret-Token": "guess"}))[0] == 403
    assert (await post(url, body, {"X-Telegram-Bot-Api-Secret-Token": SECRET + "x"}))[0] == 403
    await asyncio.sleep(0.3)  # would anything have been processed, it would show by now
    assert emulator.requests[before:] == []  # the bot did not answer anything
    assert await webhook_bot.runtime.storage.get_user(77) is None
    metrics = webhook_bot.runtime.metrics.render().decode()
    assert sample(metrics, "interventional_bot_webhook_requests_total", status="403") == 3
    assert sample(metrics, "interventional_bot_updates_total", type="message") is None


@pytest.mark.parametrize(
    ("body", "status", "chunked"),
    [
        (b"{not json", 400, False),
        (b'{"no_update_id": 1}', 400, False),
        (b'{"update_id": 5, "message": {"text": "no chat"}}', 400, False),
        (b"[1, 2, 3]", 400, False),
        (b"\xff\xfe", 400, False),
        (b"x" * (MAX_BODY + 1), 413, False),
        (b"x" * (MAX_BODY + 1), 413, True),  # no Content-Length: cut off while reading
    ],
)
async def test_bad_bodies_are_refused_without_effect(
    webhook_bot: RunningBot, emulator: BotAPIEmulator, body: bytes, status: int, chunked: bool
) -> None:
    before = len(emulator.requests)
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    answer = await post(webhook_url(webhook_bot), body, headers, chunked=chunked)
    assert answer[0] == status
    await asyncio.sleep(0.1)
    assert emulator.requests[before:] == []
    metrics = webhook_bot.runtime.metrics.render().decode()
    assert sample(metrics, "interventional_bot_webhook_requests_total", status=str(status)) == 1
    assert "_updates_total{" not in metrics


async def test_stopping_answers_503_finishes_updates_in_hand_and_keeps_the_webhook(
    emulator: BotAPIEmulator, tmp_path: Path
) -> None:
    port = free_port()
    settings = webhook_settings(port)
    url = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    emulator.user(55)
    async with (
        running_bot(settings, emulator, database_url=f"sqlite:///{tmp_path / 'bot.db'}") as bot,
        aiohttp.ClientSession() as telegram,  # one kept-alive connection, as Telegram's
    ):
        source = bot.runtime.update_source
        assert isinstance(source, WebhookSource)
        # Accepted (200) just before SIGTERM: still answered before the process ends.
        async with telegram.post(url, data=update_json(900, 55, "/start"), headers=headers) as a:
            assert a.status == 200
        await source.stop_accepting()
        assert not source.receiving
        # On the open connection: 503 (Telegram sends it again later, to another replica).
        async with telegram.post(url, data=update_json(901, 55, "/help"), headers=headers) as a:
            assert a.status == 503
        # A new connection is refused: a proxy tries the next replica at once.
        with pytest.raises(aiohttp.ClientConnectorError):
            await post(url, update_json(902, 55, "/help"), headers)
        metrics = bot.runtime.metrics.render().decode()
    replies = emulator.requests_for("sendMessage", chat_id=55)
    assert len(replies) == 1  # /start's menu; /help was refused (Telegram resends it)
    assert sample(metrics, "interventional_bot_webhook_requests_total", status="503") == 1
    assert emulator.requests_for("deleteWebhook") == []
    assert emulator.webhook is not None and emulator.webhook.url == WEBHOOK_URL


async def test_replicas_registering_together_all_succeed(emulator: BotAPIEmulator) -> None:
    hook = WebhookSettings(url=WEBHOOK_URL, secret=SECRET)
    bots = [Bot(emulator.token, base_url=emulator.base_url) for _ in range(3)]
    for bot in bots:
        await bot.initialize()
    try:
        results = await asyncio.gather(
            *(register_webhook(bot, hook, ALLOWED_UPDATES) for bot in bots)
        )
        assert sorted(results) == ["set", "set by another replica", "set by another replica"]
        answers = [r.description for r in emulator.requests_for("setWebhook")]
        assert answers.count("Webhook was set") == 1
        assert answers.count("Too Many Requests: retry after 1") == 2
        # A replica restarting later sets the same webhook again: "already set" is success.
        emulator._world.webhook_set_at -= 1.0
        assert await register_webhook(bots[0], hook, ALLOWED_UPDATES) == "set"
        assert emulator.requests_for("setWebhook")[-1].description == "Webhook is already set"
    finally:
        for bot in bots:
            await bot.shutdown()


async def test_a_url_telegram_refuses_is_one_line_naming_webhook_url(
    emulator: BotAPIEmulator,
) -> None:
    hook = WebhookSettings(url="https://bot.example.org:8080/hook", secret=SECRET)
    async with Bot(emulator.token, base_url=emulator.base_url) as bot:
        with pytest.raises(ConfigError, match=r"^WEBHOOK_URL: Telegram refused it: ") as info:
            await register_webhook(bot, hook, ALLOWED_UPDATES)
    assert "\n" not in str(info.value)


async def test_polling_deletes_a_webhook_left_over(
    emulator: BotAPIEmulator, tmp_path: Path
) -> None:
    async with Bot(emulator.token, base_url=emulator.base_url) as bot:
        await bot.set_webhook(WEBHOOK_URL, secret_token=SECRET)
    async with running_bot(
        make_settings(), emulator, database_url=f"sqlite:///{tmp_path / 'bot.db'}"
    ):
        user = emulator.user(43)
        await user.send("/start", within=10)
        assert emulator.webhook is None
        assert [r.description for r in emulator.requests_for("deleteWebhook")] == [
            "Webhook was deleted"
        ]


async def test_several_updates_at_once_are_all_served(
    webhook_bot: RunningBot, emulator: BotAPIEmulator
) -> None:
    users = [emulator.user(1000 + i) for i in range(20)]
    await asyncio.gather(*(user.send("/start", within=15) for user in users))
    await wait_until(lambda: emulator.pending_updates == 0, what="all delivered")
    for user in users:
        assert user.buttons()[0] == ["What is it?"], user.last_text()
    metrics = webhook_bot.runtime.metrics.render().decode()
    assert sample(metrics, "interventional_bot_updates_total", type="message") == 20
