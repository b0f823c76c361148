"""Consent and language at send time, and a lost answer that must not be sent twice.

The consent test runs the whole bot against the emulator: patients unsubscribe, block the bot,
are erased and switch language between the moment a broadcast is queued and the moment it
fires; each recipient is judged when the engine claims it.
"""

from __future__ import annotations

import argparse
import asyncio
import io
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete

from bot.broadcast import BroadcastDraft, queue_broadcast
from bot.broadcast.progress import format_progress
from bot.cli import broadcast_commands
from bot.storage import BroadcastSummary, Outcome, Storage
from bot.storage.tables import subscriptions, users
from bot.testing import BotAPIEmulator
from tests.conftest import BotStarter, make_settings
from tests.test_broadcast import (
    PLAIN,
    TEXTS,
    catalogs,
    make_engine,
    subscribe_users,
    until,
    wait_status,
)

UNSUBSCRIBERS = range(1, 6)  # /unsubscribe before it fires
BLOCKERS = range(6, 9)  # block the bot; the bot hears it (my_chat_member)
SILENT_BLOCKERS = range(9, 11)  # block the bot; the bot never heard: 403 at send time
ERASED = range(11, 14)  # their rows are deleted (/forget)
TO_CHINESE = range(14, 18)  # switch to Chinese
TO_ENGLISH = range(18, 21)  # switch to English
UNCHANGED = range(21, 33)
EVERYONE = range(1, 33)


def first_locale(uid: int) -> str:
    if uid in TO_ENGLISH:
        return "zh_Hans"
    if uid in TO_CHINESE:
        return "en"
    return "zh_Hans" if uid % 2 else "en"


def final_locale(uid: int) -> str:
    if uid in TO_ENGLISH:
        return "en"
    if uid in TO_CHINESE:
        return "zh_Hans"
    return first_locale(uid)


def broadcasts_received(emu: BotAPIEmulator, uid: int) -> list[str]:
    return [m.text for m in emu.bot_messages(uid) if m.text in PLAIN.values()]


async def show(storage_url: str, broadcast_id: int) -> str:
    out, err = io.StringIO(), io.StringIO()
    args = argparse.Namespace(action="show", id=broadcast_id)
    settings = make_settings(DATABASE_URL=storage_url)
    assert await broadcast_commands.run(args, settings, out, err) == 0, err.getvalue()
    return out.getvalue()


async def change_minds(storage: Storage, emu: BotAPIEmulator) -> None:
    """Everything patients do between queueing and sending, at once."""

    async def unsubscribe(uid: int) -> None:
        await emu.user(uid).send("/unsubscribe")

    async def block(uid: int) -> None:
        emu.block_bot(uid)
        for _ in range(250):
            sub = await storage.get_subscription(uid)
            if sub is not None and sub.blocked_at is not None:
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"the bot did not hear that {uid} blocked it")

    async def switch(uid: int, label: str) -> None:
        user = emu.user(uid)
        await user.send("/language")
        await user.press(label)

    for uid in SILENT_BLOCKERS:  # as when the update was lost: only the send will tell
        emu.chat(uid).blocked = True
    async with storage.engine.begin() as conn:
        for table in (users, subscriptions):
            await conn.execute(delete(table).where(table.c.user_id.in_(list(ERASED))))
    assert await storage.skip_pending_recipients(ERASED[0], "erased") == 1  # as /forget does
    await asyncio.gather(
        *(unsubscribe(uid) for uid in UNSUBSCRIBERS),
        *(block(uid) for uid in BLOCKERS),
        *(switch(uid, "中文 (简体)") for uid in TO_CHINESE),
        *(switch(uid, "English") for uid in TO_ENGLISH),
    )


