"""Helpers for the tests (and benchmarks/replicas.py) with several `run` processes: free ports, a
receiver that records posts, a round-robin proxy, the lease holder's pid, the burstiest second.

The proxy stands for the deployment's TLS reverse proxy (deploy/Caddyfile): it passes each
request to the next upstream in turn, and to the one after when an upstream refuses the
connection (Caddy's ``lb_try_duration``); with none left, 502, which Telegram retries. Any other
answer (a stopping replica's 503) goes back as it is, as Caddy does for a POST. Given health
URLs, it also checks them as Caddy's ``health_uri`` does: an upstream is in the rotation only
while its latest check answered 200 (one not checked yet counts as healthy).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import socket
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from bot.storage import BROADCAST_LEASE, Storage

WEBHOOK_URL = "https://bot.example.org/telegram/webhook"
WEBHOOK_PATH = "/telegram/webhook"
SECRET = "s3cret_token-for-tests"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (another process could take it; unlikely in a test)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Receiver:
    """A webhook endpoint that answers ``statuses`` in turn (then 200) and keeps what came."""

    statuses: list[int] = field(default_factory=list)
    posts: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    runner: web.AppRunner | None = None
    port: int = 0

    async def start(self, path: str = WEBHOOK_PATH) -> str:
        app = web.Application()
        app.router.add_post(path, self._handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        self.port = free_port()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        self.posts.append((dict(request.headers), await request.read()))
        return web.Response(status=self.statuses.pop(0) if self.statuses else 200)


class RoundRobinProxy:
    """Forwards every request to the upstreams (``http://127.0.0.1:PORT``) in turn.

    ``health``: upstream → its ``/readyz`` URL, checked every ``health_interval`` seconds.
    """

    def __init__(
        self,
        upstreams: list[str],
        health: dict[str, str] | None = None,
        health_interval: float = 0.5,
    ) -> None:
        self.upstreams = upstreams
        self.forwarded: Counter[str] = Counter()
        #: Upstreams whose latest health check failed (out of the rotation).
        self.unhealthy: set[str] = set()
        self._health = health or {}
        self._health_interval = health_interval
        self._health_task: asyncio.Task[None] | None = None
        self._next = 0
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.port = 0

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self.port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        if self._health:
            self._health_task = asyncio.create_task(self._check_health())

    async def stop(self) -> None:
        if self._health_task is not None:
            self._health_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._health_task
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        for _ in self.upstreams:
            upstream = self.upstreams[self._next % len(self.upstreams)]
            self._next += 1
            if upstream in self.unhealthy:
                continue
            try:
                async with self._session.request(
                    request.method,
                    upstream + request.path_qs,
                    data=body,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=10),
                ) as answer:
                    self.forwarded[upstream] += 1
                    return web.Response(status=answer.status, body=await answer.read())
            except aiohttp.ClientConnectionError:
                continue  # refused (stopped replica): the next one, as Caddy's lb_try_duration
        return web.Response(status=502)

    async def _check_health(self) -> None:
        assert self._session is not None
        while True:
            for upstream, url in self._health.items():
                try:
                    async with self._session.get(
                        url, timeout=aiohttp.ClientTimeout(total=2)
                    ) as answer:
                        healthy = answer.status == 200
                except (aiohttp.ClientError, TimeoutError):
                    healthy = False
                if healthy:
                    self.unhealthy.discard(upstream)
                else:
                    self.unhealthy.add(upstream)
            await asyncio.sleep(self._health_interval)


async def get(url: str) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, timeout=aiohttp.ClientTimeout(total=10)) as answer,
    ):
        return answer.status, await answer.text()


async def post(
    url: str, body: bytes, headers: dict[str, str] | None = None, *, chunked: bool = False
) -> tuple[int, str]:
    """POST ``body`` (``chunked``: without a Content-Length, in 64 KiB pieces)."""

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    data: object = pieces() if chunked else io.BytesIO(body)
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                url, data=data, headers=headers or {}, timeout=aiohttp.ClientTimeout(total=10)
            ) as answer,
        ):
            return answer.status, await answer.text()
    except aiohttp.ClientConnectorError:
        raise
    except aiohttp.ClientOSError:
        if not chunked:
            raise
        return 413, ""  # the server answered 413 and closed before the body was all sent


def samples(metrics_text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Prometheus text → {(sample name, sorted labels): value}."""
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def sample(metrics_text: str, name: str, **labels: str) -> float | None:
    return samples(metrics_text).get((name, tuple(sorted(labels.items()))))


async def wait_until(condition: object, within: float = 10.0, what: str = "condition") -> None:
    """Poll ``condition()`` (a callable returning bool) every 20 ms until true."""
    assert callable(condition)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"{what}: not within {within:g} s")
        await asyncio.sleep(0.02)


async def holder_pid(storage: Storage) -> int | None:
    """The process id of the broadcast lease's holder (``host:pid:random``), None if nobody."""
    row = await storage.lease(BROADCAST_LEASE)
    return None if row is None else int(row.holder.split(":")[1])


def most_in_one_second(times: list[float]) -> int:
    """The most sends whose arrivals (sorted) fall within any one second."""
    most, first = 0, 0
    for last, t in enumerate(times):
        while t - times[first] >= 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most
