"""Clocks for tests of the delivery engine (see ``bot/broadcast/clock.py`` for the interface).

- :class:`SteppedClock`: time stands still until someone sleeps, and ``sleep(s)`` returns at
  once with the clock ``s`` later. Exact and instant, for code that sleeps in one task at a
  time (the Pacer, per-chat spacing).
- :class:`FastClock`: time runs ``speed`` times as fast as the wall clock, and ``advance(s)``
  jumps ahead (sleepers whose time has come wake up). For the whole engine against the
  emulator: its tasks sleep concurrently and do real I/O, so virtual time has to keep flowing
  and keep the order of their wake-ups.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime, timedelta

EPOCH = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


class SteppedClock:
    def __init__(self, start: datetime = EPOCH, monotonic: float = 1000.0) -> None:
        self._start = start
        self._origin = monotonic
        self._now = monotonic
        self.sleeps: list[float] = []  # every sleep asked for, in order

    def monotonic(self) -> float:
        return self._now

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._now - self._origin)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self._now += max(0.0, seconds)
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        self._now += seconds


class FastClock:
    def __init__(self, speed: float = 10.0, start: datetime | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._start = start or datetime.now(UTC)
        self._real_origin = time.monotonic()
        self._skipped = 0.0  # seconds added by advance()
        self._jumped = asyncio.Event()

    def monotonic(self) -> float:
        return (time.monotonic() - self._real_origin) * self.speed + self._skipped

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self.monotonic())

    async def sleep(self, seconds: float) -> None:
        deadline = self.monotonic() + seconds
        await asyncio.sleep(0)
        while (left := deadline - self.monotonic()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._jumped.wait(), left / self.speed)

    def advance(self, seconds: float) -> None:
        """Jump ``seconds`` ahead; whoever sleeps past the new time wakes up."""
        self._skipped += seconds
        jumped, self._jumped = self._jumped, asyncio.Event()
        jumped.set()
