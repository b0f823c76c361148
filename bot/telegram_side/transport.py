"""HTTP transports for python-telegram-bot: an aiohttp one, and an observing wrapper.

Why aiohttp for broadcasts: PTB's default transport (httpx + httpcore) spends most of a send's
CPU time in its own machinery: per-request ``Timeout``/``Request`` objects, the connection
pool's locks and state machine (h11), and header handling; on these 2-core machines it tops
out near 450-600 sendMessage/s, below the 1000/s of paid broadcasts, and gets slower with more
concurrency. aiohttp's client (C-accelerated HTTP parser, a simple keep-alive connector) does
the same request in a fraction of that. PTB accepts any :class:`telegram.request.BaseRequest`,
so the broadcast engine's Bot uses :class:`AiohttpRequest`; PTB's error mapping, retries and
types stay as they are. ``benchmarks/broadcast.py`` prints both ceilings side by side. The
interactive bot uses it too (inside :class:`ObservedRequest`): under a flood its many small
requests on httpx took a third of the bot's CPU and made the broadcast late
(``benchmarks/abuse.py``).

:class:`ObservedRequest` wraps the interactive bot's transport. Before a message or an edit
leaves for a chat it waits for that chat's turn (:class:`~bot.telegram_side.reply_pacing.
ReplyPacing`: about one a second, a 429 backs off that chat only, a newer press's screen
replaces one still waiting). After each call it reports (method name, chat id, HTTP status,
``retry_after``, whether a 429 looks global) to an observer: the broadcast engine counts the
interactive bot's messages against its pace, so patients' replies keep priority over bulk
sends, and pauses bulk sending for a 429 only when it is clearly global
(:class:`~bot.telegram_side.rate_limit_watch.RateLimitWatch`, which also logs 429s as one
summary line per interval).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

from bot.telegram_side.api_errors import ReadTimedOut
from bot.telegram_side.rate_limit_watch import RateLimitWatch
from bot.telegram_side.reply_pacing import ReplyPacing

#: (method name, chat id or None, HTTP status, retry_after seconds or None, whether a 429 is
#: clearly global: several chats drew one within a short window)
Observer = Callable[[str, int | None, int, float | None, bool], None]

# PTB marks "no timeout given" with an instance of its DefaultValue class; the class itself
# lives in a private module, so it is taken from the public sentinel.
_DEFAULT_VALUE = type(BaseRequest.DEFAULT_NONE)
#: A timeout argument as PTB passes it: seconds, None (no limit), or "not given" (PTB's
#: ``ODVInput[float]``, whose name is private too; passed through unchanged by ObservedRequest).
Timeout = Any


def _seconds(value: Timeout, default: float | None) -> float | None:
    """The timeout to use: ``value`` when given, else ``default``."""
    if isinstance(value, _DEFAULT_VALUE) or not (value is None or isinstance(value, int | float)):
        return default
    return None if value is None else float(value)


class AiohttpRequest(BaseRequest):
    """A :class:`~telegram.request.BaseRequest` on an aiohttp ``ClientSession``.

    Requests without files go as one JSON body (``RequestData.json_payload``); uploads as
    multipart. Timeouts map to :class:`telegram.error.TimedOut` (``ReadTimedOut``, a subclass,
    once the request has left: it may have been carried out), other client errors to
    :class:`telegram.error.NetworkError`, as PTB's own transport does.
    """

    def __init__(
        self,
        *,
        connection_pool_size: int = 64,
        read_timeout: float | None = 10.0,
        write_timeout: float | None = 10.0,
        connect_timeout: float | None = 10.0,
        pool_timeout: float | None = 10.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._pool_size, limit_per_host=self._pool_size, keepalive_timeout=60
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers={"User-Agent": self.USER_AGENT},
                # PTB parses the body itself; skip aiohttp's cookie jar work on every answer.
                cookie_jar=aiohttp.DummyCookieJar(),
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(  # noqa: PLR0917 - PTB's signature
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Timeout = BaseRequest.DEFAULT_NONE,
        write_timeout: Timeout = BaseRequest.DEFAULT_NONE,
        connect_timeout: Timeout = BaseRequest.DEFAULT_NONE,
        pool_timeout: Timeout = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        read = _seconds(read_timeout, self._read_timeout)
        connect = _seconds(connect_timeout, self._connect_timeout)
        pool = _seconds(pool_timeout, self._pool_timeout)
        write = _seconds(write_timeout, self._write_timeout)
        # At least the pool wait plus the rest, so that a timeout while getting a connection is
        # always aiohttp's ConnectionTimeoutError (the request never left), never the total's.
        waited = max(connect or 0, pool or 0)
        total = None if read is None or write is None else read + write + waited
        timeout = aiohttp.ClientTimeout(
            total=total, connect=pool, sock_connect=connect, sock_read=read
        )
        data: Any = None
        headers: dict[str, str] | None = None
        if request_data is not None:
            if request_data.contains_files:
                form = aiohttp.FormData()
                for name, value in request_data.json_parameters.items():
                    form.add_field(name, value)
                for name, upload in request_data.multipart_data.items():
                    filename, content, *rest = upload
                    form.add_field(
                        name,
                        content,
                        filename=filename,
                        content_type=rest[0] if rest else "application/octet-stream",
                    )
                data = form
            else:
                data = request_data.json_payload
                headers = {"Content-Type": "application/json"}
        try:
            async with self._session.request(
                method, url, data=data, headers=headers, timeout=timeout, allow_redirects=False
            ) as response:
                return response.status, await response.read()
        except aiohttp.ConnectionTimeoutError as exc:
            raise TimedOut from exc  # no connection in time: the request never left
        except TimeoutError as exc:
            raise ReadTimedOut from exc  # sent, no answer in time: it may have been carried out
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {exc}") from exc


class ObservedRequest(BaseRequest):
    """Delegates to ``inner``; paces replies per chat (``pacing``), tells ``observer`` about
    every call (if one is set) and ``watch`` about every 429."""

    def __init__(
        self,
        inner: BaseRequest,
        *,
        pacing: ReplyPacing | None = None,
        watch: RateLimitWatch | None = None,
    ) -> None:
        self.inner = inner
        self.observer: Observer | None = None
        self.pacing = pacing
        self.watch = watch

    @property
    def read_timeout(self) -> float | None:
        return self.inner.read_timeout

    async def initialize(self) -> None:
        await self.inner.initialize()

    async def shutdown(self) -> None:
        await self.inner.shutdown()

    async def do_request(  # noqa: PLR0917 - PTB's signature
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Timeout = BaseRequest.DEFAULT_NONE,
        write_timeout: Timeout = BaseRequest.DEFAULT_NONE,
        connect_timeout: Timeout = BaseRequest.DEFAULT_NONE,
        pool_timeout: Timeout = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        api_method = url.rsplit("/", 1)[-1]
        parameters = request_data.parameters if request_data is not None else {}
        chat_id = _integer(parameters.get("chat_id"))
        if self.pacing is not None:  # may wait, or raise ReplyDropped
            await self.pacing.turn(api_method, chat_id, _integer(parameters.get("message_id")))
        status, payload = await self.inner.do_request(
            url,
            method,
            request_data,
            read_timeout=read_timeout,
            write_timeout=write_timeout,
            connect_timeout=connect_timeout,
            pool_timeout=pool_timeout,
        )
        retry_after: float | None = None
        across_chats = False
        if status == 429:
            retry_after = _retry_after(payload)
            if self.pacing is not None and chat_id is not None and retry_after:
                self.pacing.rate_limited(chat_id, retry_after)
            if self.watch is not None:
                across_chats = self.watch.saw(api_method, chat_id, retry_after)
        observer = self.observer
        if observer is not None:
            # An observer must never break a patient's reply.
            with contextlib.suppress(Exception):
                observer(api_method, chat_id, status, retry_after, across_chats)
        return status, payload


def _integer(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _retry_after(payload: bytes) -> float | None:
    try:
        value = json.loads(payload)["parameters"]["retry_after"]
    except (ValueError, KeyError, TypeError):
        return None
    return float(value) if isinstance(value, int | float) else None
