"""The broadcast lease, its epoch fencing, atomic claims and shared interactive rates, at the
storage level (SQLite and PostgreSQL), then two engines on one PostgreSQL database.

Times are passed explicitly (``now=``), so expiry is tested without waiting.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot.broadcast import BroadcastDraft, queue_broadcast
from bot.broadcast.pacing import Pacer
from bot.storage import BROADCAST_LEASE, Outcome, Storage, open_storage
from bot.testing import BotAPIEmulator, RateLimits
from tests.clocks import SteppedClock
from tests.test_broadcast import TEXTS, make_engine, subscribe_users, until, wait_status

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
TTL = 6.0


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def queued(storage: Storage, recipients: range) -> int:
    for uid in recipients:
        await storage.subscribe(uid, locale="en")
    return await queue_broadcast(storage, BroadcastDraft(TEXTS), created_by=None)


async def test_one_holder_at_a_time_and_each_takeover_a_new_epoch(storage: Storage) -> None:
    lease = BROADCAST_LEASE
    assert await storage.acquire_lease(lease, "a", TTL, now=at(0)) == 1
    assert await storage.acquire_lease(lease, "b", TTL, now=at(1)) is None  # a holds it
    assert await storage.acquire_lease(lease, "a", TTL, now=at(2)) == 1  # renewed
    assert await storage.acquire_lease(lease, "b", TTL, now=at(7)) is None  # till 8
    assert await storage.acquire_lease(lease, "b", TTL, now=at(8.5)) == 2  # a stopped renewing
    assert await storage.acquire_lease(lease, "a", TTL, now=at(9)) is None  # a is out
    # A clean stop releases it: the next to try takes it at once.
    assert not await storage.release_lease(lease, "a", 1, now=at(9))  # not a's to release
    assert await storage.release_lease(lease, "b", 2, now=at(10))
    assert await storage.acquire_lease(lease, "a", TTL, now=at(10)) == 3
    # The polling lease is another row.
    assert await storage.acquire_lease("polling", "b", TTL, now=at(10)) == 1
    row = await storage.lease(lease)
    assert row is not None and (row.holder, row.epoch, row.expires_at) == ("a", 3, at(16))


async def test_the_epoch_fences_an_old_holder_out_of_every_write(storage: Storage) -> None:
    broadcast_id = await queued(storage, range(1, 11))
    assert await storage.acquire_lease(BROADCAST_LEASE, "a", TTL, now=at(0)) == 1
    old = await storage.claim_recipients(broadcast_id, 3, epoch=1, now=at(0))
    assert [r.user_id for r in old.recipients] == [1, 2, 3]
    # a froze; b took over and recovered a's rows (counted: they may have been sent).
    assert await storage.acquire_lease(BROADCAST_LEASE, "b", TTL, now=at(9)) == 2
    assert await storage.recover_in_flight(1) == {}  # a may not recover any more
    assert await storage.recover_in_flight(2) == {broadcast_id: 3}
    new = await storage.claim_recipients(broadcast_id, 2, epoch=2, now=at(9))
    assert [r.user_id for r in new.recipients] == [1, 2]
    # a wakes up: its claim is refused, its results and releases change nothing of b's.
    late = await storage.claim_recipients(broadcast_id, 3, epoch=1, now=at(9))
    assert late.fenced and late.recipients == []
    await storage.record_outcomes(broadcast_id, [Outcome(1, "sent", 1, message_id=77)], epoch=1)
    await storage.release_recipients(broadcast_id, [2], epoch=1)
    assert await storage.release_unheld(broadcast_id, [], epoch=1) == 0
    states = await storage.recipient_states(broadcast_id)
    assert states[1] == ("sending", None) and states[2] == ("sending", None)
    assert states[3] == ("pending", None)
    # b's own writes go through.
    await storage.record_outcomes(broadcast_id, [Outcome(1, "sent", 1, message_id=78)], epoch=2)
    assert (await storage.recipient_states(broadcast_id))[1] == ("sent", 78)
    summary = await storage.broadcast_summary(broadcast_id)
    assert summary is not None and summary.resent_after_crash == 3


async def test_recovery_leaves_the_live_holders_rows_alone(storage: Storage) -> None:
    broadcast_id = await queued(storage, range(1, 11))
    await storage.claim_recipients(broadcast_id, 2)  # before the lease existed: no epoch
    assert await storage.acquire_lease(BROADCAST_LEASE, "a", TTL, now=at(0)) == 1
    await storage.claim_recipients(broadcast_id, 3, epoch=1)  # 3, 4, 5: a's, in flight
    # a renews and looks again (as after a lease that lapsed while the database was away):
    # only the rows of the holder before the lease go back.
    assert await storage.recover_in_flight(1) == {broadcast_id: 2}
    assert await storage.recover_in_flight(1) == {}
    states = await storage.recipient_states(broadcast_id)
    assert [uid for uid, (state, _) in sorted(states.items()) if state == "sending"] == [3, 4, 5]


async def test_replicas_share_their_interactive_rates(storage: Storage) -> None:
    await storage.replica_beat("a", 4.0, now=at(0))
    await storage.replica_beat("b", 6.5, now=at(0))
    await storage.replica_beat("c", 9.0, now=at(-10))  # gone: not seen for 10 s
    assert await storage.others_interactive_rate("a", now=at(1)) == pytest.approx(6.5)
    assert await storage.others_interactive_rate("b", now=at(1)) == pytest.approx(4.0)
    await storage.replica_beat("b", 1.0, now=at(1))
    assert await storage.others_interactive_rate("a", now=at(2)) == pytest.approx(1.0)
    await storage.forget_replica("b")
    await storage.forget_replica(None, older_than=at(-5))  # c
    assert await storage.others_interactive_rate("x", now=at(2)) == pytest.approx(4.0)
    assert await storage.others_interactive_rate("x", now=at(-8)) == pytest.approx(4.0)


async def test_the_pacer_leaves_the_other_replicas_their_share() -> None:
    clock = SteppedClock(monotonic=0.0)
    pacer = Pacer(30.0, clock=clock)
    pacer.reserve(10.0)  # the other replicas send 10/s of the bot's 30
    for _ in range(41):
        assert await pacer.acquire(max_wait=10)
    assert clock.monotonic() == pytest.approx(2.0)  # 20/s
    pacer.reserve(100.0)  # never below a tenth
    assert pacer.interval == pytest.approx(1 / 3)


# -- PostgreSQL: concurrent claims, two engines --------------------------------------------------


async def test_concurrent_claims_never_pick_the_same_row(postgres_url: str) -> None:
    """Without the lease (epoch None) several claimers race: SKIP LOCKED keeps them apart."""
    async with (
        await open_storage(postgres_url) as first,
        await open_storage(postgres_url) as second,
    ):
        broadcast_id = await queued(first, range(1, 301))
        claimed: list[int] = []

        async def claimer(storage: Storage) -> None:
            while claim := (await storage.claim_recipients(broadcast_id, 7)).recipients:
                claimed.extend(r.user_id for r in claim)

        await asyncio.gather(*(claimer(s) for s in (first, second) * 3))
        assert sorted(claimed) == list(range(1, 301))  # every row once, none twice


async def test_two_engines_one_delivers_and_the_other_takes_over_at_a_clean_stop(
    postgres_url: str,
) -> None:
    recipients = range(1, 121)
    async with (
        await open_storage(postgres_url) as storage,
        BotAPIEmulator(rate_limits=RateLimits(global_per_second=60)) as emu,
    ):
        await subscribe_users(storage, emu, recipients)
        engines = [make_engine(storage, emu, rate=60) for _ in range(2)]
        for engine in engines:
            await engine.start()
        try:
            assert [e.lease.held for e in engines] == [True, False]
            broadcast_id = await queue_broadcast(storage, BroadcastDraft(TEXTS), created_by=None)
            await until(lambda: emu.stats.messages_sent >= 40)
            await engines[0].stop()  # releases: the other takes over at its next try
            await wait_status(storage, broadcast_id, "done")
            assert engines[1].lease.held
            assert engines[1].stats.sent > 0
        finally:
            for engine in engines:
                await engine.stop()
        counts = [len(emu.bot_messages(uid)) for uid in recipients]
        assert counts == [1] * len(recipients)  # a clean stop: nobody twice, nobody left out
        assert emu.stats.too_many_requests == 0
        row = await storage.lease(BROADCAST_LEASE)
        assert row is not None and row.epoch == 2
