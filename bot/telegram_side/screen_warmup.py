"""Screens rendered before patients ask for them, at start and after each reload.

The renderer caches every screen, but renders it on first use: 3-50 ms of HTML parsing, the
glossary and Babel's locale data, on the event loop, so every update in flight waits behind
the first press of each page after a start or a reload (at 150 presses/s the first Babel load
alone held the loop for ~0.4 s and set the p99). :class:`ScreenWarmup` renders them all in
the background instead (``Renderer.prepare``), one screen per turn of the event loop, and
again whenever ``runtime.renderer`` is swapped (hot reload). Only `run` does it
(``wiring.serve``); tests render on demand as before.

Once the first content is ready, the objects made while starting (content, search index,
screens, Babel's data, the libraries' modules: ~150,000) are moved out of the garbage
collector's sight (``gc.freeze``): they live as long as the process, and a full collection
walked all of them, ~60-220 ms with the event loop stopped, a few times a minute under load
(``benchmarks/interactive.py``). Objects made later, a reload's content included, are
collected as usual.
"""

from __future__ import annotations

import asyncio
import gc
import logging

from bot.core.render import Renderer
from bot.telegram_side.periodic import Periodic
from bot.telegram_side.runtime import Runtime

log = logging.getLogger(__name__)

#: How often to look whether the content was reloaded (a new renderer to prepare).
CHECK_INTERVAL = 1.0


class ScreenWarmup:
    """``start()`` … ``await stop()``: keeps ``runtime.renderer``'s screens rendered."""

    def __init__(self, runtime: Runtime, *, freeze: bool = False) -> None:
        self.runtime = runtime
        self.prepared: Renderer | None = None
        #: Whether to freeze the start-up objects (``gc.freeze``: `run`, once per process).
        self.freeze = freeze
        self.frozen = False
        self._job = Periodic("screen_warmup", self.step, interval=CHECK_INTERVAL, first_delay=0)

    def start(self) -> None:
        self._job.start()

    async def stop(self) -> None:
        await self._job.stop()

    async def step(self) -> None:
        renderer = self.runtime.renderer
        if renderer is self.prepared:
            return
        self.prepared = renderer
        try:
            for _ in renderer.prepare():
                await asyncio.sleep(0)  # let updates run between two screens
                if self.runtime.renderer is not renderer:  # reloaded meanwhile: next step
                    return
        except Exception as exc:  # noqa: BLE001 - a screen that fails fails again on demand
            log.warning("event=screen_warmup_failed error=%s", type(exc).__name__)
        if self.freeze and not self.frozen:
            self.frozen = True
            gc.collect()  # what start-up left as garbage is freed, not kept forever
            gc.freeze()
