""" "Was this helpful? 👍 👎": where it is asked, one changeable answer per user and topic, the
thanks, /mydata and /forget; the statistics count answers and never read them. Through the
emulator and on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, insert, select

from bot.core import daily_counts
from bot.core.times import utc
from bot.storage import Storage, VoteOutcome
from bot.storage.tables import topic_votes
from bot.testing import BotAPIEmulator
from bot.testing.harness import RunningBot
from tests.conftest import BotStarter

FEEDBACK_ROW = ["👍", "👎"]


async def period_counts(bot: RunningBot) -> dict[str, tuple[int, int]]:
    """Each topic's 👍 and 👎 answers today, as the statistics read them."""
    await bot.runtime.flush_counts()
    report = await bot.runtime.storage.stats_report(1)
    return {
        t.topic_id: (t.helpful, t.not_helpful)
        for t in report.topics()
        if t.helpful or t.not_helpful
    }


async def test_votes_end_to_end(
    start_bot: BotStarter, emulator: BotAPIEmulator, storage_url: str
) -> None:
    """One patient's answers, from the press to /forget, checked at each step."""
    async with start_bot(database_url=storage_url) as bot:
        storage = bot.runtime.storage
        user = emulator.user(701, language_code="en")
        await user.send("/start")
        assert FEEDBACK_ROW not in user.buttons()  # not on the main menu
        await user.press("What is it?")
        assert user.last_text().endswith("Was this helpful?")
        assert user.buttons()[-2:] == [FEEDBACK_ROW, ["⬅ Back", "🏠 Home"]]
        screen = user.last_bot_message()
        assert screen is not None
        edits = screen.edit_count

        press = await user.press("👍")
        assert press.text == "Thank you for your answer!"
        assert (await user.press("👍")).text == "Thank you: your answer is kept."
        assert (await user.press("👎")).text == "Thank you: your answer is changed."
        assert screen.edit_count == edits  # the screen stays as it is
        assert [(v.topic_id, v.helpful) for v in await storage.votes_of(701)] == [("what", False)]
        # A tap and its correction the same day count once, for the answer that stands.
        assert await period_counts(bot) == {"what": (0, 1)}

        await user.press("🏠 Home")
        await user.press("Features")
        await user.press("Small wound")
        await user.press("👍")
        assert await period_counts(bot) == {"what": (0, 1), "incision": (1, 0)}

        # /mydata shows each answer; /forget erases them; the day's counts stay.
        await user.send("/mydata")
        lines = user.last_text().splitlines()
        start = lines.index("Your answers to “Was this helpful?”:")
        assert lines[start + 1].startswith("👎 What is interventional therapy? (")
        assert lines[start + 2].startswith("👍 Small wound (")
        await user.send("/forget")
        await user.press("🗑 Yes, erase my data")
        assert await storage.votes_of(701) == []
        assert await period_counts(bot) == {"what": (0, 1), "incision": (1, 0)}
        await user.send("/mydata")
        assert "Your answers to “Was this helpful?”: none" in user.last_text()

        # Forged or out-of-date data: a short answer, nothing stored.
        press = await user.press_data("1:v:nope:y")
        assert press.text == "That button is out of date."
        press = await user.press_data("1:v:what:x")  # not a vote: the stale-button answer
        assert press.text == "That button is out of date. Here is the main menu."
        assert await storage.votes_of(701) == []

        # In Chinese, the question and the thanks are Chinese.
        zh = emulator.user(702, language_code="zh-hans")
        await zh.send("/start recovery")
        assert zh.last_text().endswith("这些内容对您有帮助吗？")
        assert (await zh.press("👎")).text == "谢谢您的回答！"
        assert await period_counts(bot) == {"what": (0, 1), "incision": (1, 0), "recovery": (0, 1)}
    assert emulator.errors == []


async def test_asked_under_topics_only(bot: RunningBot, emulator: BotAPIEmulator) -> None:
    """Not on the main menu, the glossary's word lists or "Words on this page"; on the last
    page of a topic of several."""
    user = emulator.user(704, language_code="en")
    await user.send("/start")
    assert FEEDBACK_ROW not in user.buttons()
    await user.press("Glossary")
    assert FEEDBACK_ROW not in user.buttons()
    await user.press("Imaging")
    assert FEEDBACK_ROW not in user.buttons()
    assert not user.last_text().endswith("Was this helpful?")
    await user.press("🏠 Home")
    for label in ("Suitable tumours", "Tumour complications", "Stents: windpipe, food pipe"):
        await user.press(label)
    assert FEEDBACK_ROW in user.buttons()
    await user.press("📖 Words on this page")
    assert FEEDBACK_ROW not in user.buttons()
    await user.send("/start recovery")  # two pages: asked under the second
    assert FEEDBACK_ROW not in user.buttons()
    await user.press("Next ▶")
    assert user.buttons()[-3:] == [["◀ Previous"], FEEDBACK_ROW, ["⬅ Back", "🏠 Home"]]
    assert emulator.errors == []


async def test_a_changed_answer_counts_for_its_new_side_on_a_later_day(
    start_bot: BotStarter, emulator: BotAPIEmulator
) -> None:
    async with start_bot() as bot:
        storage = bot.runtime.storage
        user = emulator.user(703, language_code="en")
        await user.send("/start incision")
        await user.press("👍")
        await bot.runtime.flush_counts()
        async with storage.engine.begin() as conn:  # that answer was given yesterday
            await conn.execute(topic_votes.update().values(voted_at=utc() - timedelta(days=1)))
        await user.press("👎")
        # Today's counts: the 👍 was counted yesterday (here: already written), not taken back.
        assert await period_counts(bot) == {"incision": (1, 1)}


async def test_vote_storage(storage: Storage) -> None:
    change = await storage.record_vote(1, "what", helpful=True)
    assert change.outcome is VoteOutcome.NEW and change.previous_at is None
    same = await storage.record_vote(1, "what", helpful=True)
    assert same.outcome is VoteOutcome.SAME and same.previous_at is not None
    changed = await storage.record_vote(1, "what", helpful=False)
    assert changed.outcome is VoteOutcome.CHANGED and changed.previous_at == same.previous_at
    # Two presses at once count as one new answer.
    outcomes = await asyncio.gather(
        *(storage.record_vote(2, "stents", helpful=True) for _ in range(5))
    )
    assert sorted(o.outcome.value for o in outcomes) == ["new"] + ["same"] * 4
    await storage.touch_user(1)
    await storage.touch_user(2)
    erased = await storage.erase_user(1)
    assert erased.votes == 1 and erased.people == 1
    assert [v.topic_id for v in await storage.votes_of(2)] == ["stents"]
    # An answer left without its user (a press that raced /forget) goes with the next purge.
    async with storage.engine.begin() as conn:
        await conn.execute(
            insert(topic_votes).values(user_id=3, topic_id="what", helpful=True, voted_at=utc())
        )
    await storage.purge_inactive(730)
    async with storage.engine.connect() as conn:
        left = (await conn.execute(select(topic_votes.c.user_id))).scalars().all()
        counted = (await conn.execute(select(func.count()).select_from(topic_votes))).scalar()
    assert left == [2] and counted == 1
    # Erasure never touches the daily counts.
    await storage.add_daily_counts({(utc().date(), daily_counts.HELPFUL, "what"): 1})
    await storage.erase_user(2)
    rows = await storage.daily_count_rows(utc().date(), utc().date())
    assert [(r.metric, r.key, r.count) for r in rows] == [("helpful", "what", 1)]
