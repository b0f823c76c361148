"""The pure part of flood handling: a rate limit per key, and a fair queue of waiting work.

:class:`KeyedRate` is a token bucket per key (a user, a chat) kept as one number per key, the
generic cell rate algorithm: the *theoretical arrival time* (TAT) of the next event. Each event
moves it ``1/rate`` later; an event may happen when the TAT is at most ``(burst - 1)/rate``
ahead of now. No timers, no refill loop; keys live in a :class:`~bot.core.cache.BoundedCache`,
so a million users cost at most ``maxsize`` entries.

:class:`FairQueue` holds what waits to be processed, one queue per key, and hands it out
round-robin: one item per key at a time (a key's next item only after its previous one is
done), keys in the order they became ready. So a user with a backlog gets one turn, then every
other waiting user gets theirs. It is bounded (``max_waiting`` in all, ``max_per_key`` per key)
and sheds what can no longer help: an item whose ``slot`` a newer item of the same key takes
(a screen about to be replaced), an item past its ``expires`` time (a button press Telegram no
longer lets us answer), and, when full, the oldest item of the longest queue.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from bot.core.cache import BoundedCache

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")

Clock = Callable[[], float]

# Sums of 1/rate drift by a few ulps; a difference below this is no difference.
_EPSILON = 1e-9

#: Why an item was not processed: over the user's rate, a flooding user's message, replaced by
#: a newer one, no room left, too old to help, or still waiting when the bot stopped.
DropReason = Literal["rate", "flooding", "superseded", "overflow", "stale", "shutdown"]


@dataclass(frozen=True, slots=True)
class Reservation:
    """A slot taken by :meth:`KeyedRate.reserve`: wait ``wait`` seconds, then go."""

    wait: float
    tat: float  # the key's TAT after this reservation (to give the slot back)


class KeyedRate(Generic[K]):
    """``rate`` events a second per key, bursts of up to ``burst``; see the module docstring.

    ``horizon`` bounds how far ahead a key's TAT may be (and so how long an entry must be kept):
    a :meth:`block` longer than that is cut to it.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        maxsize: int = 50_000,
        horizon: float = 300.0,
        clock: Clock = time.monotonic,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.interval = 1.0 / rate
        self.tolerance = (burst - 1) * self.interval
        self.horizon = horizon
        self._clock = clock
        self._tat: BoundedCache[K, float] = BoundedCache(
            maxsize=maxsize, ttl=horizon + self.tolerance + self.interval, clock=clock
        )

    def _current(self, key: K, now: float) -> float:
        tat = self._tat.get(key)
        return now if tat is None or tat < now else tat

    def try_take(self, key: K) -> bool:
        """Take a token now if there is one (True); else take nothing (False)."""
        now = self._clock()
        tat = self._current(key, now)
        if tat - self.tolerance > now + _EPSILON:
            return False
        self._tat.set(key, tat + self.interval)
        return True

    def reserve(self, key: K, max_wait: float) -> Reservation | None:
        """Take the key's next slot, which may be in the future; None (and nothing taken) when
        it is more than ``max_wait`` seconds away."""
        now = self._clock()
        tat = self._current(key, now)
        wait = tat - self.tolerance - now
        wait = wait if wait > _EPSILON else 0.0
        if wait > max_wait:
            return None
        new = tat + self.interval
        self._tat.set(key, new)
        return Reservation(wait, new)

    def release(self, key: K, reservation: Reservation) -> None:
        """Give back a reserved slot that was not used, if no later one was taken since."""
        if self._tat.get(key) == reservation.tat:
            self._tat.set(key, reservation.tat - self.interval)

    def block(self, key: K, seconds: float) -> None:
        """Nothing for ``key`` during the next ``seconds`` (a 429); then one at a time."""
        now = self._clock()
        until = now + min(max(0.0, seconds), self.horizon) + self.tolerance
        self._tat.set(key, max(self._current(key, now), until))

    def delay(self, key: K) -> float:
        """Seconds until the key's next event may happen (0: now)."""
        now = self._clock()
        wait = self._current(key, now) - self.tolerance - now
        return wait if wait > _EPSILON else 0.0


@dataclass(eq=False, slots=True)
class Entry(Generic[K, T]):
    """One waiting item: what it is, whose it is, and what may make it useless."""

    item: T
    key: K
    arrived: float
    #: What this item would put on the screen (e.g. one message's content); None: nothing
    #: a later item could replace.
    slot: Hashable | None = None
    #: A newer item of the same key with the same ``slot`` makes this one useless.
    replaceable: bool = False
    #: After this time (on the queue's clock) the item is shed instead of handed out.
    expires: float | None = None


