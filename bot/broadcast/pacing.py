"""Steady pacing for bulk sends, shared with interactive traffic.

Why not aiolimiter (or PTB's AIORateLimiter): a broadcast needs three things they do not give
together: (1) an *even* pace, one send every 1/rate seconds with no burst at the start
(aiolimiter's leaky bucket lets a full period's worth through at once, which together with
interactive replies is what draws a 429); (2) interactive replies must be able to take a slot
*without waiting* and push the bulk sends back, so patients' menus keep priority; (3) a 429
must pause the bulk sends for the ``retry_after`` Telegram names. That is a few lines on top
of a schedule of slots.

Time and waits come from a :class:`~bot.broadcast.clock.Clock` (the wall clock by default).
"""

from __future__ import annotations

from bot.broadcast.clock import Clock, SystemClock


class Pacer:
    """Hands out send slots ``1/rate`` seconds apart, first come first served."""

    def __init__(self, rate: float, *, clock: Clock | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.interval = 1.0 / rate
        self.clock: Clock = clock or SystemClock()
        self._next = 0.0  # the earliest time of the next slot
        self._paused_until = 0.0
        self.interactive_slots = 0
        self.pauses = 0
        self.reserved = 0.0

    def reserve(self, rate: float) -> None:
        """Others (the other replicas' interactive bots) send ``rate`` messages a second out of
        the same budget: bulk slots come at what is left, never below a tenth of ``rate``."""
        self.reserved = max(0.0, rate)
        self.interval = 1.0 / max(self.rate * 0.1, self.rate - self.reserved)

    def pause(self, seconds: float) -> None:
        """Telegram answered 429: no bulk slot before ``seconds`` from now."""
        self.pauses += 1
        self._paused_until = max(self._paused_until, self.clock.monotonic() + seconds)

    @property
    def paused_for(self) -> float:
        return max(0.0, self._paused_until - self.clock.monotonic())

    def take_now(self) -> None:
        """An interactive message went out: it used a slot, the bulk sends move back by one."""
        self.interactive_slots += 1
        self._next = max(self._next, self.clock.monotonic()) + self.interval

    async def acquire(self, *, max_wait: float = 0.25) -> bool:
        """Wait for a slot; True when it is taken. Waits at most ``max_wait`` (then False,
        without a slot), so the caller can check for cancellation while paused."""
        deadline = self.clock.monotonic() + max_wait
        while True:
            now = self.clock.monotonic()
            slot = max(now, self._next, self._paused_until)
            if slot > deadline:
                await self.clock.sleep(max(0.0, deadline - now))
                return False
            self._next = slot + self.interval
            if slot > now:
                await self.clock.sleep(slot - now)
            if self.clock.monotonic() >= self._paused_until:
                return True
            # A 429 arrived while we slept: the slot is void, take one after the pause.
