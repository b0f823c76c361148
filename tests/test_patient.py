"""A patient's conversations, end to end: the real bot, PTB, HTTP, the emulator."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from bot.core.content.loader import load_library
from bot.core.content.model import ROOT_ID, ContentTree
from bot.core.limits import MAX_MESSAGE_LENGTH
from bot.core.telegram_html import parse_html, utf16_len
from bot.testing import BotAPIEmulator, SimUser
from tests.conftest import CONTENT, BotStarter, make_settings

LIBRARY = load_library(CONTENT).library
BACK = {"en": "⬅ Back", "zh_Hans": "⬅ 返回", "zh_Hant": "⬅ 返回"}
HOME = {"en": "🏠 Home", "zh_Hans": "🏠 首页", "zh_Hant": "🏠 首頁"}
CRUMB_ROOT = {"en": "Home", "zh_Hans": "首页", "zh_Hant": "首頁"}


def visible(html_text: str) -> str:
    return parse_html(html_text).text


async def walk(
    user: SimUser, tree: ContentTree, topic_id: str, crumbs: list[str], seen: set[str]
) -> None:
    """Open every child of ``topic_id``, check it, recurse, and come Back."""
    parent = tree.topics[topic_id]
    for child_id in parent.children:
        child = tree.topics[child_id]
        await user.press(child.label)
        text = user.last_text()
        trail = [*crumbs, child.label]
        assert text.splitlines()[0] == " › ".join(trail), text
        assert child.title in text
        # The whole body is on the screen (short topics) or on its first page.
        first_paragraph = visible(child.body.split("\n\n")[0])
        assert first_paragraph in text
        assert user.buttons()[-1] == [BACK[tree.locale], HOME[tree.locale]]
        seen.add(child_id)
        await walk(user, tree, child_id, trail, seen)
        await user.press(BACK[tree.locale])
        if topic_id == ROOT_ID:
            assert visible(parent.body.split("\n\n")[0]) in user.last_text()
        else:
            assert parent.title in user.last_text()


@pytest.mark.parametrize(
    ("locale", "language_code"),
    [("en", "en"), ("en", "en-GB"), ("zh_Hans", "zh-hans"), ("zh_Hant", "zh-hk")],
)
async def test_patient_reads_every_topic_and_comes_back_home(
    bot: object, emulator: BotAPIEmulator, locale: str, language_code: str
) -> None:
    tree = LIBRARY.trees[locale]
    user = emulator.user(501, language_code=language_code)
    await user.send("/start")
    assert visible(tree.root.body.split("\n\n")[0]) in user.last_text()
    seen: set[str] = set()
    await walk(user, tree, ROOT_ID, [CRUMB_ROOT[locale]], seen)
    assert seen | {ROOT_ID} == set(tree.topics)

    # Deep down, Home goes straight back to the main menu.
    await user.press(tree.topics["suitable"].label)
    await user.press(tree.topics["complications"].label)
    await user.press(tree.topics["bleeding"].label)
    await user.press(HOME[locale])
    assert user.buttons()[0] == [tree.topics[tree.root.children[0]].label]

    # All of it happened in one message, edited in place, and every press was answered.
    assert len(user.bot_messages()) == 1
    assert user.bot_messages()[0].edit_count == len(user.presses)
    assert all(press.answered for press in user.presses)
    assert emulator.errors == []


async def test_every_fact_is_within_three_taps() -> None:
    for tree in LIBRARY.trees.values():
        for topic in tree.walk():
            assert len(tree.path_to(topic.id)) - 1 <= 3, topic.id


async def test_language_switch_mid_session(bot: object, emulator: BotAPIEmulator) -> None:
    user = emulator.user(502, language_code="en")
    await user.send("/start")
    await user.press("Features")
    await user.press("🏠 Home")
    await user.press("🌐 Language")
    assert user.buttons() == [["✓ English"], ["中文 (简体)"], ["中文 (繁體)"], ["🏠 Home"]]
    await user.press("中文 (简体)")
    assert user.last_text().startswith("语言：简体中文")
    assert "您好" in user.last_text()
    await user.press("治疗特点")
    assert user.last_text().startswith("首页 › 治疗特点")
    # Commands and text afterwards stay Chinese, though Telegram still says "en".
    await user.send("/help")
    assert "使用说明" in user.last_text()
    # /language switches back at any time.
    await user.send("/language")
    await user.press("English")
    assert user.last_text().startswith("Language: English")
    assert len(emulator.errors) == 0


async def test_command_menus_are_localized(bot: object, emulator: BotAPIEmulator) -> None:
    default = {c["command"]: c["description"] for c in emulator.commands()}
    english = {c["command"]: c["description"] for c in emulator.commands(language_code="en")}
    chinese = {c["command"]: c["description"] for c in emulator.commands(language_code="zh")}
    assert (
        default
        == english
        == {
            "start": "Main menu",
            "language": "Change the language",
            "help": "How to use this bot",
            "subscribe": "News from the hospital",
            "unsubscribe": "Stop the news",
            "privacy": "Your data: what is stored, and erasing it",
        }
    )
    assert chinese == {
        "start": "主菜单",
        "language": "切换语言",
        "help": "使用说明",
        "subscribe": "医院资讯",
        "unsubscribe": "停止接收资讯",
        "privacy": "您的数据：保存了什么，如何删除",
    }


async def test_help_and_plain_text_and_unknown_commands(
    bot: object, emulator: BotAPIEmulator
) -> None:
    user = emulator.user(503, language_code="zh-cn")
    await user.send("/help")
    assert "使用说明" in user.last_text()
    assert user.buttons() == [["🏠 首页"]]
    await user.press("🏠 首页")
    assert "您好" in user.last_text()

    # Typed text is searched (tests/test_typed_text.py); with no match, the menu and a note.
    await user.send("我的肝脏有点痛 <b>help</b>")
    assert user.last_text().startswith(
        "没有找到与您的消息相符的主题。在这里输入的消息不会有人阅读。"
    )
    assert user.buttons()[-1] == ["🌐 语言"]
    await user.send("/frobnicate")
    assert user.last_text().startswith("抱歉，无法识别该命令")
    assert emulator.errors == []


@pytest.mark.parametrize(
    "forged",
    [
        "1:t:no-such-topic",
        "1:t:what:7",
        "1:L:fr",
        "2:t:what",
        "garbage",
        "1:t:" + "x" * 58,
        "1:t:what:1:2",
        "'; DROP TABLE users; --",
        "🙂",
    ],
)
async def test_forged_and_stale_buttons_get_a_note_and_the_menu(
    bot: object, emulator: BotAPIEmulator, forged: str
) -> None:
    user = emulator.user(504, language_code="en")
    await user.send("/start")
    await user.press("What is it?")
    press = await user.press_data(forged)
    assert press.answered
    assert press.text == "That button is out of date. Here is the main menu."
    assert user.last_text().startswith("That button is out of date. Here is the main menu.")
    assert user.buttons()[-1] == ["🌐 Language"]
    assert emulator.errors == []


async def test_button_of_an_old_message_still_works(bot: object, emulator: BotAPIEmulator) -> None:
    user = emulator.user(505, language_code="en")
    await user.send("/start")
    old = user.last_bot_message()
    assert old is not None
    await user.send("/start")
    await user.press("Glossary", message_id=old.message_id)
    assert "Medical words explained" in user.transcript()[1].text
    assert emulator.errors == []


async def test_button_of_a_topic_that_a_new_content_version_lost(
    start_bot: BotStarter, emulator: BotAPIEmulator, project_copy: tuple[Path, Path]
) -> None:
    content, locales = project_copy
    user = emulator.user(506, language_code="en")
    async with start_bot(make_settings(content, locales)):
        await user.send("/start")
        await user.press("Suitable tumours")
    # The next version of the content drops "bleeding" from the complications topic.
    for locale in ("en", "zh_Hans"):
        (content / locale / "bleeding.yaml").unlink()
        path = content / locale / "complications.yaml"
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        data["children"].remove("bleeding")
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    async with start_bot(make_settings(content, locales)):
        await user.press("Tumour complications")
        assert user.buttons()[:3] == [
            ["Stents: windpipe, food pipe"],
            ["Stents: bowel, bile, veins"],
            ["Spine metastases"],
        ]
        press = await user.press_data("1:t:bleeding")
        assert press.text == "That button is out of date. Here is the main menu."
        assert "Hello, and welcome." in user.last_text()
    assert emulator.errors == []


async def test_restart_keeps_the_language_choice(
    start_bot: BotStarter, emulator: BotAPIEmulator, storage_url: str
) -> None:
    user = emulator.user(507, language_code="en")
    async with start_bot(database_url=storage_url):
        await user.send("/start")
        await user.press("🌐 Language")
        await user.press("中文 (简体)")
    # A new application on the same database: Telegram still says "en", the choice wins.
    async with start_bot(database_url=storage_url) as restarted:
        await user.send("/start")
        assert "您好" in user.last_text()
        record = await restarted.runtime.storage.get_user(507)
        assert record is not None
        assert record.locale == "zh_Hans"
        assert record.first_seen <= record.last_seen


async def test_long_topic_is_split_into_pages(
    start_bot: BotStarter, emulator: BotAPIEmulator, project_copy: tuple[Path, Path]
) -> None:
    content, locales = project_copy
    paragraphs = [
        f"Paragraph {i}: " + "interventional therapy explained. " * 30 for i in range(12)
    ]
    path = content / "en" / "what.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["body"] = "\n\n".join(paragraphs)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")

    user = emulator.user(508, language_code="en")
    async with start_bot(make_settings(content, locales)):
        await user.send("/start")
        await user.press("What is it?")
        pages = [user.last_text()]
        total = int(pages[0].rsplit(" ", 1)[-1])
        assert total >= 3
        assert pages[0].endswith(f"Page 1 of {total}")
        assert user.buttons()[-2:] == [["Next ▶"], ["⬅ Back", "🏠 Home"]]
        for number in range(2, total + 1):
            await user.press("Next ▶")
            pages.append(user.last_text())
            # The last page asks "Was this helpful?" under the page line.
            ask = "\n\nWas this helpful?" if number == total else ""
            assert pages[-1].endswith(f"Page {number} of {total}{ask}")
            paging = ["◀ Previous", "Next ▶"] if number < total else ["◀ Previous"]
            assert user.buttons()[-2 if number < total else -3] == paging
        await user.press("◀ Previous")
        assert user.last_text() == pages[-2]
    joined = "\n".join(pages)
    for paragraph in paragraphs:
        assert paragraph.strip() in joined
    assert all(utf16_len(page) <= MAX_MESSAGE_LENGTH for page in pages)
    assert all(page.startswith("Home › What is it?") for page in pages)
    assert emulator.errors == []


async def test_a_new_locale_is_data_only(
    start_bot: BotStarter, emulator: BotAPIEmulator, project_copy: tuple[Path, Path]
) -> None:
    content, locales = project_copy
    shutil.copytree(content / "en", content / "fr")
    home = content / "fr" / "home.yaml"
    data = yaml.safe_load(home.read_text(encoding="utf-8"))
    data["body"] = "Bonjour et bienvenue."
    home.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    (locales / "fr" / "LC_MESSAGES").mkdir(parents=True)
    po = (locales / "en" / "LC_MESSAGES" / "messages.po").read_text(encoding="utf-8")
    po = po.replace('msgid "Language"\nmsgstr ""', 'msgid "Language"\nmsgstr "Langue"')
    (locales / "fr" / "LC_MESSAGES" / "messages.po").write_text(po, encoding="utf-8")

    user = emulator.user(509, language_code="fr-CA")
    async with start_bot(make_settings(content, locales)):
        await user.send("/start")
        assert user.last_text() == "Bonjour et bienvenue."
        await user.press("🌐 Langue")
        assert ["✓ Français"] in user.buttons()
    assert {c["command"] for c in emulator.commands(language_code="fr")} == {
        "start",
        "language",
        "help",
        "subscribe",
        "unsubscribe",
        "privacy",
    }


async def test_words_on_this_page_open_and_come_back(
    bot: object, emulator: BotAPIEmulator
) -> None:
    user = emulator.user(511, language_code="en")
    await user.send("/start")
    for label in ("Suitable tumours", "Tumour complications", "Stents: windpipe, food pipe"):
        await user.press(label)
    stents = user.last_text()
    assert user.buttons() == [["📖 Words on this page"], ["👍", "👎"], ["⬅ Back", "🏠 Home"]]
    await user.press("📖 Words on this page")
    words = user.last_text()
    assert words.startswith(
        "Home › Suitable tumours › Tumour complications › Stents: windpipe, food pipe\n"
        "📖 Words on this page\n\nStent — a small mesh tube"
    )
    assert "Fistula — an abnormal opening between two parts of the body" in words
    await user.press("Next ▶")
    assert "Bronchopleural fistula — an abnormal opening between an airway" in user.last_text()
    await user.press("⬅ Back")
    assert user.last_text() == stents

    # From page 2 of a longer topic, Back returns to page 2.
    await user.press("🏠 Home")
    await user.press("Role in tumour treatment")
    await user.press("Next ▶")
    second = user.last_text()
    assert second.endswith("Page 2 of 2\n\nWas this helpful?")
    await user.press("📖 Words on this page")
    assert "Radiotherapy — treatment of cancer with high-energy rays" in user.last_text()
    assert "Haemangioma" not in user.last_text()  # a word of page 1 only
    await user.press("⬅ Back")
    assert user.last_text() == second
    await user.press("📖 Words on this page")
    await user.press("🏠 Home")
    assert "Hello, and welcome." in user.last_text()
    # The main menu uses "tumours" too: its words come back to the menu as /start shows it.
    menu = user.buttons()
    await user.press("📖 Words on this page")
    assert "Tumour — a lump or growth of abnormal cells." in user.last_text()
    await user.press("⬅ Back")
    assert user.buttons() == menu and ["🔔 Subscribe to news"] in menu
    assert len(user.bot_messages()) == 1
    assert emulator.errors == []


async def test_words_on_this_page_in_chinese(bot: object, emulator: BotAPIEmulator) -> None:
    user = emulator.user(512, language_code="zh-hans")
    await user.send("/start")
    for label in ("适用肿瘤", "肿瘤并发症", "支架：气管、食管", "📖 本页术语"):
        await user.press(label)
    text = user.last_text()
    assert text.splitlines()[1] == "📖 本页术语"
    assert "支架——一种网状小管，放在变窄的人体管道内，把管道撑开。" in text
    assert "支气管胸膜瘘——气道与肺外周的胸膜腔之间的异常通道。" in text
    assert user.buttons()[-1] == ["⬅ 返回", "🏠 首页"]
    await user.press("⬅ 返回")
    assert user.last_text().startswith("首页 › 适用肿瘤 › 肿瘤并发症 › 支架：气管、食管")


@pytest.mark.parametrize(
    "forged",
    ["1:w:stents:0:9", "1:w:stents:5:0", "1:w:incision:0:0", "1:w:no-such-topic:0:0", "1:w:x"],
)
async def test_a_stale_words_button_gets_a_note_and_the_menu(
    bot: object, emulator: BotAPIEmulator, forged: str
) -> None:
    user = emulator.user(513, language_code="en")
    await user.send("/start")
    press = await user.press_data(forged)
    assert press.text == "That button is out of date. Here is the main menu."
    assert user.buttons()[-1] == ["🌐 Language"]
    assert emulator.errors == []


async def test_a_draft_topic_is_not_served(
    start_bot: BotStarter, emulator: BotAPIEmulator, project_copy: tuple[Path, Path]
) -> None:
    content, locales = project_copy
    for locale in ("en", "zh_Hans"):
        for topic in ("bleeding", "malignant"):  # a leaf, and a topic with a child
            path = content / locale / f"{topic}.yaml"
            text = path.read_text(encoding="utf-8")
            path.write_text(text.replace("source:", "status: draft\nsource:", 1), "utf-8")
    tree = load_library(content).library.trees["en"]
    served = {t.id for t in tree.served_topics()}
    assert {"bleeding", "malignant", "liver-cancer"}.isdisjoint(served)
    assert tree.topics["bleeding"].is_draft and not tree.is_served("liver-cancer")
    assert len(served) == len(tree.topics) - 3

    user = emulator.user(514, language_code="en")
    async with start_bot(make_settings(content, locales)):
        await user.send("/start")
        await user.press("Suitable tumours")
        assert ["Cancers"] not in user.buttons()
        assert user.buttons()[:3] == [
            ["Benign tumours and cysts"],
            ["Head and neck"],
            ["Tumour complications"],
        ]
        await user.press("Tumour complications")
        assert ["Tumour bleeding"] not in user.buttons()
        for data in ("1:t:bleeding", "1:t:liver-cancer", "1:w:bleeding:0:0"):
            await user.send("/start")
            press = await user.press_data(data)
            assert press.text == "That button is out of date. Here is the main menu."
        await user.send("/start bleeding")  # a deep link to a draft opens the main menu
        assert "Hello, and welcome." in user.last_text()
    assert emulator.errors == []


async def test_procedure_topics_end_with_when_to_get_help() -> None:
    """Recovery, bleeding, stents, bone cement and risks each end with their own urgent lines,
    in every language, on the last screen the patient reads."""
    heading = {"en": "⚠️ Get help at once", "zh_Hans": "⚠️ 请立即求助", "zh_Hant": "⚠️ 請立即求助"}
    emergency = {"en": "emergency", "zh_Hans": "急救电话", "zh_Hant": "急救電話"}
    for locale, tree in LIBRARY.trees.items():
        for tid in ("recovery", "bleeding", "stents", "stents-other", "bone-cement", "risks"):
            last = tree.topics[tid].body.rsplit("\n\n", 1)[-1]
            assert visible(last).startswith(heading[locale]), (locale, tid)
            assert emergency[locale] in last, (locale, tid)


async def test_a_failed_edit_is_retried(bot: object, emulator: BotAPIEmulator) -> None:
    user = emulator.user(510, language_code="en")
    await user.send("/start")
    emulator.inject_fault("server_error", method="editMessageText", count=1)
    await user.press("Features")
    assert user.last_text().startswith("Home › Features")
    assert [r.status for r in emulator.requests_for("editMessageText")] == [502, 200]
