"""One bounded cache type for per-user data: least recently used out, entries expire.

A bot with a million users must not keep a dict entry for each of them forever: every per-user
cache (saved language, subscription state) is a :class:`BoundedCache` with a size limit and a
time to live.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

Clock = Callable[[], float]


class BoundedCache(Generic[K, V]):
    """At most ``maxsize`` entries, each valid for ``ttl`` seconds after it was set."""

    def __init__(self, *, maxsize: int, ttl: float, clock: Clock = time.monotonic) -> None:
        if maxsize <= 0 or ttl <= 0:
            raise ValueError("maxsize and ttl must be positive")
        self.maxsize = maxsize
        self.ttl = ttl
        self._clock = clock
        self._entries: OrderedDict[K, tuple[V, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        """The value, or None when absent or expired (an expired entry is dropped)."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        value, stored = entry
        if self._clock() - stored >= self.ttl:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def age(self, key: K) -> float | None:
        """Seconds since the entry was set (None when absent)."""
        entry = self._entries.get(key)
        return None if entry is None else self._clock() - entry[1]

    def set(self, key: K, value: V) -> None:
        self._entries[key] = (value, self._clock())
        self._entries.move_to_end(key)
        while len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)

    def pop(self, key: K) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()
