"""The emulator's webhook, as Telegram's: setWebhook/getWebhookInfo/deleteWebhook and posting.

python-telegram-bot talks to the emulator; a small aiohttp receiver stands for the bot's
webhook server, so what is checked is what arrives over HTTP.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from telegram import Bot
from telegram.error import BadRequest, Conflict, RetryAfter

from bot.testing import BotAPIEmulator
from tests.webhook_helpers import SECRET, WEBHOOK_URL, Receiver, wait_until


@pytest.fixture
async def bot(emulator: BotAPIEmulator) -> AsyncIterator[Bot]:
    async with Bot(emulator.token, base_url=emulator.base_url) as bot:
        yield bot


def descriptions(emulator: BotAPIEmulator, method: str) -> list[str | None]:
    return [r.description for r in emulator.requests_for(method)]


async def test_set_webhook_once_a_second_and_already_set(
    bot: Bot, emulator: BotAPIEmulator
) -> None:
    assert await bot.set_webhook(WEBHOOK_URL, secret_token=SECRET, allowed_updates=["message"])
    with pytest.raises(RetryAfter):  # again within a second: 429
        await bot.set_webhook(WEBHOOK_URL, secret_token=SECRET, allowed_updates=["message"])
    emulator._world.webhook_set_at -= 1.0  # a second later
    assert await bot.set_webhook(WEBHOOK_URL, secret_token=SECRET, allowed_updates=["message"])
    assert descriptions(emulator, "setWebhook") == [
        "Webhook was set",
        "Too Many Requests: retry after 1",
        "Webhook is already set",
    ]
    info = await bot.get_webhook_info()
    assert info.url == WEBHOOK_URL
    assert info.allowed_updates == ("message",)
    assert info.max_connections == 40
    assert info.pending_update_count == 0
    assert not hasattr(info, "secret_token")  # Telegram never shows it


async def test_a_new_secret_is_a_change(bot: Bot, emulator: BotAPIEmulator) -> None:
    await bot.set_webhook(WEBHOOK_URL, secret_token=SECRET)
    emulator._world.webhook_set_at -= 1.0
    await bot.set_webhook(WEBHOOK_URL, secret_token="another-secret")
    assert descriptions(emulator, "setWebhook")[-1] == "Webhook was set"
    assert emulator.webhook is not None and emulator.webhook.secret_token == "another-secret"


@pytest.mark.parametrize(
    ("url", "secret", "problem"),
    [
        ("http://bot.example.org/hook", None, "An HTTPS URL must be provided"),
        ("https://bot.example.org:8080/hook", None, "only on ports 80, 88, 443 or 8443"),
        (WEBHOOK_URL, "no spaces allowed", "secret token contains unallowed characters"),
    ],
)
async def test_set_webhook_refuses_what_telegram_refuses(
    bot: Bot, url: str, secret: str | None, problem: str
) -> None:
    with pytest.raises(BadRequest, match="(?i)" + problem):  # PTB changes the case
        await bot.set_webhook(url, secret_token=secret)


async def test_get_updates_conflicts_while_a_webhook_is_set(
    bot: Bot, emulator: BotAPIEmulator
) -> None:
    await bot.set_webhook(WEBHOOK_URL, secret_token=SECRET)
    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates(timeout=0)
    assert await bot.delete_webhook()
    assert await bot.delete_webhook()
    assert descriptions(emulator, "deleteWebhook") == [
        "Webhook was deleted",
        "Webhook is already deleted",
    ]
    assert await bot.get_updates(timeout=0) == ()
    assert (await bot.get_webhook_info()).url == ""


async def test_updates_are_posted_with_the_secret_and_retried_until_2xx(
    bot: Bot, emulator: BotAPIEmulator
) -> None:
    receiver = Receiver(statuses=[503, 403])  # two refusals, then 200
    origin = await receiver.start()
    try:
        emulator.route_webhook(origin)
        await bot.set_webhook(WEBHOOK_URL, secret_token=SECRET, allowed_updates=["message"])
        emulator.user(42)
        emulator.deliver_text(42, "hello")
        await wait_until(lambda: emulator.pending_updates == 0, what="delivered")
        assert [d.status for d in emulator.webhooks.deliveries] == [503, 403, 200]
        headers, body = receiver.posts[-1]
        assert headers["X-Telegram-Bot-Api-Secret-Token"] == SECRET
        assert headers["Content-Type"] == "application/json"
        update = json.loads(body)
        assert update["message"]["text"] == "hello"
        assert len({json.loads(b)["update_id"] for _, b in receiver.posts}) == 1
        info = await bot.get_webhook_info()
        assert info.last_error_message == "Wrong response from the webhook: 403"
    finally:
        await receiver.stop()


async def test_updates_wait_while_the_webhook_host_is_down(
    bot: Bot, emulator: BotAPIEmulator
) -> None:
    receiver = Receiver()
    origin = await receiver.start()
    await receiver.stop()  # nobody listens there now
    emulator.route_webhook(origin)
    await bot.set_webhook(WEBHOOK_URL, secret_token=SECRET)
    emulator.user(7)
    emulator.deliver_text(7, "anyone?")
    await wait_until(lambda: len(emulator.webhooks.deliveries) >= 2, what="retried")
    assert {d.error for d in emulator.webhooks.deliveries} == {"Connection refused"}
    assert (await bot.get_webhook_info()).pending_update_count == 1
    receiver2 = Receiver()
    emulator.route_webhook(await receiver2.start())
    try:
        await wait_until(lambda: emulator.pending_updates == 0, what="delivered at last")
        assert len(receiver2.posts) == 1
    finally:
        await receiver2.stop()
