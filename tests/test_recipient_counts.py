"""The per-state counts on a broadcast's row agree with its recipient rows, whatever happens.

A random mix of every operation that changes a recipient's state (queueing, claims with
skips, outcomes, retries, releases, crash recovery, unsubscribing, /forget, retention, cancel),
and after each step the counts of every broadcast are compared with a real ``GROUP BY``, on
SQLite and PostgreSQL.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.storage import Outcome, Storage
from bot.storage.broadcasts import RecipientState
from bot.storage.recipient_counts import counts_of, deltas
from bot.storage.tables import RECIPIENT_STATES, broadcast_recipients, broadcasts

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
INTERESTS = ("treatments", "events", "trials")


async def grouped(storage: Storage) -> dict[int, dict[str, int]]:
    """{broadcast: {state: n}} counted from the rows."""
    r = broadcast_recipients
    found: dict[int, dict[str, int]] = {}
    async with storage.engine.connect() as conn:
        ids = (await conn.scalars(select(broadcasts.c.id))).all()
        for broadcast_id in ids:
            found[int(broadcast_id)] = dict.fromkeys(RECIPIENT_STATES, 0)
        result = await conn.execute(
            select(r.c.broadcast_id, r.c.state, func.count()).group_by(r.c.broadcast_id, r.c.state)
        )
        for broadcast_id, state, n in result:
            found[int(broadcast_id)][str(state)] = int(n)
    return found


async def kept(storage: Storage) -> dict[int, dict[str, int]]:
    """{broadcast: {state: n}} as the broadcast rows keep them."""
    async with storage.engine.connect() as conn:
        rows = (await conn.execute(select(broadcasts))).all()
    return {int(row.id): counts_of(row) for row in rows}


async def assert_counts_agree(storage: Storage, step: str) -> None:
    assert await kept(storage) == await grouped(storage), step


class Mix:
    """The random operations, on one storage; ``claimed`` is what a live engine holds."""

    def __init__(self, storage: Storage, rng: random.Random) -> None:
        self.storage = storage
        self.rng = rng
        self.now = T0
        self.claimed: dict[int, set[int]] = {}
        self.next_user = 1

    async def subscribe_some(self) -> None:
        for _ in range(self.rng.randint(1, 8)):
            picked = self.rng.sample(INTERESTS, self.rng.randint(0, 2))
            locale = self.rng.choice(("en", "zh_Hans"))
            await self.storage.subscribe(
                self.next_user, locale=locale, interests=picked, now=self.now
            )
            self.next_user += 1

    async def queue(self) -> None:
        interests = self.rng.choice((None, ["events"], ["treatments", "trials"]))
        locales = self.rng.choice((None, ["en"]))
        broadcast_id = await self.storage.create_broadcast(
            texts={"en": "hi", "zh_Hans": "你好"},
            locales=locales,
            interests=interests,
            send_at=None,
            paid=False,
            created_by=None,
            now=self.now,
        )
        self.claimed[broadcast_id] = set()

    def some_broadcast(self) -> int | None:
        return self.rng.choice(sorted(self.claimed)) if self.claimed else None

    async def claim(self) -> None:
        broadcast_id = self.some_broadcast()
        if broadcast_id is not None:
            claim = await self.storage.claim_recipients(
                broadcast_id, self.rng.randint(1, 6), now=self.now
            )
            self.claimed[broadcast_id].update(r.user_id for r in claim.recipients)

    async def record(self) -> None:
        broadcast_id = self.some_broadcast()
        if broadcast_id is None or not self.claimed[broadcast_id]:
            return
        held = sorted(self.claimed[broadcast_id])
        done = self.rng.sample(held, self.rng.randint(1, len(held)))
        outcomes = [self.outcome(user_id) for user_id in done]
        # Written twice sometimes: an outcome unknown after a lost COMMIT is written again.
        for _ in range(self.rng.choice((1, 1, 2))):
            await self.storage.record_outcomes(broadcast_id, outcomes, now=self.now)
        self.claimed[broadcast_id].difference_update(done)

    def outcome(self, user_id: int) -> Outcome:
        states: tuple[RecipientState, ...] = ("sent", "sent", "blocked", "failed", "in_doubt")
        state = self.rng.choice((*states, "pending"))
        if state == "pending":
            return Outcome(user_id, "pending", 1, retry_at=self.now + timedelta(seconds=1))
        reason = "chat not found" if state == "failed" else None
        message_id = 100 + user_id if state == "sent" else None
        return Outcome(user_id, state, 1, message_id=message_id, reason=reason)

    async def release(self) -> None:
        broadcast_id = self.some_broadcast()
        if broadcast_id is None:
            return
        held = self.claimed[broadcast_id]
        if self.rng.random() < 0.5:
            back = set(self.rng.sample(sorted(held), len(held) // 2))
            await self.storage.release_recipients(broadcast_id, back)
            held.difference_update(back)
        else:  # a claim whose answer was lost: rows nobody holds go back
            forgotten = set(self.rng.sample(sorted(held), len(held) // 2))
            held.difference_update(forgotten)
            await self.storage.release_unheld(broadcast_id, held)

    async def crash(self) -> None:
        await self.storage.recover_in_flight()
        for held in self.claimed.values():
            held.clear()

    async def consent_goes(self) -> None:
        user_id = self.rng.randint(1, max(1, self.next_user - 1))
        choice = self.rng.randint(0, 3)
        if choice == 0:
            await self.storage.unsubscribe(user_id, now=self.now)
        elif choice == 1:
            await self.storage.mark_blocked(user_id, now=self.now)
        elif choice == 2:
            await self.storage.skip_pending_recipients(user_id, now=self.now)
        else:
            await self.storage.erase_user(user_id, now=self.now)

    async def cancel(self) -> None:
        broadcast_id = self.some_broadcast()
        if broadcast_id is not None:
            await self.storage.cancel_broadcast(broadcast_id, now=self.now)

    async def retention(self) -> None:
        await self.storage.purge_inactive(30, now=self.now + timedelta(days=400))


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_counts_match_a_group_by_after_a_random_mix(storage: Storage, seed: int) -> None:
    rng = random.Random(seed)
    mix = Mix(storage, rng)
    await mix.subscribe_some()
    await mix.queue()
    operations = [
        (mix.subscribe_some, 2),
        (mix.queue, 1),
        (mix.claim, 6),
        (mix.record, 5),
        (mix.release, 2),
        (mix.crash, 1),
        (mix.consent_goes, 3),
        (mix.cancel, 1),
    ]
    actions = [op for op, weight in operations for _ in range(weight)]
    for step in range(120):
        action = rng.choice(actions)
        await action()
        mix.now += timedelta(seconds=rng.choice((0, 1, 2)))
        await assert_counts_agree(storage, f"step {step}: {action.__name__}")
    await mix.retention()
    await assert_counts_agree(storage, "retention")
    totals = await kept(storage)
    assert sum(sum(c.values()) for c in totals.values()) > 0, "the mix queued nobody"
    moved = sum(c["sent"] + c["skipped"] + c["failed"] for c in totals.values())
    assert moved > 0, "the mix never finished a recipient"


async def test_summary_reads_the_counts(storage: Storage) -> None:
    for user_id in (1, 2, 3):
        await storage.subscribe(user_id, locale="en", now=T0)
    broadcast_id = await storage.create_broadcast(
        texts={"en": "hi"}, locales=None, interests=None, send_at=None, paid=False, created_by=None
    )
    claim = await storage.claim_recipients(broadcast_id, 2, now=T0)
    assert [r.user_id for r in claim.recipients] == [1, 2]
    await storage.record_outcomes(broadcast_id, [Outcome(1, "sent", 1, message_id=9)], now=T0)
    summary = await storage.broadcast_summary(broadcast_id)
    assert summary is not None
    assert (summary.total, summary.pending, summary.sending, summary.sent) == (3, 1, 1, 1)


def test_deltas_net_out_and_drop_nothing() -> None:
    moves = {(1, "pending", "sending"): 3, (1, "sending", "sent"): 2, (2, "sending", "sending"): 5}
    assert deltas(moves) == {1: {"pending": -3, "sending": 1, "sent": 2}}
