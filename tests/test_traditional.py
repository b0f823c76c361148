"""Traditional Chinese (zh_Hant): made by machine from zh_Hans (`i18n convert`), reviewed by
translators (`i18n mark-reviewed`), shown to zh-hant / zh-tw / zh-hk readers with a note.

The converter on a small file and on the shipped content (structure, ids, HTML, placeholders,
idempotence, reviewed files kept); `i18n status` and `check` on machine-converted content;
patients chatting in Hong Kong, Taiwan and mainland settings; broadcasts.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po

from bot.broadcast.file import load_broadcast_file
from bot.cli.main import main
from bot.config import PROJECT_ROOT
from bot.core.content.bundle import load_content
from bot.core.content.catalog_conversion import COMMENT_PREFIX
from bot.core.content.checks import run_checks
from bot.core.content.interest_conversion import MARK_COMMENT
from bot.core.content.script_conversion import (
    ConversionError,
    convert_yaml_text,
    load_converter,
)
from bot.core.content.yamlfile import load_yaml_text
from bot.core.i18n import po_path
from bot.core.render import Renderer
from bot.core.textnorm import fold_script
from bot.testing import BotAPIEmulator
from tests.conftest import make_settings, review_pending

NOTE = "ℹ️ 本頁文字由簡體中文經機器轉換，譯者正在審校。"


@pytest.fixture
def copy_env(
    project_copy: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, Path]:
    content, locales = project_copy
    monkeypatch.setenv("CONTENT_DIR", str(content))
    monkeypatch.setenv("LOCALES_DIR", str(locales))
    monkeypatch.setenv("REVIEW_MAX_AGE_DAYS", "36500")  # review ages are tested elsewhere
    return content, locales


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


# -- one file ----------------------------------------------------------------------------------

SMALL = textwrap.dedent(
    """\
    # 注释：译者保留的说明
    id: demo
    title: "软件与内存"
    button: 后来
    reviewed: 2026-11-30
    reviewed_by: "介入放射科专科医师"
    translated_from: "0123456789ab"
    source: "editorial"
    body: |
      <b>头发</b>干燥时，请点击<a href="https://example.org/里面">这里</a>。

      “支架”是什么？{name} 不变。
    children:
      - child-one
    terms:
      - term: "超声"
        aliases: ["B超", "超音波", "超声检查"]
        definition: "利用声波显示体内<i>图像</i>。"
    keywords:
      - B超
      - 超音波
      - 鼠标
    """
)


def test_a_file_keeps_its_structure_ids_tags_and_placeholders() -> None:
    _config, convert = load_converter("tw")
    converted = convert_yaml_text(SMALL, convert, "demo.yaml")
    _node, data = load_yaml_text(converted)
    _node, original = load_yaml_text(SMALL)
    # Taiwan characters and phrases (OpenCC s2twp); quotation marks as Taiwan writes them.
    assert data["title"] == "軟體與記憶體" and data["button"] == "後來"
    assert data["body"].startswith('<b>頭髮</b>乾燥時，請點選<a href="https://example.org/里面">')
    assert "「支架」是什麼？{name} 不變。" in data["body"]
    assert data["terms"][0]["definition"] == "利用聲波顯示體內<i>影像</i>。"
    # Nothing but Chinese text changed: fields, their order, ids, children, dates, hashes.
    assert list(data) == list(original)
    for field in ("id", "children", "reviewed", "translated_from", "source"):
        assert data[field] == original[field]
    assert converted.startswith("# 註釋：譯者保留的說明\n")  # comments stay, converted
    # B超 becomes 超音波 in Taiwan: a word the conversion repeats is dropped (the loader refuses
    # a keyword or alias listed twice), the rest keep their order.
    assert data["keywords"] == ["超音波", "滑鼠"]
    assert data["terms"][0]["aliases"] == ["超音波", "超聲檢查"]


def test_a_conversion_that_would_break_a_tag_or_a_placeholder_is_refused() -> None:
    with pytest.raises(ConversionError, match="the HTML tags of body"):
        convert_yaml_text(SMALL, lambda text: text.replace("<b>", "<i>", 1), "demo.yaml")
    with pytest.raises(ConversionError, match="the placeholders of body"):
        convert_yaml_text(SMALL, lambda text: text.replace("{name}", "{名}"), "demo.yaml")
    with pytest.raises(ConversionError, match="the value of id"):
        convert_yaml_text(SMALL, lambda text: text.replace("id: demo", "id: dem0"), "demo.yaml")


def test_traditional_text_is_matched_in_simplified_characters() -> None:
    assert fold_script("痰裏有血，體温39度，説話不清") == "痰里有血，体温39度，说话不清"
    assert fold_script("裡面著急") == fold_script("里面着急") == "里面着急"
    assert fold_script("TACE後 fever") == "TACE后 fever"
    assert fold_script("plain English, unchanged") == "plain English, unchanged"


# -- the shipped locale ------------------------------------------------------------------------


def test_the_shipped_zh_hant_is_what_convert_makes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "i18n", "convert", "zh_Hans", "zh_Hant", "--dry-run")
    assert code == 0, err
    assert out.splitlines()[-1] == (
        "zh_Hant: would write 0 new and 0 updated file(s); 64 unchanged; 0 kept (reviewed); "
        "0 left alone."
    ), out


def test_convert_from_nothing_then_again_changes_nothing(
    copy_env: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    content, locales = copy_env
    shipped = {
        p.relative_to(PROJECT_ROOT): p.read_bytes()
        for p in [*(PROJECT_ROOT / "content" / "zh_Hant").rglob("*.yaml"),
                  PROJECT_ROOT / "content" / "interests.yaml",
                  po_path(PROJECT_ROOT / "locales", "zh_Hant")]
    }  # fmt: skip
    shutil.rmtree(content / "zh_Hant")
    shutil.rmtree(locales / "zh_Hant")
    interests = content / "interests.yaml"
    lines = interests.read_text(encoding="utf-8").splitlines(keepends=True)
    cut = lines.index(MARK_COMMENT + "\n")
    interests.write_text("".join(x for x in lines[:cut] if "zh_Hant:" not in x), "utf-8")
    assert "zh_Hant" not in load_content(make_settings(content, locales)).locales

    code, out, err = run(capsys, "i18n", "convert", "zh_Hans", "zh_Hant")
    assert code == 0, err
    assert "  new        content/zh_Hant/benign.yaml\n" in out
    assert "  updated    content/interests.yaml (zh_Hant labels)\n" in out
    made = {path: (content.parent / path).read_bytes() for path in shipped}
    assert made == shipped  # byte for byte what is committed
    # Again: nothing to do, nothing touched.
    code, out, _err = run(capsys, "i18n", "convert", "zh_Hans", "zh_Hant")
    assert code == 0 and "wrote 0 new and 0 updated file(s); 64 unchanged" in out
    assert {path: (content.parent / path).read_bytes() for path in shipped} == shipped


def test_the_catalog_has_every_string_marked_and_survives_pybabel_update(
    copy_env: tuple[Path, Path],
) -> None:
    _content, locales = copy_env
    hans, hant = po_path(locales, "zh_Hans"), po_path(locales, "zh_Hant")
    with hans.open("rb") as fh:
        source = {m.id: m for m in read_po(fh) if m.id}
    with hant.open("rb") as fh:
        target = {m.id: m for m in read_po(fh) if m.id}
    assert target.keys() == source.keys()
    assert all(any(c.startswith(COMMENT_PREFIX) for c in m.user_comments) for m in target.values())
    assert target["Reviewed by {who} on {date}"].string == "由{who}於{date}稽核"
    before = hant.read_bytes()
    CommandLineInterface().run(
        ["pybabel", "-q", "update", "-i", str(locales / "messages.pot"), "-d", str(locales),
         "--no-wrap", "--ignore-obsolete"]
    )  # fmt: skip
    assert hant.read_bytes() == before  # pybabel keeps the marks, and the converter its layout


def test_status_and_check_show_what_waits_for_review(
    copy_env: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _err = run(capsys, "i18n", "status", "--format", "json")
    assert code == 0
    hant = next(loc for loc in json.loads(out)["locales"] if loc["locale"] == "zh_Hant")
    conversion = hant["conversion"]
    assert conversion["source"] == "zh_Hans" and conversion["config"] == "s2twp"
    assert len(conversion["unreviewed"]) == 33  # 30 topics, urgent, privacy, interests
    assert {"urgent", "privacy", "interests", "benign"} <= set(conversion["unreviewed"])
    assert conversion["strings_unreviewed"] == hant["catalog"]["translated"]
    assert conversion["outdated"] == conversion["source_changed"] == []
    assert hant["topics"]["percent"] == 100.0 and hant["failures"] == []

    code, out, _err = run(capsys, "i18n", "status")
    row = next(line for line in out.splitlines() if line.startswith("zh_Hant "))
    assert row.split()[-1] == "34"  # 33 files and the catalog
    assert "zh_Hant: converted by machine from zh_Hans (OpenCC s2twp), not reviewed yet" in out

    code, out, _err = run(capsys, "check")
    assert code == 0
    warnings = [line.strip() for line in out.splitlines() if ": warning: " in line]
    assert len(warnings) == 1
    assert warnings[0].startswith(
        "content/zh_Hant: warning: converted by machine from zh_Hans (s2twp), not reviewed yet: "
        "30 topic(s) (about, benign, bleeding, bone-cement, combined, complications, …), "
        "privacy, urgent, interests labels, "
    )


def test_a_changed_zh_hans_makes_the_conversion_out_of_date_until_converted_again(
    copy_env: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    content, _locales = copy_env
    replace_in(content / "zh_Hans" / "cysts.yaml", "内含液体的囊腔", "充满液体的囊腔")
    code, out, _err = run(capsys, "i18n", "status")
    assert code == 1
    assert "zh_Hant: converted from an older zh_Hans: 1 topic(s) (cysts)" in out
    assert out.rstrip().endswith(
        "i18n status: FAILED: zh_Hant: 1 machine conversion(s) out of date"
    )
    code, out, _err = run(capsys, "check")
    assert code == 0
    assert "content/zh_Hant/cysts.yaml:5: warning: converted by machine from an older zh_Hans: " \
        "run `interventional-bot i18n convert zh_Hans zh_Hant`" in out  # fmt: skip
    # Reviewing an old conversion is refused: convert first.
    code, _out, err = run(capsys, "i18n", "mark-reviewed", "zh_Hant", "cysts")
    assert code == 2 and "converted from an older zh_Hans" in err
    code, out, _err = run(capsys, "i18n", "convert", "zh_Hans", "zh_Hant")
    assert "  updated    content/zh_Hant/cysts.yaml\n" in out
    assert "充滿液體的囊腔" in (content / "zh_Hant" / "cysts.yaml").read_text("utf-8")
    assert run(capsys, "i18n", "status")[0] == 0


def test_a_reviewed_file_is_kept_until_forced(
    copy_env: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    content, locales = copy_env
    path = content / "zh_Hant" / "benign.yaml"
    code, out, err = run(capsys, "i18n", "mark-reviewed", "zh_Hant", "benign")
    assert code == 0, err
    assert out.startswith("zh_Hant/benign.yaml: converted_from zh_Hans ")
    text = path.read_text(encoding="utf-8")
    assert "machine_converted:" not in text and 'converted_from: "zh_Hans ' in text
    # The translator improves the wording; converting again keeps their file.
    replace_in(path, "肝局灶性結節增生", "肝臟局灶性結節增生")
    reviewed = path.read_text(encoding="utf-8")
    code, out, _err = run(capsys, "i18n", "convert", "zh_Hans", "zh_Hant")
    assert "  kept       content/zh_Hant/benign.yaml (reviewed)\n" in out
    assert path.read_text(encoding="utf-8") == reviewed
    # Its screens lose the note; the others keep it.
    loaded = load_content(make_settings(content, locales))
    renderer = Renderer(loaded.library, loaded.catalogs, make_settings().hospital)
    assert NOTE not in renderer.topic("zh_Hant", "benign").text
    assert NOTE in renderer.topic("zh_Hant", "cysts").text

    # zh_Hans changes later: the reviewed file is kept, and said to be behind.
    replace_in(content / "zh_Hans" / "benign.yaml", "肝腺瘤", "肝细胞腺瘤")
    code, out, _err = run(capsys, "i18n", "convert", "zh_Hans", "zh_Hant")
    assert (
        "  kept       content/zh_Hant/benign.yaml (reviewed; zh_Hans changed since: update "
        "it by hand (or --force))\n"
    ) in out
    code, out, _err = run(capsys, "i18n", "status")
    assert code == 1
    assert out.rstrip().endswith(
        "i18n status: FAILED: zh_Hant: 1 reviewed conversion(s) whose zh_Hans changed"
    )
    # The translator carries it over and marks it again...
    replace_in(path, "肝腺瘤", "肝細胞腺瘤")
    assert run(capsys, "i18n", "mark-reviewed", "zh_Hant", "benign")[0] == 0
    assert run(capsys, "i18n", "status")[0] == 0
    # ... or --force converts it again by machine, over the translator's work.
    code, out, _err = run(capsys, "i18n", "convert", "zh_Hans", "zh_Hant", "--force")
    assert "  updated    content/zh_Hant/benign.yaml\n" in out
    assert "machine_converted:" in path.read_text(encoding="utf-8")


def test_mark_reviewed_everything_leaves_check_clean(
    copy_env: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    content, locales = copy_env
    code, _out, err = run(capsys, "i18n", "mark-reviewed", "zh_Hant", "no-such-part")
    assert code == 2 and "zh_Hant has no part 'no-such-part' waiting for review" in err
    assert run(capsys, "i18n", "mark-reviewed", "zh_Hant")[0] == 2  # names or --all
    code, out, err = run(capsys, "i18n", "mark-reviewed", "zh_Hant", "--all")
    assert code == 0, err
    assert "interests.yaml: zh_Hant labels reviewed" in out
    assert "zh_Hant/LC_MESSAGES/messages.po: " in out
    interests = (content / "interests.yaml").read_text(encoding="utf-8")
    assert "machine_converted" not in interests and MARK_COMMENT not in interests
    assert "zh_Hant: 新療法" in interests
    assert COMMENT_PREFIX not in po_path(locales, "zh_Hant").read_text(encoding="utf-8")
    report = run_checks(make_settings(content, locales))
    assert [p for p in report.problems if review_pending(p)] == []
    assert report.errors == [] and report.warnings == []
    code, out, _err = run(capsys, "i18n", "status")
    row = next(line for line in out.splitlines() if line.startswith("zh_Hant "))
    assert row.split()[-1] == "0" and code == 0
    loaded = load_content(make_settings(content, locales))
    renderer = Renderer(loaded.library, loaded.catalogs, make_settings().hospital)
    assert NOTE not in renderer.home("zh_Hant").text
    # Nothing converted by machine is left to review; converting again keeps it all.
    assert run(capsys, "i18n", "mark-reviewed", "zh_Hant", "--all")[0] == 2
    code, out, _err = run(capsys, "i18n", "convert", "zh_Hans", "zh_Hant")
    assert "32 kept (reviewed)" in out and "wrote 0 new and 0 updated" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["en", "zh_Hant"], "convert goes from Simplified to Traditional Chinese"),
        (["zh_Hans", "fr"], "convert goes from Simplified to Traditional Chinese"),
        (["zh_Hans", "zh_Hant", "--variant", "mo"], "invalid choice: 'mo'"),
    ],
)
def test_convert_usage_errors(
    copy_env: tuple[Path, Path], capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    try:
        code, _out, err = run(capsys, "i18n", "convert", *argv)
    except SystemExit as exc:  # argparse's own choices
        code, err = int(exc.code or 0), capsys.readouterr().err
    assert code == 2 and message in err


def test_the_hong_kong_variant(copy_env: tuple[Path, Path], capsys: pytest.CaptureFixture[str]):
    content, _locales = copy_env
    code, out, _err = run(capsys, "i18n", "convert", "zh_Hans", "zh_Hant", "--variant", "hk")
    assert code == 0 and out.startswith("zh_Hans -> zh_Hant with OpenCC s2hk")
    text = (content / "zh_Hant" / "about.yaml").read_text(encoding="utf-8")
    assert 'machine_converted: "opencc s2hk from zh_Hans ' in text
    assert "聯繫方式" in text  # Hong Kong keeps the mainland word (Taiwan: 聯絡方式)


# -- patients ----------------------------------------------------------------------------------


async def test_a_hong_kong_reader_gets_traditional_chinese_with_the_note(
    bot: object, emulator: BotAPIEmulator
) -> None:
    user = emulator.user(1101, language_code="zh-hk")
    await user.send("/start")
    menu = user.last_text()
    assert menu.startswith("您好，歡迎使用！") and NOTE in menu
    assert ["🌐 語言"] in user.buttons()
    await user.press("適用腫瘤")
    assert user.last_text().startswith("首頁 › 適用腫瘤")
    # The note closes the topic text, before the "was this helpful?" question under it.
    assert NOTE + "\n\n這些內容對您有幫助嗎？" in user.last_text()
    # Typed questions and warning signs, in Traditional characters.
    before = len(user.bot_messages())
    await user.send("肝血管瘤要開刀嗎", settle=0.15)
    (answer,) = user.bot_messages()[before:]
    assert "良性腫瘤及囊腫" in answer.text.split("\n\n")[1]  # the topic, or the first choice
    before = len(user.bot_messages())
    await user.send("穿刺的地方一直在流血", settle=0.15)
    urgent, _then = user.bot_messages()[before:]
    assert urgent.text.startswith("⚠️ 您描述的情況可能需要緊急就醫。")
    # The language menu names it in its own script.
    await user.send("/language")
    assert user.buttons() == [["English"], ["中文 (简体)"], ["✓ 中文 (繁體)"], ["🏠 首頁"]]
    assert emulator.errors == []


async def test_a_taiwan_reader_gets_it_and_a_mainland_reader_keeps_simplified(
    bot: object, emulator: BotAPIEmulator
) -> None:
    taiwan = emulator.user(1102, language_code="zh-tw")
    await taiwan.send("/start")
    assert NOTE in taiwan.last_text() and "🔔 訂閱醫院資訊" in str(taiwan.buttons())
    mainland = emulator.user(1103, language_code="zh-cn")
    await mainland.send("/start")
    assert mainland.last_text().startswith("您好，欢迎使用！")
    assert "機器轉換" not in mainland.last_text() and "机器转换" not in mainland.last_text()
    # A Traditional question from a Simplified reader is answered in Simplified.
    before = len(mainland.bot_messages())
    await mainland.send("腎囊腫怎麼治療", settle=0.15)
    (answer,) = mainland.bot_messages()[before:]
    assert "首页 › 适用肿瘤 › 良性肿瘤及囊肿 › 肝囊肿、肾囊肿" in answer.text
    # The mainland reader can switch to Traditional, and keeps it.
    await mainland.send("/language")
    await mainland.press("中文 (繁體)")
    assert mainland.last_text().startswith("語言：") and NOTE in mainland.last_text()
    await mainland.send("/start")
    assert NOTE in mainland.last_text()
    assert emulator.errors == []


# -- broadcasts --------------------------------------------------------------------------------


def test_a_broadcast_file_without_a_traditional_text_gets_one_converted(tmp_path: Path) -> None:
    settings = make_settings()
    locales = load_content(settings).locales
    example = PROJECT_ROOT / "examples" / "broadcast.yaml"
    draft, problems = load_broadcast_file(example, available_locales=locales, default_locale="en")
    assert problems == [] and draft is not None
    assert draft.converted == ("zh_Hant",)
    assert draft.texts["zh_Hant"].startswith("<b>介入治療開放日</b>\n6月7日（週六）")
    # A text of its own wins; a Simplified text Telegram would refuse is not converted.
    path = tmp_path / "b.yaml"
    path.write_text("texts:\n  en: Hi\n  zh_Hans: 你好\n  zh_Hant: 您好\n", encoding="utf-8")
    draft, _problems = load_broadcast_file(path, available_locales=locales, default_locale="en")
    assert draft is not None and draft.texts["zh_Hant"] == "您好" and draft.converted == ()
    path.write_text("texts:\n  en: Hi\n  zh_Hans: <b>你好\n", encoding="utf-8")
    draft, problems = load_broadcast_file(path, available_locales=locales, default_locale="en")
    assert draft is None
    assert [p.message.split(":")[0] for p in problems] == [
        "no text for zh_Hant",
        "text for zh_Hans",
    ]
