"""Translators' tools: i18n status, stale translations, mark-translated, render, review footer."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from bot.cli.main import main
from bot.core.content.bundle import load_content
from bot.core.content.checks import run_checks
from bot.core.content.freshness import SNAPSHOT_DIR, source_hash
from bot.core.limits import MAX_MESSAGE_LENGTH
from bot.core.render import Renderer
from bot.core.telegram_html import parse_html, utf16_len
from tests.conftest import converted_again, make_settings, review_pending

CYSTS_OLD = "Liver and kidney cysts (sacs of fluid)"
CYSTS_NEW = "Liver and kidney cysts (fluid-filled sacs)"


@pytest.fixture
def copy_env(
    project_copy: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, Path]:
    content, locales = project_copy
    monkeypatch.setenv("CONTENT_DIR", str(content))
    monkeypatch.setenv("LOCALES_DIR", str(locales))
    return content, locales


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_shipped_translations_are_all_current(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run(capsys, "i18n", "status", "--min-percent", "100", "--format", "json")
    assert code == 0, out
    data = json.loads(out)
    zh = next(loc for loc in data["locales"] if loc["locale"] == "zh_Hans")
    assert zh["catalog"]["percent"] == 100.0
    assert zh["topics"]["percent"] == 100.0
    assert len(zh["topics"]["current"]) == 30
    assert zh["topics"]["stale"] == zh["topics"]["missing"] == zh["topics"]["unmarked"] == []


def test_changed_english_makes_the_translation_stale_until_marked(
    copy_env: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    content, _locales = copy_env
    zh_file = content / "zh_Hans" / "cysts.yaml"
    replace_in(content / "en" / "cysts.yaml", CYSTS_OLD, CYSTS_NEW)

    # i18n status: stale, exit 1, and the diff of the English since the translation.
    code, out, _err = run(capsys, "i18n", "status")
    assert code == 1
    assert "zh_Hans: stale topic 'cysts' (content/zh_Hans/cysts.yaml)" in out
    assert f"    -{CYSTS_OLD}" in out
    assert f"    +{CYSTS_NEW}" in out
    # zh_Hant, converted from zh_Hans, follows the same English: stale too.
    assert "zh_Hant: stale topic 'cysts' (content/zh_Hant/cysts.yaml)" in out
    assert out.rstrip().endswith(
        "i18n status: FAILED: zh_Hans: 1 stale topic(s); zh_Hant: 1 stale topic(s)"
    )
    # --no-diff hides the diff, not the verdict.
    code, out, _err = run(capsys, "i18n", "status", "--no-diff")
    assert code == 1
    assert CYSTS_NEW not in out

    # check: a warning at the file's translated_from line, with the same diff under it.
    code, out, _err = run(capsys, "check")
    assert code == 0
    warning = next(line for line in out.splitlines() if "stale translation of 'cysts'" in line)
    assert warning.strip().startswith("content/zh_Hans/cysts.yaml:5: warning:")
    assert f"-{CYSTS_OLD}" in out and f"+{CYSTS_NEW}" in out
    assert run(capsys, "check", "--strict")[0] == 1

    # The stale topic is still served: the old Chinese is the best text there is.
    loaded = load_content(make_settings(content, _locales))
    renderer = Renderer(loaded.library, loaded.catalogs, make_settings().hospital)
    assert "肝囊肿、肾囊肿" in renderer.topic("zh_Hans", "cysts").text

    # The translator updates the Chinese and marks it: clean again.
    before = zh_file.read_text(encoding="utf-8")
    replace_in(zh_file, "内含液体的囊腔", "充满液体的囊腔")
    code, out, err = run(capsys, "i18n", "mark-translated", "zh_Hans", "cysts")
    assert code == 0, err
    assert out.startswith("zh_Hans/cysts.yaml: translated_from ")
    after = zh_file.read_text(encoding="utf-8")
    # One line changed (the translator's edit aside): translated_from, nothing else.
    changed = [
        (a, b)
        for a, b in zip(before.splitlines(), after.splitlines(), strict=True)
        if a != b and "液体" not in a
    ]
    assert len(changed) == 1 and changed[0][1].startswith("translated_from: ")
    # zh_Hant is now behind zh_Hans: still stale, and its conversion out of date.
    code, out, _err = run(capsys, "i18n", "status")
    assert code == 1
    assert out.rstrip().endswith(
        "i18n status: FAILED: zh_Hant: 1 stale topic(s), 1 machine conversion(s) out of date"
    )
    # Converting again brings the change, and zh_Hans's translated_from, over.
    code, out, err = run(capsys, "i18n", "convert", "zh_Hans", "zh_Hant")
    assert code == 0, err
    assert "  updated    content/zh_Hant/cysts.yaml\n" in out
    assert "充滿液體" in (content / "zh_Hant" / "cysts.yaml").read_text("utf-8")
    code, out, _err = run(capsys, "i18n", "status")
    assert code == 0, out
    assert out.rstrip().endswith("i18n status: OK")
    code, out, _err = run(capsys, "check")
    assert code == 0 and out.rstrip().endswith("check: OK: 0 error(s), 1 warning(s)"), out


def test_mark_translated_keeps_comments_and_formatting(
    copy_env: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    content, locales = copy_env
    path = content / "zh_Hans" / "what.yaml"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines = [ln for ln in lines if not ln.startswith("translated_from:")]
    lines.insert(1, "# 译者：张三，2026 年校对\n")
    original = "".join(lines)
    path.write_text(original, encoding="utf-8")

    code, out, _err = run(capsys, "i18n", "status", "--locale", "zh_Hans")
    assert code == 0  # never marked is not a failure, it is counted
    assert "zh_Hans: 1 topic(s) not marked translated yet: what" in out
    code, out, _err = run(capsys, "check")
    assert "1 topic(s) never marked translated (what)" in out

    assert run(capsys, "i18n", "mark-translated", "zh_Hans", "what")[0] == 0
    marked = path.read_text(encoding="utf-8")
    english = load_content(make_settings(content, locales)).library.trees["en"].topics["what"]
    expected_line = f'translated_from: "{source_hash(english)}"\n'
    assert marked.replace(expected_line, "") == original
    assert "# 译者：张三，2026 年校对\n" in marked
    snapshot = content / "zh_Hans" / SNAPSHOT_DIR / "what.yaml"
    assert english.title in snapshot.read_text(encoding="utf-8")
    # The snapshot folder is not content: the tree still has 30 topics in each locale.
    converted_again(content, locales)  # zh_Hant follows zh_Hans
    report = run_checks(make_settings(content, locales))
    assert [p for p in report.problems if not review_pending(p)] == []
    assert report.topics == {"en": 30, "zh_Hans": 30, "zh_Hant": 30}

    # Marking again is a no-op for the file.
    assert run(capsys, "i18n", "mark-translated", "zh_Hans", "what")[0] == 0
    assert path.read_text(encoding="utf-8") == marked


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["zh_Hans", "no-such-topic"], "en has no topic 'no-such-topic'"),
        (["en", "what"], "en is the source language"),
        (["xx", "what"], "no content for locale 'xx'"),
        (["zh_Hans"], "name the TOPIC ids, or --all"),
        (["--all", "zh_Hans", "what"], "name the TOPIC ids, or --all"),
    ],
)
def test_mark_translated_usage_errors_are_one_line(
    copy_env: tuple[Path, Path], capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _out, err = run(capsys, "i18n", "mark-translated", *argv)
    assert code == 2
    assert err.count("\n") == 1 and message in err, err


def test_mark_translated_refuses_a_broken_file(
    copy_env: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    content, _locales = copy_env
    path = content / "zh_Hans" / "what.yaml"
    replace_in(path, "title: ", 'title: "unterminated ')
    broken = path.read_text(encoding="utf-8")
    code, _out, err = run(capsys, "i18n", "mark-translated", "zh_Hans", "what")
    assert code == 2
    assert "what.yaml:2: YAML syntax error" in err and "fix it first" in err
    assert path.read_text(encoding="utf-8") == broken


def test_missing_topic_fails_status(
    copy_env: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    content, _locales = copy_env
    (content / "zh_Hans" / "disclaimer.yaml").unlink()
    code, out, _err = run(capsys, "i18n", "status", "--format", "json")
    assert code == 1
    zh = next(loc for loc in json.loads(out)["locales"] if loc["locale"] == "zh_Hans")
    assert zh["topics"]["missing"] == ["disclaimer"]
    assert zh["failures"] == ["1 missing topic(s)"]


def test_a_new_language_from_scratch_counts_its_progress(
    copy_env: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    content, locales = copy_env
    # As TRANSLATING.md says: copy the English topics, create the catalog from the template.
    shutil.copytree(content / "en", content / "fr")
    assert main(["i18n", "status", "--locale", "fr"]) == 0  # no catalog yet: counted, 0%
    assert "fr: no catalog" in capsys.readouterr().out
    from babel.messages.frontend import CommandLineInterface

    CommandLineInterface().run(
        [
            "pybabel",
            "-q",
            "init",
            "-i",
            str(locales / "messages.pot"),
            "-d",
            str(locales),
            "-l",
            "fr",
        ]
    )
    po = locales / "fr" / "LC_MESSAGES" / "messages.po"
    text = po.read_text(encoding="utf-8")
    with (locales / "messages.pot").open("rb") as fh:
        total = sum(1 for m in read_po(fh) if m.id)
    # Translate two entries, and leave one translated but fuzzy.
    text = text.replace('msgid "Back"\nmsgstr ""', 'msgid "Back"\nmsgstr "Retour"')
    text = text.replace('msgid "Home"\nmsgstr ""', 'msgid "Home"\nmsgstr "Accueil"')
    text = text.replace('msgid "Next"\nmsgstr ""', '#, fuzzy\nmsgid "Next"\nmsgstr "Suivant"')
    po.write_text(text, encoding="utf-8")
    # Translate three topics and mark them.
    for tid in ("what", "role", "features"):
        replace_in(content / "fr" / f"{tid}.yaml", "title: ", "title: FR ")
    assert main(["i18n", "mark-translated", "fr", "what", "role", "features"]) == 0
    capsys.readouterr()

    code, out, _err = run(capsys, "i18n", "status", "--locale", "fr", "--format", "json")
    assert code == 0
    fr = json.loads(out)["locales"][0]
    assert fr["catalog"] == {
        "exists": True,
        "total": total,
        "translated": 2,
        "fuzzy": 1,
        "untranslated": total - 3,
        "percent": round(200 / total, 1),
    }
    assert fr["topics"]["percent"] == round(300 / 30, 1)
    assert sorted(fr["topics"]["current"]) == ["features", "role", "what"]
    assert len(fr["topics"]["unmarked"]) == 27

    code, out, _err = run(capsys, "i18n", "status", "--locale", "fr", "--min-percent", "50")
    assert code == 1
    assert f"interface strings {200 / total:.1f}% translated (below --min-percent 50)" in out
    assert out.rstrip().splitlines()[-1].startswith("i18n status: FAILED: fr: ")
    table_row = next(line for line in out.splitlines() if line.startswith("fr "))
    assert table_row.split()[:9] == [
        "fr",
        f"{200 / total:.0f}%",
        "2",
        "1",
        str(total - 3),
        "10%",
        "3",
        "0",
        "27",
    ]


def test_status_unknown_locale_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run(capsys, "i18n", "status", "--locale", "klingon")
    assert code == 2
    assert err.startswith("interventional-bot: --locale: 'klingon'") and err.count("\n") == 1


def test_review_age_is_warned_by_check_and_counted_by_status(
    copy_env: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    content, _locales = copy_env
    replace_in(content / "en" / "stents.yaml", "reviewed: 2026-11-30", "reviewed: 2020-01-31")
    code, out, _err = run(capsys, "check")
    assert code == 0
    assert any(
        line.strip().startswith("content/en/stents.yaml:")
        and "warning: topic 'stents' was last reviewed on 2020-01-31" in line
        for line in out.splitlines()
    ), out
    code, out, _err = run(capsys, "i18n", "status", "--format", "json")
    en = next(loc for loc in json.loads(out)["locales"] if loc["locale"] == "en")
    assert [d["topic"] for d in en["review_due"]] == ["stents"]
    # The age is a setting and a flag: 10 days makes every topic due ten days from now.
    settings = make_settings(content, _locales, REVIEW_MAX_AGE_DAYS="10")
    later = run_checks(settings, today=date(2026, 12, 31))
    # 30 topics in each of the 3 languages, and the 3 privacy notices (privacy.yaml).
    assert sum("last reviewed" in p.message for p in later.warnings) == 90 + 3
    code, out, _err = run(
        capsys, "i18n", "status", "--review-max-age-days", "100000", "--format", "json"
    )
    assert all(loc["review_due"] == [] for loc in json.loads(out)["locales"])


def test_render_prints_the_topic_as_telegram_shows_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _err = run(capsys, "render", "benign", "--lang", "zh_Hans")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("── benign · zh_Hans · page 1 of 1 ")
    assert lines[1] == "首页 › 适用肿瘤 › 良性肿瘤及囊肿"
    assert "<b>" not in out  # the visible text, as on the phone
    assert "方法是超选择性靶血管颗粒栓塞术" in out
    assert lines[-5:] == [
        "[1] 肝囊肿、肾囊肿",
        "[2] 📖 本页术语",
        "[3] 👍   [4] 👎",
        "[5] ⬅ 返回   [6] 🏠 首页",
        "",
    ]
    code, out, _err = run(capsys, "render", "liver-cancer", "--lang", "zh_Hans", "--words")
    assert code == 0
    assert "── words on page 1 · 1 of 1 " in out
    assert "化疗栓塞（TACE）——把化疗药物注入供应肿瘤的动脉，同时进行栓塞。" in out
    code, out, _err = run(capsys, "render", "incision", "--words")
    assert code == 0 and "── (page 1 uses no glossary term)" in out
    code, out, _err = run(capsys, "render", "home", "--html")
    assert code == 0 and "<b>interventional therapy</b>" in out
    assert "[1] What is it?" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["render", "nope"], "TOPIC: 'nope' is not a topic of en"),
        (["render", "what", "--lang", "fr"], "--lang: 'fr' is not one of en, zh_Hans"),
        (["render", "what", "--page", "9"], "--page: 9, but 'what' has 1 page(s) in en"),
    ],
)
def test_render_usage_errors(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _out, err = run(capsys, *argv)
    assert code == 2
    assert err.count("\n") == 1 and message in err, err


def test_every_topic_ends_with_who_reviewed_it_and_when(project_copy: tuple[Path, Path]) -> None:
    loaded = load_content(make_settings())
    renderer = Renderer(loaded.library, loaded.catalogs, make_settings().hospital)
    en = renderer.topic("en", "what").text
    # The review line ends the topic; only the question above 👍 👎 comes after it.
    assert en.endswith(
        "<i>Reviewed by Interventional radiology consultant (draft sign-off pending) on "
        "November 26, 2026</i>\n\n<i>Was this helpful?</i>"
    )
    # The date is formatted by Babel for the locale, the sentence by the catalog.
    assert renderer.topic("zh_Hans", "what").text.endswith(
        "<i>由介入放射科专科医师（草稿，待临床签字确认）于2026年11月26日审核</i>"
        "\n\n<i>这些内容对您有帮助吗？</i>"
    )
    assert "Reviewed" not in renderer.home("en").text
    # Who is said only with when: without `reviewed_by`, the date alone.
    content, locales = project_copy
    for locale in ("en", "zh_Hans"):
        path = content / locale / "what.yaml"
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        path.write_text("".join(x for x in lines if not x.startswith("reviewed_by:")), "utf-8")
    loaded = load_content(make_settings(content, locales))
    renderer = Renderer(loaded.library, loaded.catalogs, make_settings().hospital)
    ask = {"en": "\n\n<i>Was this helpful?</i>", "zh_Hans": "\n\n<i>这些内容对您有帮助吗？</i>"}
    assert renderer.topic("en", "what").text.endswith(
        "<i>Last reviewed: November 26, 2026</i>" + ask["en"]
    )
    assert renderer.topic("zh_Hans", "what").text.endswith(
        "<i>最后审核日期：2026年11月26日</i>" + ask["zh_Hans"]
    )


def test_status_counts_topics_without_signoff(
    copy_env: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    content, _locales = copy_env
    for tid in ("what", "risks"):
        path = content / "zh_Hans" / f"{tid}.yaml"
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        path.write_text("".join(x for x in lines if not x.startswith("reviewed_by:")), "utf-8")
    converted_again(content, _locales)  # zh_Hant follows zh_Hans
    code, out, _err = run(capsys, "i18n", "status", "--format", "json")
    assert code == 0  # counted, and warned about by check, but not a failure
    data = {loc["locale"]: loc for loc in json.loads(out)["locales"]}
    assert data["en"]["no_signoff"] == []
    assert [t["topic"] for t in data["zh_Hans"]["no_signoff"]] == ["risks", "what"]
    assert [t["topic"] for t in data["zh_Hant"]["no_signoff"]] == ["risks", "what"]
    code, out, _err = run(capsys, "i18n", "status")
    assert code == 0
    header = next(line for line in out.splitlines() if line.startswith("locale "))
    assert header.rstrip().endswith("review due no sign-off unreviewed")
    zh_row = next(line for line in out.splitlines() if line.startswith("zh_Hans "))
    en_row = next(line for line in out.splitlines() if line.startswith("en "))
    assert zh_row.split()[-2] == "2" and en_row.split()[-2] == "0"
    assert "zh_Hans: 2 topic(s) without 'reviewed_by' (no sign-off): risks, what" in out


def test_a_changed_english_glossary_makes_its_translation_stale(
    copy_env: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    content, _locales = copy_env
    path = content / "en" / "glossary-body.yaml"
    replace_in(path, 'aliases: ["vertebrae"]', 'aliases: ["vertebrae", "vertebral body"]')
    code, out, _err = run(capsys, "i18n", "status")
    assert code == 1
    assert "zh_Hans: stale topic 'glossary-body'" in out
    assert "    -- Vertebra (vertebrae): one of the bones of the spine." in out
    assert "    +- Vertebra (vertebrae, vertebral body): one of the bones of the spine." in out
    replace_in(path, "one of the bones of the spine.", "a bone of the spine.")
    code, out, _err = run(capsys, "i18n", "status")
    assert "    +- Vertebra (vertebrae, vertebral body): a bone of the spine." in out
    # The translator updates the Chinese and marks it: current again, the snapshot follows
    # (and zh_Hant with it, once converted again).
    assert run(capsys, "i18n", "mark-translated", "zh_Hans", "glossary-body")[0] == 0
    assert run(capsys, "i18n", "convert", "zh_Hans", "zh_Hant")[0] == 0
    assert run(capsys, "i18n", "status")[0] == 0
    snapshot = (content / "zh_Hans" / SNAPSHOT_DIR / "glossary-body.yaml").read_text("utf-8")
    assert "vertebral body" in snapshot and "a bone of the spine." in snapshot
    # A topic without terms hashes as before terms existed: its translated_from stays valid.
    what = load_content(make_settings()).library.trees["en"].topics["what"]
    assert source_hash(what) == "29a8b7ab8460"


def test_the_footer_counts_against_the_page_limit() -> None:
    """A body that exactly fills a page without the footer must still fit with it."""
    loaded = load_content(make_settings())
    library = loaded.library
    tree = library.trees["en"]
    what = tree.topics["what"]
    paragraph = "Interventional therapy explained in plain words. " * 20
    body = "\n\n".join(paragraph.strip() for _ in range(12))
    from dataclasses import replace

    from bot.core.content.model import ContentTree, Library

    topics = {**tree.topics, "what": replace(what, body=body)}
    big = Library({**library.trees, "en": ContentTree("en", topics)})
    for limit in (700, 1500, MAX_MESSAGE_LENGTH):
        renderer = Renderer(big, loaded.catalogs, make_settings().hospital, page_limit=limit)
        pages = renderer.page_count("en", "what")
        assert pages > 1
        for page in range(pages):
            text = renderer.topic("en", "what", page).text
            assert utf16_len(parse_html(text).text) <= limit
            assert "Reviewed by Interventional radiology consultant" in text
