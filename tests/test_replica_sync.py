"""Caches kept coherent across replicas: `Coherence` (pure) and `ReplicaSync` on PostgreSQL.

Two storages on one schema stand for two replicas: what one writes, the other's listener hears
(triggers send NOTIFY in the writing transaction) and drops from its caches. Losing the
listening connection (pg_terminate_backend) makes the caches untrusted until it is back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest
from sqlalchemy import text

from bot.broadcast import BroadcastDraft, queue_broadcast
from bot.broadcast.lease import LeaseKeeper
from bot.core.cache import BoundedCache
from bot.core.coherence import Coherence
from bot.storage import BROADCAST_LEASE, Storage, open_storage
from bot.storage.notifications import USERS_CHANNEL, listen, notify
from bot.telegram_side.replica_sync import ReplicaSync
from bot.telegram_side.user_caches import SubscriberCache, UserTracker
from tests.db_fixtures import drop_schema, fresh_schema_name, postgres_base_url, with_schema


def test_a_change_drops_the_user_and_spoils_reads_in_flight() -> None:
    coherence = Coherence(shared=True)
    cache: BoundedCache[int, str] = BoundedCache(maxsize=10, ttl=60)
    coherence.track(cache)
    assert not coherence.trusted  # until the listener listens
    coherence.trust()
    cache.set(1, "en")
    cache.set(2, "en")
    ticket = coherence.ticket()
    coherence.changed(1)
    assert (cache.get(1), cache.get(2)) == (None, "en")
    assert not coherence.fresh(ticket, 1)  # a read of user 1 that started before: stale
    assert coherence.fresh(ticket, 2)
    assert coherence.fresh(coherence.ticket(), 1)
    coherence.distrust()
    assert cache.get(2) == "en"  # kept, only as the answer while the database is away
    coherence.trust()
    assert len(cache) == 0 and not coherence.fresh(ticket, 2)


def test_reads_older_than_the_remembered_changes_are_not_cached() -> None:
    coherence = Coherence(shared=True, recent=3)
    ticket = coherence.ticket()
    for user_id in (5, 6, 7):
        coherence.changed(user_id)
    assert coherence.fresh(ticket, 8)
    coherence.changed(9)  # the change right after the ticket is forgotten now
    assert not coherence.fresh(ticket, 8)


async def until(condition: Callable[[], bool], within: float = 10.0) -> None:
    """Wait for ``condition`` (a notification to arrive, a connection to come back)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        assert loop.time() < deadline, "condition not met"
        await asyncio.sleep(0.01)


async def test_every_write_path_notifies_and_touching_does_not(postgres_url: str) -> None:
    heard: list[str] = []
    async with await open_storage(postgres_url) as storage:
        listening = await listen(storage, {USERS_CHANNEL: heard.append}, lambda: None, within=5)
        try:
            await storage.touch_user(1)
            await storage.touch_user(1)  # last_seen only: nothing to tell
            await storage.set_locale(1, "en")  # the same or a new user: not cached yet
            await storage.set_locale(1, "zh_Hans")
            await storage.set_locale(1, "zh_Hans")  # unchanged: nothing
            await storage.subscribe(1, locale="zh_Hans")
            await storage.unsubscribe(1)
            await storage.erase_user(1)
            await storage.touch_user(2)
            await storage.purge_inactive(0)  # the retention job's erasure
            await _another_deployment_writes(user_id=3)  # same database, another schema
            await until(lambda: len(heard) >= 6)
            await asyncio.sleep(0.2)  # anything sent in error would have come by now
        finally:
            await listening.close()
    # set_locale(en) of the row touch made changes NULL -> en: heard too.
    assert heard == ["1", "1", "1", "1", "1", "2"], heard


async def test_a_change_through_one_replica_reaches_the_others_caches(
    postgres_url: str,
) -> None:
    async with (
        await open_storage(postgres_url) as here,
        await open_storage(postgres_url) as there,
    ):
        coherence = Coherence(shared=True)
        users = UserTracker(here, coherence=coherence)
        subscribers = SubscriberCache(here, coherence=coherence)
        sync = ReplicaSync(here, coherence)
        sync.start()
        other = ReplicaSync(there, Coherence(shared=True))
        try:
            await until(lambda: coherence.trusted)
            assert await sync.peers() == 0  # itself only
            other.start()
            await until(lambda: other.coherence.trusted)
            assert await sync.peers() == 1
            assert (await users.saved_locale(7), await subscribers.is_subscribed(7)) == (
                None,
                False,
            )
            ticket = coherence.ticket()
            await there.set_locale(7, "zh_Hans")
            await there.subscribe(7, locale="zh_Hans")
            await until(lambda: coherence.ticket() >= ticket + 2)
            assert await users.saved_locale(7) == "zh_Hans"
            assert await subscribers.is_subscribed(7)
            ticket = coherence.ticket()
            await there.erase_user(7)
            await until(lambda: coherence.ticket() > ticket)
            assert (await users.saved_locale(7), await subscribers.is_subscribed(7)) == (
                None,
                False,
            )
        finally:
            await sync.stop()
            await other.stop()


