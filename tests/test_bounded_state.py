"""Per-user state stays bounded however many users pass through (a million subscribers).

The interactive side keeps per-user state in :class:`~bot.core.cache.BoundedCache` (language,
subscription, flood admission, reply pacing, the engine's per-chat spacing, slow-down notes)
and in :class:`~bot.core.flood.FairQueue`, which keeps a queue only while a user has updates
waiting. Here many distinct users go through each and the sizes are checked.
"""

from __future__ import annotations

from bot.core.cache import BoundedCache
from bot.core.flood import Entry, FairQueue, KeyedRate

USERS = 20_000


def test_bounded_cache_keeps_at_most_maxsize() -> None:
    cache: BoundedCache[int, bool] = BoundedCache(maxsize=100, ttl=60.0)
    for user_id in range(USERS):
        cache.set(user_id, True)
    assert len(cache) == 100
    assert cache.get(USERS - 1) is True and cache.get(0) is None


def test_keyed_rate_forgets_the_least_recent_users() -> None:
    rate: KeyedRate[int] = KeyedRate(3.0, 5, maxsize=500)
    for user_id in range(USERS):
        assert rate.try_take(user_id)
    assert len(rate._tat) == 500


def test_fair_queue_keeps_nothing_for_users_with_nothing_waiting() -> None:
    queue: FairQueue[int, str] = FairQueue(max_in_flight=64, max_waiting=1000, max_per_key=8)
    for user_id in range(USERS):
        queue.offer(Entry(f"update {user_id}", user_id, arrived=0.0))
        entry, _shed, _wait = queue.take(0.0)
        assert entry is not None
        queue.done(entry.key)
    assert (queue.waiting, queue.in_flight) == (0, 0)
    assert not queue._queues and not queue._ready and not queue._in_ready and not queue._busy
