"""Patients who type, end to end: urgent symptoms first, then the topic; nothing kept or logged.

The real bot, PTB, HTTP and the emulator, as in test_patient.py. The urgent and informational
messages are in tests/urgent_messages.yaml.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bot.core.telegram_html import parse_html
from bot.testing import BotAPIEmulator, ChatMessage, SimUser
from bot.testing.harness import RunningBot
from tests.conftest import BotStarter, make_settings
from tests.test_reload import ADMIN, replace_in

MESSAGES = yaml.safe_load(
    (Path(__file__).parent / "urgent_messages.yaml").read_text(encoding="utf-8")
)
URGENT_HEADING = {
    "en": "⚠️ This may need urgent medical care.",
    "zh_Hans": "⚠️ 您描述的情况可能需要紧急就医。",
    "zh_Hant": "⚠️ 您描述的情況可能需要緊急就醫。",
}
CODE = {"en": "en", "zh_Hans": "zh-hans", "zh_Hant": "zh-hk"}
HOME = {"en": "🏠 Home", "zh_Hans": "🏠 首页", "zh_Hant": "🏠 首頁"}
LANGUAGE = {"en": "🌐 Language", "zh_Hans": "🌐 语言", "zh_Hant": "🌐 語言"}
LOCALES = ["en", "zh_Hans", "zh_Hant"]


async def ask(user: SimUser, text: str) -> list[ChatMessage]:
    """Type ``text``; the bot messages it got in answer, in order."""
    before = len(user.bot_messages())
    await user.send(text, settle=0.15)  # an urgent answer is two messages
    return user.bot_messages()[before:]


def visible(html_text: str) -> str:
    return parse_html(html_text).text


def is_urgent(message: ChatMessage, locale: str) -> bool:
    return message.text.startswith(URGENT_HEADING[locale])


@pytest.mark.parametrize("locale", LOCALES)
async def test_warning_signs_get_the_urgent_care_message_first(
    bot: object, emulator: BotAPIEmulator, locale: str
) -> None:
    user = emulator.user(810 + LOCALES.index(locale), language_code=CODE[locale])
    typed = MESSAGES["urgent"][locale] + MESSAGES["borderline_urgent"][locale]
    assert len(MESSAGES["urgent"][locale]) >= 20
    for text in typed:
        answer = await ask(user, text)
        assert len(answer) == 2, (text, [m.text for m in answer])
        urgent, then = answer
        assert is_urgent(urgent, locale), (text, urgent.text)
        # No buttons: pressing one would edit the urgent advice away.
        assert urgent.buttons() == []
        # Then a topic, topics to choose from (with Home), or the main menu itself.
        assert then.buttons()[-1][-1] in (HOME[locale], LANGUAGE[locale]), text
    assert emulator.errors == []


@pytest.mark.parametrize("locale", LOCALES)
async def test_questions_about_bleeding_stents_or_fever_are_answered_as_information(
    bot: object, emulator: BotAPIEmulator, locale: str
) -> None:
    user = emulator.user(815 + LOCALES.index(locale), language_code=CODE[locale])
    for text in MESSAGES["informational"][locale]:
        answer = await ask(user, text)
        assert len(answer) == 1, (text, [m.text for m in answer])
        assert not is_urgent(answer[0], locale)
    assert emulator.errors == []


async def test_the_urgent_message_names_the_configured_numbers(
    start_bot: BotStarter, emulator: BotAPIEmulator
) -> None:
    settings = make_settings(EMERGENCY_NUMBER="120", HOSPITAL_EMERGENCY_PHONE="+86 10 8888 0000")
    async with start_bot(settings):
        zh = emulator.user(820, language_code="zh-hans")
        urgent = (await ask(zh, "穿刺的地方在流血"))[0]
        assert "立即拨打120" in urgent.text
        assert "夜间及节假日值班电话：+86 10 8888 0000" in urgent.text
        en = emulator.user(821, language_code="en")
        urgent = (await ask(en, "I have chest pain"))[0]
        assert "call 120 now" in urgent.text
        assert "after-hours line: +86 10 8888 0000" in urgent.text
    # Unset: the words "your local emergency number", and no after-hours line.
    async with start_bot():
        en = emulator.user(822, language_code="en")
        urgent = (await ask(en, "I have chest pain"))[0]
        assert "call your local emergency number now" in urgent.text
        assert "after-hours" not in urgent.text


async def test_a_clear_question_opens_its_topic_with_a_note(
    bot: RunningBot, emulator: BotAPIEmulator
) -> None:
    desk = bot.runtime.desk
    question = "介入治疗后多久能出院？"
    best = desk.find(question, "zh_Hans").best
    assert best == "recovery"
    user = emulator.user(830, language_code="zh-hans")
    (answer,) = await ask(user, question)
    topic = visible(desk.renderer.topic("zh_Hans", best).text)
    assert answer.text == "与您的问题最相符的主题：\n\n" + topic
    assert answer.buttons()[-1] == ["⬅ 返回", "🏠 首页"]
    # The topic's buttons work as anywhere else: Back goes to its parent.
    parent = desk.renderer.library.trees["zh_Hans"].path_to(best)[-2]
    await user.press("⬅ 返回")
    assert parent.title in user.last_text()


async def test_an_unclear_question_offers_up_to_three_topics_with_breadcrumbs(
    bot: RunningBot, emulator: BotAPIEmulator
) -> None:
    desk = bot.runtime.desk
    question = "what is a stent"
    choices = desk.find(question, "en").choices
    assert 2 <= len(choices) <= 3
    assert "stents" in choices
    user = emulator.user(831, language_code="en")
    (answer,) = await ask(user, question)
    assert answer.text.startswith("These topics may answer your question:\n\n1. ")
    tree = desk.renderer.library.trees["en"]
    for number, topic_id in enumerate(choices, start=1):
        topic = tree.topics[topic_id]
        crumb = desk.renderer.breadcrumb("en", topic)
        assert f"{number}. {topic.title}\n{crumb}" in answer.text
    labels = [row[0] for row in answer.buttons()]
    assert labels == [
        *(f"{n}. {tree.topics[t].label}" for n, t in enumerate(choices, start=1)),
        "🏠 Home",
    ]
    await user.press(labels[0])
    assert user.last_text().startswith(desk.renderer.breadcrumb("en", tree.topics[choices[0]]))


async def test_no_match_says_nobody_reads_this_and_offers_the_menu_and_a_phone(
    start_bot: BotStarter, emulator: BotAPIEmulator
) -> None:
    async with start_bot():
        user = emulator.user(840, language_code="en")
        (answer,) = await ask(user, "hello")
        assert answer.text.startswith(
            "I could not find a topic for your message. "
            "Messages typed here are not read by a person.\n"
            "📞 For questions about your own care, please ask your care team.\n"
            "🚑 In an emergency, call your local emergency number straight away.\n\n"
            "Hello, and welcome."
        )
        assert answer.buttons()[0] == ["What is it?"]
    async with start_bot(make_settings(HOSPITAL_PHONE="+86 10 1234 5678", EMERGENCY_NUMBER="120")):
        user = emulator.user(841, language_code="zh-hans")
        (answer,) = await ask(user, "今天天气怎么样")
        assert answer.text.startswith(
            "没有找到与您的消息相符的主题。在这里输入的消息不会有人阅读。\n"
            "📞 关于您本人的诊疗问题，请致电医院：+86 10 1234 5678\n"
            "🚑 如遇紧急情况，请立即拨打120。\n\n您好"
        )
        # Unknown commands keep their own answer.
        await user.send("/nonsense")
        assert user.last_text().startswith("抱歉")


async def test_a_question_in_the_other_language_is_answered_in_the_patients(
    bot: RunningBot, emulator: BotAPIEmulator
) -> None:
    trees = bot.runtime.renderer.library.trees
    english = emulator.user(850, language_code="en")
    answer = await ask(english, "血管瘤要开刀吗")
    assert trees["en"].topics["benign"].title in answer[-1].text
    assert trees["zh_Hans"].topics["benign"].title not in answer[-1].text
    chinese = emulator.user(851, language_code="zh-hans")
    answer = await ask(chinese, "kidney cyst")
    assert trees["zh_Hans"].topics["cysts"].title in answer[-1].text
    # Warning signs too: Chinese typed into the English bot gets the English urgent message.
    answer = await ask(english, "吐血了")
    assert is_urgent(answer[0], "en")


async def test_reload_rebuilds_the_index_with_the_new_files(
    start_bot: BotStarter, emulator: BotAPIEmulator, project_copy: tuple[Path, Path]
) -> None:
    content, locales = project_copy
    admin = emulator.user(ADMIN, language_code="en")
    patient = emulator.user(860, language_code="en")
    async with start_bot(make_settings(content, locales, ADMIN_IDS=str(ADMIN))) as bot:
        (answer,) = await ask(patient, "quokka")
        assert answer.text.startswith("I could not find a topic")
        desk_before = bot.runtime.desk
        replace_in(content / "en" / "targeted.yaml", "keywords:\n", "keywords:\n  - quokka\n")
        await admin.send("/reload")
        assert admin.last_text().startswith("Reloaded:")
        # One swap: the new index searches exactly the content the new renderer shows.
        assert bot.runtime.desk is not desk_before
        assert bot.runtime.desk.renderer is bot.runtime.renderer
        (answer,) = await ask(patient, "quokka")
        assert answer.text.startswith("This topic best matches your question:\n\nHome › Features")
    assert emulator.errors == []


def where_stored(database: Path, markers: list[str]) -> list[str]:
    """The tables and files of the SQLite ``database`` that contain one of ``markers``."""
    found: list[str] = []
    with sqlite3.connect(database) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        assert "users" in tables
        for table in tables:
            rows = db.execute(f'SELECT * FROM "{table}"').fetchall()
            found.extend(table for m in markers if m in str(rows))
    for path in database.parent.glob(database.name + "*"):  # the WAL and journal too
        data = path.read_bytes()
        found.extend(path.name for m in markers if m.encode() in data)
    return found


@pytest.fixture
def quiet_aiosqlite() -> Iterator[None]:
    """aiosqlite's worker thread logs each call at DEBUG and may do so after a test's capture
    has closed (a logging error at the end of the run). It logs calls and results, and nothing
    typed is ever stored (the database check covers that), so it stays at INFO here."""
    logger = logging.getLogger("aiosqlite")
    previous = logger.level
    logger.setLevel(logging.INFO)
    yield
    logger.setLevel(previous)


@pytest.mark.usefixtures("quiet_aiosqlite")
async def test_what_patients_type_is_never_stored_or_logged(
    start_bot: BotStarter,
    emulator: BotAPIEmulator,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # everything, every logger, PTB's included
    typed = {
        "en": "zebrafish9931 my wound is bleeding",  # urgent, and a search
        "zh_Hans": "斑马鱼九九三一 肝血管瘤",
    }
    database = tmp_path / "bot.db"
    async with start_bot(database_url=f"sqlite:///{database}") as bot:
        for number, (locale, text) in enumerate(typed.items()):
            user = emulator.user(870 + number, language_code=CODE[locale])
            await user.send("/start")
            await ask(user, text)
        counts = bot.runtime.typed_counts.snapshot()
    assert counts == {"matched": 2, "unmatched": 0, "urgent": 1}
    markers = ["zebrafish9931", "斑马鱼九九三一"]

    # The database: no table holds the text, nor does any byte of its files (which do hold
    # the users' ids: the search finds what is there).
    assert where_stored(database, markers) == []
    assert "users" in where_stored(database, ["870"])

    # The logs, at DEBUG: the bot logged (and a DEBUG probe is captured), but never the text.
    logging.getLogger("tests.probe").debug("probe")
    assert [r.levelno for r in caplog.records if r.name == "tests.probe"] == [logging.DEBUG]
    assert any(r.name.startswith("bot.") for r in caplog.records)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert not any(m in logged for m in markers)


def test_ptb_debug_lines_which_carry_updates_are_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from bot.telegram_side.log_privacy import keep_patient_text_out_of_logs

    caplog.set_level(logging.DEBUG)
    # `run` quiets PTB to INFO (cli/logs.py); an earlier test of a command may have done so.
    caplog.set_level(logging.DEBUG, logger="telegram")
    application = logging.getLogger("telegram.ext.Application")
    keep_patient_text_out_of_logs()
    application.debug("Processing update %s", "zebrafish9931")
    application.info("Application started")
    assert [r.getMessage() for r in caplog.records if r.name.startswith("telegram")] == [
        "Application started"
    ]