async def test_a_lost_listener_bypasses_the_caches_until_it_is_back(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Over 60 lines: the whole outage, from the loss to the resync, in order."""
    caplog.set_level(logging.INFO, logger="bot.telegram_side.replica_sync")
    async with (
        await open_storage(postgres_url) as here,
        await open_storage(postgres_url) as there,
    ):
        coherence = Coherence(shared=True)
        users = UserTracker(here, coherence=coherence)
        sync = ReplicaSync(here, coherence, ping_interval=0.5, backoff=(0.2, 1.0))
        resyncs: list[str] = []

        async def reload(request: str) -> None:
            resyncs.append(request)

        sync.on_reload = reload
        sync.start()
        try:
            await until(lambda: coherence.trusted)
            await there.set_locale(8, "en")
            await until(lambda: coherence.ticket() > 0)
            assert await users.saved_locale(8) == "en"  # now cached
            listening = sync.listening
            assert listening is not None
            killed = await _terminate(there, listening.server_pid)
            assert killed
            await until(lambda: not coherence.trusted)
            # No listener: a change it cannot hear is still seen, by reading the database.
            await there.set_locale(8, "zh_Hans")
            assert await users.saved_locale(8) == "zh_Hans"
            await there.set_locale(8, "en")
            assert await users.saved_locale(8) == "en"
            # Back (with backoff): trusted again, everything cached dropped, content resynced.
            await until(lambda: sync.connects == 2 and coherence.trusted)
            await until(lambda: resyncs == [""])
            assert await users.saved_locale(8) == "en"
            ticket = coherence.ticket()
            await there.set_locale(8, "zh_Hans")
            await until(lambda: coherence.ticket() > ticket)
            assert await users.saved_locale(8) == "zh_Hans"
        finally:
            await sync.stop()
    lines = [r.getMessage() for r in caplog.records if "replica_sync_" in r.getMessage()]
    lines = [line for line in lines if "replica_sync_listening" not in line]
    assert lines[0] == "event=replica_sync_unavailable error=connection_lost", lines
    assert lines[1].startswith("event=replica_sync_available after_s="), lines
    assert len(lines) == 2, lines


async def _another_deployment_writes(user_id: int) -> None:
    base = postgres_base_url()
    assert base is not None
    schema = fresh_schema_name()
    try:
        async with await open_storage(with_schema(base, schema)) as other:
            await other.set_locale(user_id, "en")
            await other.subscribe(user_id, locale="en")
            await notify(other, USERS_CHANNEL, str(user_id))
    finally:
        await drop_schema(base, schema)


async def _terminate(storage: Storage, pid: int) -> bool:
    async with storage.engine.connect() as conn:
        result = await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        return bool(result.scalar_one())


async def test_a_lease_given_up_at_a_clean_stop_is_taken_over_at_once(postgres_url: str) -> None:
    """The standby retries only every minute here: only the holder's NOTIFY, heard through the
    standby's ReplicaSync, can explain a takeover within seconds."""
    async with (
        await open_storage(postgres_url) as here,
        await open_storage(postgres_url) as there,
    ):
        holder = LeaseKeeper(there, BROADCAST_LEASE, holder="holder", retry_interval=60)
        standby = LeaseKeeper(here, BROADCAST_LEASE, holder="standby", retry_interval=60)
        other = LeaseKeeper(here, "polling", holder="standby", retry_interval=60)
        sync = ReplicaSync(here, Coherence(shared=True))
        sync.lease_listeners += [standby.released_elsewhere, other.released_elsewhere]
        sync.start()
        try:
            await until(lambda: sync.coherence.trusted)
            await holder.start()
            await standby.start()
            assert holder.held and not standby.held
            await holder.stop()
            await until(lambda: standby.held, within=5.0)
            assert standby.epoch == 2
            assert other._nudged.is_set() is False  # another lease's news: not its business
        finally:
            for keeper in (holder, standby, other):
                await keeper.stop()
            await sync.stop()


async def test_a_broadcast_queued_anywhere_wakes_every_replicas_engine(postgres_url: str) -> None:
    async with (
        await open_storage(postgres_url) as here,
        await open_storage(postgres_url) as there,
    ):
        woken: list[int] = []
        sync = ReplicaSync(here, Coherence(shared=True))
        sync.broadcast_listeners.append(lambda: woken.append(1))
        sync.start()
        try:
            await until(lambda: sync.coherence.trusted)
            await there.subscribe(1, locale="en")
            # The CLI's way (queue_broadcast) on another process's connection.
            await queue_broadcast(there, BroadcastDraft({"en": "News"}), created_by=None)
            await until(lambda: len(woken) == 1)
            await asyncio.sleep(0.2)  # once per broadcast, not once per recipient
            assert woken == [1]
        finally:
            await sync.stop()
