"""Telegram's side of a webhook: POST each pending update to the bot, again until it is taken.

While a webhook is set, every queued update the bot asked for is posted as JSON, with the
``X-Telegram-Bot-Api-Secret-Token`` header when a secret token was set, at most
``max_connections`` at once (so not necessarily in order). A 2xx answer removes the update; any
other answer, a refused connection or no answer within ``timeout`` keeps it, and it is posted
again after ``retry_delay`` (doubling up to ``max_retry_delay``). The failure is what
``getWebhookInfo`` reports as the last error.

The webhook URL names a public HTTPS host; the emulator never reaches out. It posts to
``route`` instead (``http://127.0.0.1:PORT``, the URL's path and query kept): what DNS and the
TLS-terminating proxy in front of the bot do in production. Without a route nothing is posted
and the updates wait, as they would for a host that does not answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bot.testing.emulator.chat_model import unix_time
from bot.testing.emulator.telegram_world import TelegramWorld
from bot.testing.emulator.webhook_state import WebhookState

__all__ = ["SECRET_HEADER", "Delivery", "WebhookSender"]

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - the header's name


@dataclass(frozen=True)
class Delivery:
    """One POST of an update: the status answered, or None and the error (no answer)."""

    update_id: int
    status: int | None
    error: str | None
    time: float  # perf_counter() when it ended


class WebhookSender:
    """Posts ``world``'s pending updates to its webhook (through ``route``)."""

    def __init__(
        self,
        world: TelegramWorld,
        *,
        retry_delay: float = 0.1,
        max_retry_delay: float = 1.0,
        timeout: float = 10.0,
    ) -> None:
        self.world = world
        #: Where posts go: ``scheme://host:port`` replacing the webhook URL's own.
        self.route: str | None = None
        self.retry_delay = retry_delay
        self.max_retry_delay = max_retry_delay
        self.timeout = timeout
        #: Every POST made, in the order they ended.
        self.deliveries: list[Delivery] = []
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        self._failures: dict[int, int] = {}
        self._not_before: dict[int, float] = {}
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())
        self._task = asyncio.create_task(self._run(), name="emulator-webhook-sender")

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._in_flight.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._task = None
        self._in_flight.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _run(self) -> None:
        while True:
            changed = self.world.updates.changed
            hook = self.world.webhook
            wait = 0.05
            if hook is not None and self.route is not None:
                wait = self._launch(hook, self.route)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), wait)

    def _launch(self, hook: WebhookState, route: str) -> float:
        """Start posting what may go now; returns how long to wait for the next retry."""
        now = time.perf_counter()
        next_retry = 0.05
        for update in self.world.updates.deliverable():
            if len(self._in_flight) >= hook.max_connections:
                break
            update_id = int(update["update_id"])
            if update_id in self._in_flight:
                continue
            not_before = self._not_before.get(update_id, 0.0)
            if not_before > now:
                next_retry = min(next_retry, not_before - now)
                continue
            self._in_flight[update_id] = asyncio.create_task(self._post(hook, route, update))
        return max(next_retry, 0.001)

    async def _post(self, hook: WebhookState, route: str, update: dict[str, Any]) -> None:
        update_id = int(update["update_id"])
        target = urlsplit(hook.url)
        query = f"?{target.query}" if target.query else ""
        url = route.rstrip("/") + (target.path or "/") + query
        headers = {"Content-Type": "application/json"}
        if hook.secret_token is not None:
            headers[SECRET_HEADER] = hook.secret_token
        status: int | None = None
        error: str | None = None
        assert self._session is not None
        try:
            async with self._session.post(
                url,
                data=json.dumps(update, ensure_ascii=False).encode(),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                allow_redirects=False,
            ) as response:
                status = response.status
                await response.read()
        except TimeoutError:
            error = "Read timeout expired"
        except aiohttp.ClientError:
            error = "Connection refused"
        finally:
            del self._in_flight[update_id]
        self.deliveries.append(Delivery(update_id, status, error, time.perf_counter()))
        if status is not None and 200 <= status < 300:
            self._failures.pop(update_id, None)
            self._not_before.pop(update_id, None)
            self.world.updates.remove(update_id)
            return
        failures = self._failures.get(update_id, 0) + 1
        self._failures[update_id] = failures
        delay = min(self.retry_delay * 2 ** (failures - 1), self.max_retry_delay)
        self._not_before[update_id] = time.perf_counter() + delay
        hook.last_error_date = unix_time()
        hook.last_error_message = error or f"Wrong response from the webhook: {status}"
        self.world.updates.wake()