async def test_consent_and_language_are_checked_when_each_recipient_is_sent(
    start_bot: BotStarter, emulator: BotAPIEmulator, storage_url: str
) -> None:
    emu = emulator
    async with start_bot(database_url=storage_url) as bot:
        storage = bot.runtime.storage
        for uid in EVERYONE:
            emu.user(uid, language_code="zh-hans" if first_locale(uid) == "zh_Hans" else "en")
            await storage.subscribe(uid, locale=first_locale(uid))
        send_at = datetime.now(UTC) + timedelta(seconds=4)
        broadcast_id = await queue_broadcast(
            storage, BroadcastDraft(TEXTS, send_at=send_at), created_by=None
        )
        await change_minds(storage, emu)
        # What the patients did came first: the broadcast has not started yet.
        assert await storage.broadcast_status(broadcast_id) == "scheduled", "too slow"
        assert not any(broadcasts_received(emu, uid) for uid in EVERYONE)
        await wait_status(storage, broadcast_id, "done")

        receivers = {*TO_CHINESE, *TO_ENGLISH, *UNCHANGED}
        for uid in EVERYONE:
            expected = [PLAIN[final_locale(uid)]] if uid in receivers else []
            assert broadcasts_received(emu, uid) == expected, uid
        states = await storage.recipient_states(broadcast_id)
        assert {uid for uid, (state, _) in states.items() if state == "skipped"} == {
            *UNSUBSCRIBERS,
            *BLOCKERS,
            *ERASED,
        }
        assert {uid for uid, (state, _) in states.items() if state == "blocked"} == set(
            SILENT_BLOCKERS
        )
        summary = await storage.broadcast_summary(broadcast_id)
        assert summary is not None
        assert (summary.sent, summary.skipped, summary.blocked, summary.remaining) == (
            len(receivers),
            11,
            2,
            0,
        )
        assert summary.skip_reasons == (("unsubscribed", 5), ("blocked", 3), ("erased", 3))
        text = await show(storage_url, broadcast_id)
        assert f"sent {len(receivers)}, blocked 2, failed 0, skipped 11, in doubt 0" in text
        assert "unsubscribed" in text and "erased" in text

        # The Unsubscribe button under a delivered broadcast still works, in the reader's
        # language.
        reader = emu.user(TO_CHINESE[0])
        message = next(m for m in reader.bot_messages() if m.text == PLAIN["zh_Hans"])
        zh = catalogs().get("zh_Hans")
        assert message.buttons() == [["🔕 " + zh("Unsubscribe")]]
        press = await reader.press("🔕 " + zh("Unsubscribe"), message_id=message.message_id)
        assert press.answered
        ended = await storage.get_subscription(TO_CHINESE[0])
        assert ended is not None and not ended.active
    assert {r.chat_id for r in emu.errors} <= set(SILENT_BLOCKERS)  # their 403s only


async def test_a_lost_answer_leaves_the_recipient_in_doubt_and_it_is_never_resent(
    storage: Storage, emulator: BotAPIEmulator, storage_url: str
) -> None:
    emu = emulator
    await subscribe_users(storage, emu, range(1, 21))
    lost = 7
    # Telegram carries the message out, but its answer comes after the client gave up.
    emu.inject_fault(
        "timeout", method="sendMessage", chat_id=lost, count=1, delay=2.0, executed=True
    )
    broadcast_id = await queue_broadcast(storage, BroadcastDraft(TEXTS), created_by=None)
    engine = make_engine(storage, emu)  # request_timeout 0.5 s
    await engine.start()
    try:
        await wait_status(storage, broadcast_id, "done")
        await until(lambda: emu.stats.timeouts == 1)
    finally:
        await engine.stop()
    states = await storage.recipient_states(broadcast_id)
    assert states[lost] == ("in_doubt", None)
    assert [state for uid, (state, _) in states.items() if uid != lost] == ["sent"] * 19
    assert len(emu.bot_messages(lost)) == 1  # it did arrive, once
    assert len(emu.requests_for("sendMessage", chat_id=lost)) == 1  # and was never sent again
    assert engine.stats.in_doubt == 1 and engine.stats.retried == 0
    summary = await storage.broadcast_summary(broadcast_id)
    assert summary is not None
    assert (summary.in_doubt, summary.remaining, summary.resent_after_crash) == (1, 0, 0)
    assert "in doubt:  1 recipient(s): no answer came in time" in await show(
        storage_url, broadcast_id
    )


