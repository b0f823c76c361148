"""``/healthz``, ``/readyz`` and ``/metrics`` on ``METRICS_PORT``, a port of their own.

Apart from the webhook's port so that the reverse proxy publishes only the webhook: metrics
and health are for the orchestrator, the load balancer's health checks and Prometheus.

- ``/healthz``: 200 while the process runs its event loop (a liveness probe);
- ``/readyz``: 200 when the database answers ``SELECT 1`` within ``DATABASE_CHECK_SECONDS``
  and updates are being received (polling runs, or the webhook is set and its server takes
  updates); else 503, with one line per problem. It turns 503 as soon as SIGTERM arrives, so
  the load balancer stops sending updates here before the server stops;
- ``/metrics``: ``Runtime.metrics`` in Prometheus' text format.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from bot.storage import DATABASE_ERRORS, Storage
from bot.telegram_side.metrics import CONTENT_TYPE
from bot.telegram_side.runtime import Runtime
from bot.telegram_side.webhook_server import listen_failure

__all__ = ["DATABASE_CHECK_SECONDS", "HealthServer", "readiness_problems"]

log = logging.getLogger(__name__)

DATABASE_CHECK_SECONDS = 2.0


async def _ping(storage: Storage) -> None:
    async with storage.engine.connect() as conn:
        await conn.exec_driver_sql("SELECT 1")


async def readiness_problems(runtime: Runtime) -> list[str]:
    """What keeps this process from serving updates; empty when it is ready."""
    problems = []
    source = runtime.update_source
    if source is None or not source.receiving:
        problems.append("updates: not being received (starting or stopping)")
    try:
        await asyncio.wait_for(_ping(runtime.storage), DATABASE_CHECK_SECONDS)
    except TimeoutError:
        runtime.metrics.database_error()
        problems.append(f"database: no answer within {DATABASE_CHECK_SECONDS:g} s")
    except DATABASE_ERRORS as exc:  # counted by the engine's error hook (metrics)
        problems.append(f"database: {type(exc).__name__}")
    return problems


class HealthServer:
    """The health and metrics endpoints of one process, on ``listen``:``port``."""

    def __init__(self, runtime: Runtime, *, listen: str, port: int) -> None:
        self._runtime = runtime
        self._listen = listen
        self._port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, self._listen, self._port, reuse_address=True).start()
        except OSError as exc:
            await self.close()
            raise listen_failure("METRICS_PORT", self._listen, self._port, exc) from None
        log.info("event=metrics_listening address=%s port=%d", self._listen, self._port)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, _request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _readyz(self, _request: web.Request) -> web.Response:
        problems = await readiness_problems(self._runtime)
        if problems:
            return web.Response(status=503, text="".join(f"{p}\n" for p in problems))
        return web.Response(text="ready\n")

    async def _metrics(self, _request: web.Request) -> web.Response:
        return web.Response(
            body=self._runtime.metrics.render(), headers={"Content-Type": CONTENT_TYPE}
        )
