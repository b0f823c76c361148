"""HTTP transports for python-telegram-bot: an aiohttp one, and an observing wrapper.

Why aiohttp for broadcasts: PTB's default transport (httpx + httpcore) spends most of a send's
CPU time in its own machinery: per-request ``Timeout``/``Request`` objects, the connection
pool's locks and state machine (h11), and header handling; on these 2-core machines it tops
out near 450-600 sendMessage/s, below the 1000/s of paid broadcasts, and gets slower with more
concurrency. aiohttp's client (C-accelerated HTTP parser, a simple keep-alive connector) does
the same request in a fraction of that. PTB accepts any :class:`telegram.request.BaseRequest`,
so the broadcast engine's Bot uses :class:`AiohttpRequest`; PTB's error mapping, retries and
types stay as they are. ``benchmarks/broadcast.py`` prints both ceilings side by side.

:class:`ObservedRequest` wraps any BaseRequest and reports each call (method name, chat id, HTTP
status, ``retry_after``) to an observer: the interactive bot's messages are counted against
the broadcast engine's pace, so patients' replies keep priority over bulk sends.
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

#: (method name, chat id or None, HTTP status, retry_after seconds or None)
Observer = Callable[[str, int | None, int, float | None], None]

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
    """Delegates to ``inner`` and tells ``observer`` about every call (if one is set)."""

    def __init__(self, inner: BaseRequest) -> None:
        self.inner = inner
        self.observer: Observer | None = None

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
        status, payload = await self.inner.do_request(
            url,
            method,
            request_data,
            read_timeout=read_timeout,
            write_timeout=write_timeout,
            connect_timeout=connect_timeout,
            pool_timeout=pool_timeout,
        )
        observer = self.observer
        if observer is not None:
            api_method = url.rsplit("/", 1)[-1]
            chat_id: int | None = None
            if request_data is not None:
                raw = request_data.parameters.get("chat_id")
                chat_id = raw if isinstance(raw, int) else None
            retry_after: float | None = None
            if status == 429:
                retry_after = _retry_after(payload)
            # An observer must never break a patient's reply.
            with contextlib.suppress(Exception):
                observer(api_method, chat_id, status, retry_after)
        return status, payload


def _retry_after(payload: bytes) -> float | None:
    try:
        value = json.loads(payload)["parameters"]["retry_after"]
    except (ValueError, KeyError, TypeError):
        return None
    return float(value) if isinstance(value, int | float) else None