def test_the_report_counts_skipped_and_in_doubt_in_the_admins_language() -> None:
    now = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
    summary = BroadcastSummary(
        id=4,
        status="done",
        texts=TEXTS,
        locales=None,
        interests=None,
        paid=False,
        created_by=1,
        created_at=now,
        send_at=now,
        started_at=now,
        finished_at=now + timedelta(seconds=70),
        progress_chat_id=1,
        progress_message_id=2,
        total=20,
        pending=0,
        sending=0,
        sent=12,
        blocked=1,
        failed=1,
        skipped=5,
        in_doubt=1,
        failure_reasons=(("Chat not found", 1),),
        skip_reasons=(("unsubscribed", 3), ("erased", 2)),
        resent_after_crash=0,
        eta_seconds=None,
    )
    english = format_progress(summary, catalogs().get("en"))
    assert "Sent 12 · Blocked 1 · Failed 1 · Remaining 0 · Skipped 5 · In doubt 1" in english
    assert "• unsubscribed before their turn: 3" in english
    assert "may have been delivered; they were not sent again" in english
    chinese = format_progress(summary, catalogs().get("zh_Hans"))
    assert "已跳过 5" in chinese and "未确认 1" in chinese
    assert "• 发送前已删除个人数据: 2" in chinese
    # Nothing skipped and nothing in doubt: the line stays as it was.
    plain = format_progress(
        BroadcastSummary(**{**summary.__dict__, "skipped": 0, "in_doubt": 0, "skip_reasons": ()}),
        catalogs().get("en"),
    )
    assert "Sent 12 · Blocked 1 · Failed 1 · Remaining 0\n" in plain + "\n"
    assert "Skipped" not in plain and "In doubt" not in plain


async def test_claim_record_and_finish_re_check_in_their_own_statements(storage: Storage) -> None:
    for uid in range(1, 9):
        await storage.subscribe(uid, locale="en")
    broadcast_id = await queue_broadcast(storage, BroadcastDraft(TEXTS), created_by=None)
    await storage.unsubscribe(2)
    await storage.mark_blocked(3)
    async with storage.engine.begin() as conn:
        await conn.execute(delete(subscriptions).where(subscriptions.c.user_id == 4))
    await storage.set_subscription_locale(5, "zh_Hans")

    claim = await storage.claim_recipients(broadcast_id, 4)
    assert claim.skipped == 3
    assert [(r.user_id, r.locale) for r in claim.recipients] == [
        (1, "en"),
        (5, "zh_Hans"),
        (6, "en"),
        (7, "en"),
    ]
    states = await storage.recipient_states(broadcast_id)
    assert [states[uid][0] for uid in range(1, 9)] == [
        "sending",
        "skipped",
        "skipped",
        "skipped",
        "sending",
        "sending",
        "sending",
        "pending",
    ]
    # /forget's call: the pending row of user 8 is skipped at once; sending ones are left.
    assert await storage.skip_pending_recipients(8) == 1
    assert await storage.skip_pending_recipients(1) == 0
    # Not done while anything is sending, whatever the caller thinks.
    assert not await storage.finish_broadcast(broadcast_id)
    # A claim whose answer was lost: rows the engine does not hold go back to pending.
    assert await storage.release_unheld(broadcast_id, [1, 5, 6]) == 1
    assert (await storage.recipient_states(broadcast_id))[7][0] == "pending"
    outcomes = [Outcome(uid, "sent", 1, message_id=100 + uid) for uid in (1, 5, 6)]
    await storage.record_outcomes(broadcast_id, outcomes)
    # Written again (an error whose outcome was unknown): rows that moved on do not change.
    await storage.record_outcomes(broadcast_id, [Outcome(7, "failed", 1, reason="late")])
    assert (await storage.recipient_states(broadcast_id))[7] == ("pending", None)
    assert not await storage.finish_broadcast(broadcast_id)  # 7 is pending
    claim = await storage.claim_recipients(broadcast_id, 10)
    assert [r.user_id for r in claim.recipients] == [7] and claim.skipped == 0
    await storage.record_outcomes(broadcast_id, [Outcome(7, "in_doubt", 1, reason="lost")])
    assert await storage.start_broadcast(broadcast_id)
    assert await storage.finish_broadcast(broadcast_id)
    summary = await storage.broadcast_summary(broadcast_id)
    assert summary is not None and summary.status == "done"
    assert (summary.sent, summary.skipped, summary.in_doubt, summary.remaining) == (3, 4, 1, 0)
    assert summary.skip_reasons == (("erased", 2), ("blocked", 1), ("unsubscribed", 1))
    assert summary.settled == summary.total == 8
