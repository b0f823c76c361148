"""Deep links from posters: /start payloads open a topic in a language and count their source;
anything else opens the main menu. The format as a table, then patients through the emulator,
on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from bot.core import deep_links
from bot.core.deep_links import DeepLink, PayloadError
from bot.core.limits import MAX_DEEP_LINK_LENGTH
from bot.storage.tables import daily_counts, users
from bot.testing import BotAPIEmulator
from bot.testing.harness import RunningBot
from tests.conftest import BotStarter, make_settings

WELCOME = "Hello, and welcome."
RECOVERY_EN = "Home › Features › Fast recovery"
RECOVERY_ZH = "首页 › 治疗特点 › 恢复快"

# -- the format -------------------------------------------------------------------------------

SIXTY_FOUR = "v1_recovery_zh-Hans_" + "a" * (64 - len("v1_recovery_zh-Hans_"))  # a 44-long source


@pytest.mark.parametrize(
    ("payload", "link"),
    [
        ("recovery", DeepLink("recovery", version=0)),  # the first form, on printed links
        ("v1_recovery", DeepLink("recovery")),
        ("v1_recovery_zh-Hans", DeepLink("recovery", "zh-Hans")),
        ("v1_recovery_zh-hans_ward3", DeepLink("recovery", "zh-hans", "ward3")),
        ("v1_stents__Clinic-B", DeepLink("stents", None, "Clinic-B")),
        ("v1_home_en_lobby", DeepLink("home", "en", "lobby")),
        (SIXTY_FOUR, DeepLink("recovery", "zh-Hans", SIXTY_FOUR[20:])),
        # Someone else's format, a later version, or a field that cannot be ours.
        ("", None),
        (SIXTY_FOUR + "a", None),  # 65 characters: more than Telegram passes
        ("ref_abc123", None),
        ("utm_source-flyer", None),
        ("Recovery", None),  # topic ids are lower case
        ("v2_recovery_en_x", None),
        ("v1_", None),
        ("v1__en_x", None),
        ("v1_recovery_e_x", None),  # not a language tag
        ("v1_recovery_en_x_y", None),  # a fifth field
        ("v1_x__" + "s" * 58, DeepLink("x", None, "s" * 58)),  # the longest source: 64
        ("v1_recovery_en_war d", None),
        ("v1_recovery_en_ward.3", None),
        ("ré", None),
    ],
)
def test_payloads_decode_to_a_link_or_to_nothing(payload: str, link: DeepLink | None) -> None:
    assert deep_links.decode(payload) == link


def test_links_round_trip_and_stay_within_64_characters() -> None:
    assert deep_links.encode("recovery") == "recovery"  # no language, no source: the old form
    assert deep_links.encode("recovery", "zh_Hans") == "v1_recovery_zh-Hans"
    assert deep_links.encode("recovery", None, "ward3") == "v1_recovery__ward3"
    payload = deep_links.encode("recovery", "zh_Hans", "ward3-poster")
    assert payload == "v1_recovery_zh-Hans_ward3-poster"
    assert deep_links.decode(payload) == DeepLink("recovery", "zh-Hans", "ward3-poster")
    assert deep_links.match_locale("zh-hans", ["en", "zh_Hans"]) == "zh_Hans"
    assert deep_links.match_locale("fr", ["en", "zh_Hans"]) is None
    fits = "s" * (MAX_DEEP_LINK_LENGTH - len("v1_recovery_zh-Hans_"))
    assert len(deep_links.encode("recovery", "zh_Hans", fits)) == MAX_DEEP_LINK_LENGTH
    with pytest.raises(PayloadError, match="shorten the source to at most 44 characters"):
        deep_links.encode("recovery", "zh_Hans", fits + "s")
    for topic, locale, source in (("Bad", None, None), ("x", "e", None), ("x", None, "a_b")):
        with pytest.raises(PayloadError):
            deep_links.encode(topic, locale, source)


# -- patients ---------------------------------------------------------------------------------


async def counted_sources(bot: RunningBot) -> dict[str, int]:
    await bot.runtime.flush_counts()
    stmt = select(daily_counts.c["key"], daily_counts.c["count"]).where(
        daily_counts.c.metric == "deep_link"
    )
    async with bot.runtime.storage.engine.connect() as conn:
        return {str(k): int(n) for k, n in (await conn.execute(stmt)).all()}


async def saved_locale(bot: RunningBot, user_id: int) -> str | None:
    async with bot.runtime.storage.engine.connect() as conn:
        row = (await conn.execute(select(users.c.locale).where(users.c.user_id == user_id))).one()
    return None if row[0] is None else str(row[0])


async def test_a_poster_link_opens_its_topic_in_its_language_and_counts_its_source(
    start_bot: BotStarter, emulator: BotAPIEmulator, storage_url: str
) -> None:
    """Over 60 lines: three patients, each step checked in the chat and in the tables."""
    async with start_bot(database_url=storage_url) as bot:
        # A new patient whose Telegram is English scans the Chinese poster of ward 3.
        new = emulator.user(601, language_code="en")
        await new.send("/start v1_recovery_zh-Hans_ward3")
        assert new.last_text().startswith(RECOVERY_ZH)
        assert new.buttons()[-2:] == [["👍", "👎"], ["⬅ 返回", "🏠 首页"]]
        # They keep it: the next screens are Chinese too (and /mydata says so).
        assert await saved_locale(bot, 601) == "zh_Hans"
        await new.press("🏠 首页")
        assert "🌐 语言" in new.buttons()[-1]

        # Someone who chose English already sees that one screen in Chinese, then English.
        regular = emulator.user(602, language_code="zh-hans")
        await regular.send("/language")
        await regular.press("English")
        await regular.send("/start v1_recovery_zh-Hans_ward3")
        assert regular.last_text().startswith(RECOVERY_ZH)
        assert await saved_locale(bot, 602) == "en"
        await regular.send("/start")
        assert WELCOME in regular.last_text()

        # A new patient whose Telegram is Chinese already: nothing to save.
        same = emulator.user(603, language_code="zh-cn")
        await same.send("/start v1_recovery_zh-hans_clinic-B")
        assert same.last_text().startswith(RECOVERY_ZH)
        assert await saved_locale(bot, 603) is None

        # A link without a language opens in the patient's; the first form still works.
        plain = emulator.user(604, language_code="en")
        await plain.send("/start v1_recovery__lobby")
        assert plain.last_text().startswith(RECOVERY_EN)
        await plain.send("/start recovery")
        assert plain.last_text().startswith(RECOVERY_EN)
        await plain.send("/start v1_home_zh-Hans_lobby")  # the main menu, in Chinese
        assert "🌐 语言" in plain.buttons()[-1]
        assert await saved_locale(bot, 604) is None  # not new any more: not saved

        assert await counted_sources(bot) == {
            "ward3": 2,
            "clinic-B": 1,
            "lobby": 2,
            "(none)": 1,  # the first form names no source
        }
        assert emulator.errors == []


BAD_PAYLOADS = [
    "ref_abc123",  # another tool's referral code
    "utm_source-flyer",
    "Recovery",
    "v2_recovery_en_x",  # a later version
    SIXTY_FOUR + "a",  # 65 characters
    "v1_nope_en_poster1",  # no such topic (renamed since the poster was printed)
    "v1_recovery_fr_poster2",  # a language the bot does not serve
    "v1_recovery_en_x_y",
    "nope",
    "v1_bleeding_en_poster3",  # a draft
    "bleeding",
]


async def test_bad_and_foreign_payloads_open_the_main_menu(
    start_bot: BotStarter,
    emulator: BotAPIEmulator,
    project_copy: tuple[Path, Path],
    storage_url: str,
) -> None:
    content, locales = project_copy
    for locale in ("en", "zh_Hans"):
        path = content / locale / "bleeding.yaml"
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace("source:", "status: draft\nsource:", 1), "utf-8")
    user = emulator.user(611, language_code="en")
    async with start_bot(make_settings(content, locales), database_url=storage_url) as bot:
        for payload in BAD_PAYLOADS:
            await user.send(f"/start {payload}")
            assert WELCOME in user.last_text(), payload
            assert user.buttons()[-1] == ["🌐 Language"], payload
        await user.send(f"/start {SIXTY_FOUR}")  # exactly 64 characters: ours
        assert user.last_text().startswith(RECOVERY_ZH)
        await user.send("/start v1_recovery_zh-Hans_ward3")
        assert user.last_text().startswith(RECOVERY_ZH)
        # The link's language was never saved: this user was not new any more.
        assert await saved_locale(bot, 611) is None
        # A poster of ours counts even when its topic or language is gone; others never do.
        assert await counted_sources(bot) == {
            "poster1": 1,
            "poster2": 1,
            "poster3": 1,
            SIXTY_FOUR[20:]: 1,
            "ward3": 1,
        }
    assert emulator.errors == []
