"""The webhook's HTTP side: an aiohttp server that takes Telegram's POSTs into the update queue.

Like PTB's ``customwebhookbot`` example, an accepted update goes into the application's
``update_queue``, exactly where long polling puts it, so whatever processes updates (handler
groups, the update processor, flood protection) treats webhook updates the same.

Each request, in order:

- while stopping (SIGTERM): 503 on a connection already open, so that Telegram (or the proxy)
  sends it again, elsewhere; new connections are refused from then on, which a proxy answers
  by trying the next replica at once;
- without the exact ``X-Telegram-Bot-Api-Secret-Token`` header: 403 and nothing else happens
  (compared in constant time, before the body is read);
- a body over ``max_body`` bytes: 413; not a JSON update: 400; neither has any effect;
- otherwise 200 once the update is in the queue (processing happens after the answer: a slow
  handler never makes Telegram time out and send the update again).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from telegram import Bot, Update

from bot.config import ConfigError

__all__ = ["DRAIN_SECONDS", "MAX_BODY", "SECRET_HEADER", "WebhookServer", "listen_failure"]

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - the header's name
#: Largest update accepted, in bytes. An update is a few kilobytes (a 4096-character message
#: with entities and a keyboard stays well under 64 KiB); a megabyte leaves room, and bounds
#: what anyone who learns the URL can make the process read.
MAX_BODY = 1024 * 1024
#: How long stopping waits for requests already accepted to queue their update.
DRAIN_SECONDS = 5.0
#: At most one log line per status per this many seconds for refused requests (a scanner
#: hammering the URL must not flood the log; the metrics count every one).
_REFUSAL_LOG_INTERVAL = 60.0


class WebhookServer:
    """Serves ``path`` on ``listen``:``port``; accepted updates go to ``accept``."""

    def __init__(
        self,
        *,
        bot: Bot,
        path: str,
        secret: str,
        listen: str,
        port: int,
        accept: Callable[[Update], Awaitable[None]],
        on_answer: Callable[[int], None] = lambda status: None,
        max_body: int = MAX_BODY,
    ) -> None:
        self._bot = bot
        self._path = path
        self._secret = secret.encode()
        self._listen = listen
        self._port = port
        self._accept = accept
        self._on_answer = on_answer
        self._max_body = max_body
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._listening = False
        self._draining = False
        self._in_hand = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._last_refusal_log: dict[int, float] = {}

    @property
    def listening(self) -> bool:
        """The server is bound and takes updates (False once stopping)."""
        return self._listening and not self._draining

    async def start(self) -> None:
        app = web.Application(client_max_size=self._max_body)
        app.router.add_post(self._path, self._handle)
        # access_log=None: one line per update would be noise (the metrics count them).
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._listen, self._port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await self.close()
            raise listen_failure("WEBHOOK_PORT", self._listen, self._port, exc) from None
        self._site = site
        self._listening = True
        log.info("event=webhook_listening address=%s port=%d", self._listen, self._port)

    async def stop_accepting(self) -> None:
        """Take no more updates: stop listening (a new connection is refused, so a proxy tries
        the next replica at once), answer 503 on connections already open (Telegram, or the
        proxy, sends the update again), and wait (at most ``DRAIN_SECONDS``) until every
        request accepted before has put its update in the queue."""
        self._draining = True
        if self._site is not None:
            await self._site.stop()
            self._site = None
        try:
            await asyncio.wait_for(self._idle.wait(), DRAIN_SECONDS)
        except TimeoutError:
            log.warning("event=webhook_drain_timeout in_hand=%d", self._in_hand)

    async def close(self) -> None:
        """Stop listening and close every connection."""
        self._draining = True
        self._listening = False
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- one request ------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        if self._draining:
            return self._answer(503, "stopping")
        given = request.headers.get(SECRET_HEADER)
        # Constant time: how much of a guess is right must not show in the answer's timing.
        if given is None or not hmac.compare_digest(given.encode(errors="replace"), self._secret):
            return self._answer(403, "no secret token" if given is None else "wrong secret token")
        if request.content_length is not None and request.content_length > self._max_body:
            return self._answer(413, "body too large")
        self._in_hand += 1
        self._idle.clear()
        try:
            return await self._take(request)
        finally:
            self._in_hand -= 1
            if self._in_hand == 0:
                self._idle.set()

    async def _take(self, request: web.Request) -> web.Response:
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:  # a chunked body that grew past max_body
            return self._answer(413, "body too large")
        update = self._decode(body)
        if update is None:
            return self._answer(400, "not an update")
        await self._accept(update)
        log.debug("event=webhook_update_queued update_id=%d", update.update_id)
        return self._answer(200)

    def _decode(self, body: bytes) -> Update | None:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            return None
        try:
            return Update.de_json(data, self._bot)
        except (KeyError, TypeError, ValueError, AttributeError):
            return None

    def _answer(self, status: int, reason: str = "") -> web.Response:
        self._on_answer(status)
        if status != 200:
            now = time.monotonic()
            if now - self._last_refusal_log.get(status, -_REFUSAL_LOG_INTERVAL) >= (
                _REFUSAL_LOG_INTERVAL
            ):
                self._last_refusal_log[status] = now
                level = logging.INFO if status == 503 else logging.WARNING
                log.log(level, "event=webhook_refused status=%d reason=%s", status, reason)
        response = web.Response(status=status)
        if status == 503:
            response.force_close()  # a proxy must not send the next update on this connection
        return response


def listen_failure(variable: str, listen: str, port: int, exc: OSError) -> ConfigError:
    """The one line for a port that cannot be listened on (in use, not allowed): "Address
    already in use", without asyncio's wrapping around it."""
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    return ConfigError(variable, f"cannot listen on {listen}:{port}: {reason}")
