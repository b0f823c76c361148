"""Helpers for the webhook tests: free ports, a receiver that records what is posted to it."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field

from aiohttp import web

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


async def wait_until(condition: object, within: float = 10.0, what: str = "condition") -> None:
    """Poll ``condition()`` (a callable returning bool) every 20 ms until true."""
    assert callable(condition)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"{what}: not within {within:g} s")
        await asyncio.sleep(0.02)
