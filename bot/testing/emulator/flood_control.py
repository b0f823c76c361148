"""Telegram's flood limits for sending messages, as token buckets that answer "retry after".

About 30 messages a second across all chats, one a second in a private chat (short bursts
tolerated), and up to 1000 a second for paid broadcasts. A request over a limit is refused with
429 and ``retry_after`` (see :func:`bot.testing.emulator.error_answers.too_many_requests`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

__all__ = ["LIMITED_METHODS", "FloodControl", "RateLimits", "TokenBucket"]

#: The methods flood control applies to: those that create a message.
LIMITED_METHODS = frozenset({"sendMessage"})


@dataclass
class RateLimits:
    """Telegram's flood limits for message-creating methods, as token buckets.

    About 30 messages per second across all chats (bursts up to one second's worth), one message
    per second in a private chat with short bursts of ``per_chat_burst`` tolerated, and up to
    ``paid_per_second`` for requests with ``allow_paid_broadcast=True``, which skip the global
    bucket (but not the per-chat one).
    """

    global_per_second: float = 30.0
    per_chat_per_second: float = 1.0
    per_chat_burst: int = 3
    paid_per_second: float = 1000.0


class TokenBucket:
    """``rate`` tokens a second, at most ``capacity`` (at least one) saved up."""

    def __init__(self, rate: float, capacity: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, capacity)
        self.tokens = self.capacity
        self.stamp = time.perf_counter()

    def wait_time(self, now: float) -> float:
        """Seconds until a token is there (0: one is there now)."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self) -> None:
        self.tokens -= 1


class FloodControl:
    """The buckets for one set of :class:`RateLimits`; no limits at all when they are None."""

    def __init__(self, limits: RateLimits | None) -> None:
        self.limits = limits

    @property
    def limits(self) -> RateLimits | None:
        return self._limits

    @limits.setter
    def limits(self, limits: RateLimits | None) -> None:
        """New limits start with full buckets."""
        self._limits = limits
        self._chat_buckets: dict[int, TokenBucket] = {}
        self.global_bucket: TokenBucket | None = None
        self.paid_bucket: TokenBucket | None = None
        if limits is not None:
            self.global_bucket = TokenBucket(limits.global_per_second, limits.global_per_second)
            self.paid_bucket = TokenBucket(limits.paid_per_second, limits.paid_per_second)

    def retry_after(self, chat_id: int | None, *, paid: bool) -> int:
        """Seconds to wait (0 when the message may go now); takes the tokens when it may."""
        limits = self._limits
        if limits is None or self.global_bucket is None or self.paid_bucket is None:
            return 0
        now = time.perf_counter()
        buckets = [self.paid_bucket if paid else self.global_bucket]
        if chat_id is not None:
            bucket = self._chat_buckets.get(chat_id)
            if bucket is None:
                bucket = TokenBucket(limits.per_chat_per_second, limits.per_chat_burst)
                self._chat_buckets[chat_id] = bucket
            buckets.append(bucket)
        wait = max(b.wait_time(now) for b in buckets)
        if wait > 0:
            return max(1, math.ceil(wait))
        for b in buckets:
            b.take()
        return 0
