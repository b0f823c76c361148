"""A job that runs one step every so often while `run` runs, and stops cleanly."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable


class Periodic:
    """``start()`` … ``await stop()``: ``step()`` after ``first_delay``, then every ``interval``
    seconds. A step's own errors are the step's business: it must not raise."""

    def __init__(
        self,
        name: str,
        step: Callable[[], Awaitable[object]],
        *,
        interval: float,
        first_delay: float | None = None,
    ) -> None:
        self.name = name
        self.step = step
        self.interval = interval
        self.first_delay = interval if first_delay is None else first_delay
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self) -> None:
        await asyncio.sleep(self.first_delay)
        while True:
            await self.step()
            await asyncio.sleep(self.interval)
