"""`interventional-bot check`: clean on the shipped files, and each planted defect is named."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from bot.cli.main import main
from bot.config import PROJECT_ROOT
from bot.core.content.checks import run_checks
from tests.conftest import CONTENT, converted_again, make_settings, review_pending

Plant = Callable[[Path, Path], None]


def edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def yaml_syntax(content: Path, locales: Path) -> None:
    edit(content / "en" / "what.yaml", "title: ", 'title: "unterminated ')


def missing_field(content: Path, locales: Path) -> None:
    path = content / "en" / "role.yaml"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(x for x in lines if not x.startswith("reviewed:")), encoding="utf-8")


def duplicate_id(content: Path, locales: Path) -> None:
    text = (content / "en" / "what.yaml").read_text(encoding="utf-8")
    (content / "en" / "what-again.yaml").write_text(text, encoding="utf-8")


def shape_differs(content: Path, locales: Path) -> None:
    edit(content / "zh_Hans" / "features.yaml", "  - incision\n", "")
    edit(content / "zh_Hans" / "features.yaml", "  - recovery\n", "  - recovery\n  - incision\n")


def missing_translation_of_a_topic(content: Path, locales: Path) -> None:
    (content / "zh_Hans" / "disclaimer.yaml").unlink()
    edit(content / "zh_Hans" / "home.yaml", "  - disclaimer\n", "")


def unknown_child(content: Path, locales: Path) -> None:
    edit(content / "en" / "suitable.yaml", "  - benign\n", "  - benign\n  - benin\n")


def orphan(content: Path, locales: Path) -> None:
    text = (content / "en" / "what.yaml").read_text(encoding="utf-8")
    (content / "en" / "lost.yaml").write_text(text.replace("id: what", "id: lost"), "utf-8")


def too_deep(content: Path, locales: Path) -> None:
    for loc in ("en", "zh_Hans"):
        edit(content / loc / "stents.yaml", "source:", "children:\n  - bleeding\nsource:")
        edit(content / loc / "complications.yaml", "  - bleeding\n", "")


def page_too_long(content: Path, locales: Path) -> None:
    edit(content / "en" / "recovery.yaml", "title: ", "title: " + "Very long title " * 300)


def screen_too_long(content: Path, locales: Path) -> None:
    # 601 visible characters in one paragraph: tags do not count, entities count as one.
    paragraph = "<b>Bold</b> " + "x" * 589 + " &amp; four"
    edit(content / "en" / "repeatable.yaml", "body: |\n", f"body: |\n  {paragraph}\n\n")


def screen_just_fits(content: Path, locales: Path) -> None:
    """600 characters pass (the same paragraph, one character shorter)."""
    paragraph = "<b>Bold</b> " + "x" * 588 + " &amp; four"
    edit(content / "en" / "repeatable.yaml", "body: |\n", f"body: |\n  {paragraph}\n\n")


def page_beyond_three_taps(content: Path, locales: Path) -> None:
    # bleeding is 3 taps deep: a second page would be the 4th tap.
    paragraph = "More about bleeding, in a long second paragraph. " * 11
    edit(content / "en" / "bleeding.yaml", "body: |\n", f"body: |\n  {paragraph}\n\n")


def glossary_word_twice(content: Path, locales: Path) -> None:
    edit(
        content / "en" / "glossary-tumours.yaml",
        'aliases: ["cysts"]',
        'aliases: ["cysts", "TACE"]',
    )


def glossary_term_untranslated(content: Path, locales: Path) -> None:
    path = content / "zh_Hans" / "glossary-conditions.yaml"
    text = path.read_text(encoding="utf-8")
    cut = text.index('  - term: "破裂"')
    path.write_text(text[:cut], encoding="utf-8")


def glossary_definition_html(content: Path, locales: Path) -> None:
    edit(content / "en" / "glossary-body.yaml", '"one of the bones', '"<i>one of the bones')


def draft_home(content: Path, locales: Path) -> None:
    edit(content / "en" / "home.yaml", "source:", "status: draft\nsource:")


def bad_status(content: Path, locales: Path) -> None:
    edit(content / "en" / "what.yaml", "source:", "status: hidden\nsource:")


def unsupported_tag(content: Path, locales: Path) -> None:
    edit(content / "en" / "targeted.yaml", "body: |\n", "body: |\n  <div>boxed</div>\n\n")


def tag_across_paragraphs(content: Path, locales: Path) -> None:
    edit(
        content / "en" / "incision.yaml", "body: |\n", "body: |\n  <b>bold\n\n  still bold</b>\n\n"
    )


def unknown_field(content: Path, locales: Path) -> None:
    edit(content / "en" / "what.yaml", "source:", "sourse: typo\nsource:")


def bad_date(content: Path, locales: Path) -> None:
    edit(content / "en" / "what.yaml", "reviewed: 2026-11-26", "reviewed: last week")


ZH_PO = Path("zh_Hans") / "LC_MESSAGES" / "messages.po"


def untranslated(content: Path, locales: Path) -> None:
    edit(locales / ZH_PO, 'msgid "Back"\nmsgstr "返回"', 'msgid "Back"\nmsgstr ""')


def fuzzy(content: Path, locales: Path) -> None:
    edit(locales / ZH_PO, 'msgid "Next"\n', '#, fuzzy\nmsgid "Next"\n')


def placeholder_differs(content: Path, locales: Path) -> None:
    edit(locales / ZH_PO, "第 {page} 页，共 {pages} 页", "第 {pg} 页，共 {pages} 页")


def format_spec(content: Path, locales: Path) -> None:
    # Would allocate a gigabyte on every render of the page line.
    edit(locales / ZH_PO, "第 {page} 页，共 {pages} 页", "第 {page:>999999999} 页，共 {pages} 页")


def conversion(content: Path, locales: Path) -> None:
    edit(locales / ZH_PO, "第 {page} 页，共 {pages} 页", "第 {page!r} 页，共 {pages} 页")


def attribute_access(content: Path, locales: Path) -> None:
    edit(locales / ZH_PO, "第 {page} 页，共 {pages} 页", "第 {page.__class__} 页，共 {pages} 页")


LAUGHS = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]\n"
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
)


def billion_laughs(content: Path, locales: Path) -> None:
    # Nine aliases of nine aliases of … : about a billion strings once expanded.
    path = content / "en" / "what.yaml"
    path.write_text('a: &a ["lol"]\n' + LAUGHS + path.read_text(encoding="utf-8"), "utf-8")


def python_tag(content: Path, locales: Path) -> None:
    edit(
        content / "interests.yaml", "  - id: events", "  - id: !!python/object/apply:os.getpid []"
    )


def privacy_notice_missing(content: Path, locales: Path) -> None:
    (content / "en" / "privacy.yaml").unlink()


def privacy_notice_bad_html(content: Path, locales: Path) -> None:
    edit(content / "zh_Hans" / "privacy.yaml", "<b>为什么保存</b>", "<b>为什么保存")


def privacy_notice_missing_field(content: Path, locales: Path) -> None:
    edit(content / "en" / "privacy.yaml", "reviewed_by:", "signed_by:")


def broken_placeholder(content: Path, locales: Path) -> None:
    edit(locales / ZH_PO, "电话：{phone}", "电话：{phone")


def po_syntax(content: Path, locales: Path) -> None:
    edit(locales / ZH_PO, 'msgid "Next"\n', 'this line is not gettext\nmsgid "Next"\n')


def catalog_behind_template(content: Path, locales: Path) -> None:
    edit(locales / ZH_PO, 'msgid "Next"\nmsgstr "下一页"\n', "")


def content_without_catalog(content: Path, locales: Path) -> None:
    (content / "fr").mkdir()
    (content / "fr" / "home.yaml").write_text(
        (content / "en" / "home.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )


def po_line(msgid: str) -> str:
    """``file:line`` of ``msgid`` in the shipped Chinese catalog (its line moves as it grows)."""
    lines = (PROJECT_ROOT / "locales" / ZH_PO).read_text(encoding="utf-8").splitlines()
    wanted = 'msgid "' + msgid + '"'
    return f"locales/{ZH_PO.as_posix()}:{lines.index(wanted) + 1}"


PAGE_LINE = po_line("Page {page} of {pages}")

CASES: list[tuple[Plant, str, str]] = [
    (yaml_syntax, "content/en/what.yaml:2", "YAML syntax error"),
    (missing_field, "content/en/role.yaml:1", "missing field 'reviewed'"),
    (duplicate_id, "content/en/what.yaml:1", "duplicate topic id 'what'"),
    (shape_differs, "content/zh_Hans/features.yaml:", "tree shape differs from en"),
    (missing_translation_of_a_topic, "content/zh_Hans/disclaimer.yaml", "missing in zh_Hans"),
    (unknown_child, "content/en/suitable.yaml:", "child 'benin' has no file benin.yaml"),
    (orphan, "content/en/lost.yaml:1", "not reachable from the main menu"),
    (too_deep, "content/en/bleeding.yaml:1", "4 taps from the main menu"),
    (page_too_long, "content/en/recovery.yaml:", "message is too long"),
    (
        screen_too_long,
        "content/en/repeatable.yaml:7",
        "page 1 of 2: 601 characters of text on one screen, at most 600 (the body as the "
        "patient reads it, tags removed; the breadcrumb, title and last line are not counted)",
    ),
    (page_beyond_three_taps, "content/en/bleeding.yaml:", "page 2 of 2 of 'bleeding' is 4 taps"),
    (
        glossary_word_twice,
        "content/en/glossary-tumours.yaml:",
        "glossary word 'tace' of 'Cyst' is also a word of 'Chemoembolization (TACE)' in "
        "'glossary-procedures'",
    ),
    (
        glossary_term_untranslated,
        "content/zh_Hans/glossary-conditions.yaml:",
        "glossary 'glossary-conditions' has 7 term(s) here, 8 in en",
    ),
    (glossary_definition_html, "content/en/glossary-body.yaml:", "definition of 'Vertebra': HTML"),
    (draft_home, "content/en/home.yaml:", "the home topic cannot be a draft"),
    (bad_status, "content/en/what.yaml:", "field 'status' must be one of published, draft"),
    (unsupported_tag, "content/en/targeted.yaml:", 'Unsupported start tag "div"'),
    (tag_across_paragraphs, "content/en/incision.yaml:", "a paragraph must parse on its own"),
    (unknown_field, "content/en/what.yaml:", "unknown field 'sourse'"),
    (bad_date, "content/en/what.yaml:", "must be a date YYYY-MM-DD"),
    (untranslated, "locales/zh_Hans/LC_MESSAGES/messages.po:", "untranslated entry 'Back'"),
    (fuzzy, "locales/zh_Hans/LC_MESSAGES/messages.po:", "fuzzy entry 'Next'"),
    (
        placeholder_differs,
        "locales/zh_Hans/LC_MESSAGES/messages.po:",
        "placeholders differ in 'Page {page} of {pages}': msgid has {page}, {pages}, "
        "msgstr has {pages}, {pg}",
    ),
    (broken_placeholder, "locales/zh_Hans/LC_MESSAGES/messages.po:", "broken placeholder"),
    (
        format_spec,
        PAGE_LINE,
        "msgstr of 'Page {page} of {pages}': format spec in {page:>999999999}",
    ),
    (conversion, PAGE_LINE, "conversion in {page!r}"),
    (
        attribute_access,
        PAGE_LINE,
        "placeholder {page.__class__} must be a plain {name}",
    ),
    (billion_laughs, "content/en/what.yaml:1", "YAML anchor &a is not allowed"),
    (python_tag, "content/interests.yaml:", "YAML tag !!python/object/apply:os.getpid"),
    (privacy_notice_missing, "content/en/privacy.yaml", "no privacy notice"),
    (privacy_notice_bad_html, "content/zh_Hans/privacy.yaml:", "body HTML: "),
    (privacy_notice_missing_field, "content/en/privacy.yaml:", "missing field 'reviewed_by'"),
    (po_syntax, "locales/zh_Hans/LC_MESSAGES/messages.po:", "Unknown or misformatted keyword"),
    (catalog_behind_template, "locales/zh_Hans/LC_MESSAGES/messages.po", "'Next' of messages.pot"),
    (content_without_catalog, "locales/fr/LC_MESSAGES/messages.po", "has content but no catalog"),
]


def test_shipped_content_and_catalogs_are_clean() -> None:
    # The shipped topics were reviewed on 2026-11-26; pin "today" so this stays date-proof.
    report = run_checks(make_settings(), today=date(2026, 11, 27))
    # The one warning intended: zh_Hant is converted by machine and waits for its review.
    assert [(p.severity, p.path) for p in report.problems] == [("warning", CONTENT / "zh_Hant")]
    assert report.problems[0].message.startswith("converted by machine from zh_Hans (s2twp)")
    assert report.topics == {"en": 30, "zh_Hans": 30, "zh_Hant": 30}


@pytest.mark.parametrize(
    ("plant", "location", "message"), CASES, ids=[c[0].__name__ for c in CASES]
)
def test_planted_defect_is_reported_with_its_place(
    plant: Plant,
    location: str,
    message: str,
    project_copy: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    content, locales = project_copy
    plant(content, locales)
    monkeypatch.setenv("CONTENT_DIR", str(content))
    monkeypatch.setenv("LOCALES_DIR", str(locales))
    assert main(["check"]) == 1
    out = capsys.readouterr().out
    errors = [line.strip() for line in out.splitlines() if ": error: " in line]
    assert any(e.startswith(location) and message in e for e in errors), out
    assert out.rstrip().splitlines()[-1].startswith("check: FAILED:")


def test_a_screen_of_exactly_600_characters_passes(project_copy: tuple[Path, Path]) -> None:
    content, locales = project_copy
    screen_just_fits(content, locales)
    report = run_checks(make_settings(content, locales), today=date(2026, 11, 27))
    assert report.errors == []
    assert [p.message.split(":")[0] for p in report.warnings if not review_pending(p)] == [
        "stale translation of 'repeatable'",  # the English changed; nothing else to say
        "stale translation of 'repeatable'",  # (in zh_Hans and zh_Hant)
    ]


def test_a_topic_without_signoff_is_a_warning(
    project_copy: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    content, locales = project_copy
    path = content / "zh_Hans" / "incision.yaml"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(x for x in lines if not x.startswith("reviewed_by:")), "utf-8")
    converted_again(content, locales)  # zh_Hant follows zh_Hans
    monkeypatch.setenv("CONTENT_DIR", str(content))
    monkeypatch.setenv("LOCALES_DIR", str(locales))
    monkeypatch.setenv("REVIEW_MAX_AGE_DAYS", "36500")
    assert main(["check"]) == 0  # a warning, not an error
    out = capsys.readouterr().out
    for locale in ("zh_Hans", "zh_Hant"):
        warning = f"content/{locale}/incision.yaml:3: warning: topic 'incision' has no "
        warning += "'reviewed_by'"
        assert any(line.strip().startswith(warning) for line in out.splitlines()), out
    # ... and the one that is always there: zh_Hant's machine conversion waits for review.
    assert out.rstrip().endswith("check: OK: 0 error(s), 3 warning(s)")
    assert main(["check", "--strict"]) == 1


def test_a_draft_is_validated_though_never_served(
    project_copy: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    content, locales = project_copy
    path = content / "en" / "bleeding.yaml"
    edit(path, "source:", "status: draft\nsource:")
    monkeypatch.setenv("CONTENT_DIR", str(content))
    monkeypatch.setenv("LOCALES_DIR", str(locales))
    monkeypatch.setenv("REVIEW_MAX_AGE_DAYS", "36500")
    assert main(["check"]) == 0
    capsys.readouterr()
    # Its mistakes are still errors: a draft is checked like any topic before it is published.
    edit(path, "body: |\n", "body: |\n  <b>bold\n\n  still bold</b>\n\n")
    assert main(["check"]) == 1
    out = capsys.readouterr().out
    assert "content/en/bleeding.yaml:" in out and "a paragraph must parse on its own" in out


def test_check_as_a_command(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("CONTENT_DIR", "LOCALES_DIR")}
    env["REVIEW_MAX_AGE_DAYS"] = "36500"  # review-age warnings are pinned elsewhere, by date
    done = subprocess.run(
        [sys.executable, "-m", "bot", "check"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"en\s+30 topics", done.stdout)
    assert "content/zh_Hant: warning: converted by machine from zh_Hans" in done.stdout
    assert done.stdout.rstrip().endswith("check: OK: 0 error(s), 1 warning(s)")


@pytest.mark.parametrize(
    ("variable", "value"),
    [("CONTENT_DIR", "/nonexistent"), ("DEFAULT_LOCALE", "nope-nope"), ("ADMIN_IDS", "x")],
)
def test_bad_environment_is_one_line_and_exit_2(variable: str, value: str) -> None:
    env = {**os.environ, variable: value, "BOT_TOKEN": "123:abc"}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"interventional-bot: {variable}: ")
    assert "Traceback" not in done.stderr