Dropped = list[tuple[Entry[K, T], DropReason]]


class FairQueue(Generic[K, T]):
    """Per-key queues served round-robin, one item in flight per key; see the module docstring."""

    def __init__(self, *, max_in_flight: int, max_waiting: int, max_per_key: int) -> None:
        if min(max_in_flight, max_waiting, max_per_key) < 1:
            raise ValueError("the bounds must be at least 1")
        self.max_in_flight = max_in_flight
        self.max_waiting = max_waiting
        self.max_per_key = max_per_key
        self._queues: dict[K, deque[Entry[K, T]]] = {}
        self._ready: deque[K] = deque()  # keys that may have a turn, in order
        self._in_ready: set[K] = set()
        self._busy: set[K] = set()  # keys with an item in flight
        self.waiting = 0

    @property
    def in_flight(self) -> int:
        return len(self._busy)

    def offer(self, entry: Entry[K, T]) -> Dropped[K, T]:
        """Queue ``entry``; returns what was shed to make it useful or to make room."""
        dropped: Dropped[K, T] = []
        queue = self._queues.setdefault(entry.key, deque())
        if entry.slot is not None:
            for old in [e for e in queue if e.replaceable and e.slot == entry.slot]:
                self._remove(queue, old)
                dropped.append((old, "superseded"))
        if len(queue) >= self.max_per_key:
            dropped.append((self._remove(queue, queue[0]), "overflow"))
        if self.waiting >= self.max_waiting:
            victim = self._longest_queue()
            if victim is None:
                if not queue:
                    del self._queues[entry.key]
                dropped.append((entry, "overflow"))
                return dropped
            dropped.append((self._remove(victim, victim[0]), "overflow"))
        queue.append(entry)
        self.waiting += 1
        self._make_ready(entry.key)
        return dropped

    def take(
        self, now: float, delay: Callable[[K], float] | None = None
    ) -> tuple[Entry[K, T] | None, Dropped[K, T], float | None]:
        """The next item in round-robin order (its key is then busy until :meth:`done`), or
        None; the items shed on the way because they expired; and, when nothing could be
        taken because ``delay(key)`` said some keys must wait, the shortest of those waits.

        ``delay`` defers a key without losing its place for long: a user whose chat cannot
        be answered yet keeps their items (a newer screen may still replace one) and is
        asked again at the end of the round.
        """
        shed: Dropped[K, T] = []
        if self.in_flight >= self.max_in_flight:
            return None, shed, None
        soonest: float | None = None
        for _ in range(len(self._ready)):
            key = self._ready.popleft()
            self._in_ready.discard(key)
            queue = self._queues.get(key)
            while queue and queue[0].expires is not None and now >= queue[0].expires:
                shed.append((self._remove(queue, queue[0]), "stale"))
            if not queue:
                self._queues.pop(key, None)
                continue
            wait = delay(key) if delay is not None else 0.0
            if wait > 0:
                self._make_ready(key)
                soonest = wait if soonest is None else min(soonest, wait)
                continue
            entry = queue.popleft()
            self.waiting -= 1
            if not queue:
                del self._queues[key]
            self._busy.add(key)
            return entry, shed, None
        return None, shed, soonest

    def done(self, key: K) -> None:
        """The key's item in flight is finished: its next item may have a turn."""
        self._busy.discard(key)
        if key in self._queues:
            self._make_ready(key)

    def drain(self) -> Entry[K, T] | None:
        """Any waiting item, without making its key busy (to drop what is left at shutdown)."""
        for key, queue in self._queues.items():
            entry = queue.popleft()
            self.waiting -= 1
            if not queue:
                del self._queues[key]
            return entry
        return None

    # -- internals --------------------------------------------------------------------------

    def _make_ready(self, key: K) -> None:
        if key not in self._busy and key not in self._in_ready:
            self._ready.append(key)
            self._in_ready.add(key)

    def _remove(self, queue: deque[Entry[K, T]], entry: Entry[K, T]) -> Entry[K, T]:
        queue.remove(entry)
        self.waiting -= 1
        return entry

    def _longest_queue(self) -> deque[Entry[K, T]] | None:
        """The queue to shed from when full: the longest, if it holds more than one item (when
        every waiting user has one item, a newcomer is the one turned away)."""
        longest = max(self._queues.values(), key=len, default=None)
        return longest if longest is not None and len(longest) > 1 else None
