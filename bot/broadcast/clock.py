"""The delivery engine's clock: every wait and every timestamp of a broadcast goes through it.

Three primitives: ``monotonic()`` (seconds, for pacing and intervals), ``now()`` (aware UTC, for
``send_at``, ``retry_at`` and the stored times) and ``await sleep(seconds)``. Production uses
:class:`SystemClock`; tests pass a clock of their own (``tests/clocks.py``) whose time runs
faster or jumps, so that backoff, scheduled sends and pauses take no wall-clock seconds.

Timeouts of real I/O (an HTTP request's, the engine's bound on its own shutdown) stay on the
wall clock: a fake clock cannot make a socket answer sooner.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds from an arbitrary origin; never goes back."""

    def now(self) -> datetime:
        """The current time, aware, in UTC."""

    async def sleep(self, seconds: float) -> None:
        """Return once ``seconds`` have passed on this clock."""


class SystemClock:
    """The wall clock: :func:`time.monotonic`, ``datetime.now(UTC)``, :func:`asyncio.sleep`."""

    monotonic = staticmethod(time.monotonic)  # no Python frame: the Pacer asks often

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


async def wait_event(clock: Clock, event: asyncio.Event, seconds: float) -> bool:
    """Wait until ``event`` is set or ``seconds`` have passed on ``clock``; True if it is set."""
    if event.is_set():
        return True
    if isinstance(clock, SystemClock):  # the common case, without a second task
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), max(0.0, seconds))
        return event.is_set()
    waiter = asyncio.ensure_future(event.wait())
    sleeper = asyncio.ensure_future(clock.sleep(seconds))
    try:
        await asyncio.wait((waiter, sleeper), return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        sleeper.cancel()
    return event.is_set()
