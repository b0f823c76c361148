"""The urgent signs' pattern language, the shipped urgent.yaml files, and `check` on defects
planted in them and in topic keywords (named with file:line, as in test_check.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bot.cli.main import main
from bot.core.content.checks import run_checks
from bot.core.content.urgent import compile_phrase, load_urgent, matchable
from tests.conftest import CONTENT, make_settings, review_pending
from tests.test_check import Plant, edit

MESSAGES = yaml.safe_load(
    (Path(__file__).parent / "urgent_messages.yaml").read_text(encoding="utf-8")
)
RULES = load_urgent(CONTENT, ["en", "zh_Hans", "zh_Hant"]).rules


def signs(text: str) -> list[str]:
    return [name for rules in RULES.values() for name in rules.signs_in(text)]


def matches(phrase: str, text: str) -> bool:
    pattern = compile_phrase(phrase)
    assert not isinstance(pattern, str), pattern
    return pattern.search(matchable(text)) is not None


@pytest.mark.parametrize(
    ("phrase", "text", "expected"),
    [
        ("bleed*", "It is BLEEDING a lot", True),
        ("bleed*", "nosebleed", False),  # whole words in Latin script
        ("short of breath", "I'm short-of-breath", True),
        ("short of breath", "short of breathing", False),
        ("can't breathe", "I cant breathe", True),  # apostrophes are ignored, both sides
        ("can't breathe", "I can’t breathe", True),
        ("vomit* ... blood", "vomited a lot of blood", True),
        ("vomit* ... blood", "vomited, and much later in the evening I had a blood test", False),
        ("大便...黑", "大便是黑色的", True),
        ("出血", "伤口出血了", True),  # Chinese anywhere, no word boundaries
        ("tace", "TACE后发烧", True),  # a Latin word next to Chinese is still a word
        ("fever", "ＦＥＶＥＲ", True),  # full-width letters
        ("/(3[89]|4[0-2]) ?(°|度)/", "体温39度", True),
        ("/(3[89]|4[0-2]) ?(°|度)/", "39℃", True),
    ],
)
def test_a_phrase_matches_as_a_clinician_would_read_it(
    phrase: str, text: str, expected: bool
) -> None:
    assert matches(phrase, text) is expected


@pytest.mark.parametrize(
    ("phrase", "problem"),
    [
        ("/(unclosed/", "invalid regular expression"),
        ("bl*eed", "`*` goes at the end of a word"),
        ("... blood", "`...` goes between words"),
        ("/a*/", "matches an empty text"),
    ],
)
def test_an_unusable_phrase_says_why(phrase: str, problem: str) -> None:
    result = compile_phrase(phrase)
    assert isinstance(result, str)
    assert problem in result


def test_except_takes_phrases_out_and_unless_silences_the_sign(tmp_path: Path) -> None:
    path = tmp_path / "urgent.yaml"
    path.write_text(
        "source: test\nmessage: Call {emergency_number}\nafter_hours: '{phone}'\nsigns:\n"
        "  - sign: bleeding\n    any: [blood]\n    with: [my]\n"
        "    except: [blood test*]\n    unless: [what is]\n",
        encoding="utf-8",
    )
    (rules,) = load_urgent(tmp_path.parent, [tmp_path.name]).rules.values()
    assert rules.signs_in("there is blood on my leg") == ["bleeding"]
    assert rules.signs_in("my blood tests are back") == []  # "blood test" is not bleeding
    assert rules.signs_in("my blood tests are back and there is blood in my pee") == ["bleeding"]
    assert rules.signs_in("what is blood, on my screen") == []
    assert rules.signs_in("there is blood") == []  # `with:` missing


@pytest.mark.parametrize("locale", ["en", "zh_Hans", "zh_Hant"])
def test_the_shipped_signs_catch_every_urgent_message_and_no_question(locale: str) -> None:
    missed = [t for t in MESSAGES["urgent"][locale] if not signs(t)]
    assert missed == []
    alarmed = {t: signs(t) for t in MESSAGES["informational"][locale] if signs(t)}
    assert alarmed == {}


def test_traditional_chinese_meets_the_simplified_signs() -> None:
    """Text is matched in Simplified characters (textnorm.fold_script): the zh_Hans signs alone
    catch every Traditional message, Taiwan and Hong Kong variant characters included, so a
    locale's signs do not depend on the script a patient types in."""
    missed = [t for t in MESSAGES["urgent"]["zh_Hant"] if not RULES["zh_Hans"].signs_in(t)]
    assert missed == []
    # And the other way: the zh_Hant signs catch the Simplified messages.
    missed = [t for t in MESSAGES["urgent"]["zh_Hans"] if not RULES["zh_Hant"].signs_in(t)]
    assert missed == []
    assert matches("痰里有血", "痰裏有血") and matches("痰裡有血", "痰里有血")
    assert matches("/体温 ?(3[89]|4[0-2])/", "體温39")  # a regular expression too


def test_the_shipped_files_cover_the_signs_the_issue_names() -> None:
    en = {sign.name for sign in RULES["en"].signs}
    for needed in ("fever", "bleeding", "breath", "vomiting", "black", "fainting", "chest pain",
                   "severe pain", "legs", "yellow"):  # fmt: skip
        assert any(needed in name for name in en), needed
    assert len(RULES["zh_Hans"].signs) >= 12
    for rules in RULES.values():
        assert "{emergency_number}" in rules.message


# -- check: planted defects ----------------------------------------------------------------


def line_of(path: Path, text: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, start=1) if text in line)


EN_URGENT = Path("en") / "urgent.yaml"
ZH_URGENT = Path("zh_Hans") / "urgent.yaml"


def bad_regex(content: Path, locales: Path) -> None:
    edit(content / EN_URGENT, '"/(?<!\\\\d)(3[89]', '"/(?<!\\\\d(3[89]')


def empty_list(content: Path, locales: Path) -> None:
    edit(content / ZH_URGENT, "    except: [不发烧, 没发烧, 没有发烧, 体温正常]", "    except: []")


def star_inside(content: Path, locales: Path) -> None:
    edit(content / EN_URGENT, "[bleed*, blead*, blood,", "[bl*eed, blead*, blood,")


def unknown_placeholder(content: Path, locales: Path) -> None:
    edit(content / EN_URGENT, "call {emergency_number} now", "call {emergency} now")


def bad_html(content: Path, locales: Path) -> None:
    edit(content / ZH_URGENT, "<b>{phone}</b>", "<b>{phone}")


def sign_without_words(content: Path, locales: Path) -> None:
    edit(content / EN_URGENT, "  - sign: chest pain\n    any:", "  - sign: chest pain\n    anyy:")


def missing_file(content: Path, locales: Path) -> None:
    (content / ZH_URGENT).unlink()


def keyword_not_a_list(content: Path, locales: Path) -> None:
    edit(content / "en" / "incision.yaml", "keywords:\n  - small cut\n", "keywords: small cut\n")


def keyword_twice(content: Path, locales: Path) -> None:
    edit(content / "zh_Hans" / "incision.yaml", "  - 伤口\n", "  - 伤口\n  - 伤口\n")


# (plant, file, the text on the line the error names, message)
CASES: list[tuple[Plant, Path, str, str]] = [
    (bad_regex, EN_URGENT, "(?<!\\\\d(3[89]", "invalid regular expression"),
    (empty_list, ZH_URGENT, "except: []", "except: must be a non-empty list of phrases"),
    (star_inside, EN_URGENT, "bl*eed", "`*` goes at the end of a word (bleed*)"),
    (unknown_placeholder, EN_URGENT, "message:", "unknown placeholder {emergency}"),
    (bad_html, ZH_URGENT, "after_hours:", "after_hours: Telegram HTML"),
    (sign_without_words, EN_URGENT, "sign: chest pain", "missing `any:`"),
    (keyword_not_a_list, Path("en") / "incision.yaml", "keywords:", "must be a list"),
    (
        keyword_twice,
        Path("zh_Hans") / "incision.yaml",
        "keywords:",
        "keyword '伤口' is listed twice",
    ),
]


@pytest.mark.parametrize(
    ("plant", "file", "marker", "message"), CASES, ids=[c[0].__name__ for c in CASES]
)
def test_planted_defect_is_reported_with_its_line(
    plant: Plant,
    file: Path,
    marker: str,
    message: str,
    project_copy: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    content, locales = project_copy
    plant(content, locales)
    location = f"content/{file.as_posix()}:{line_of(content / file, marker)}:"
    monkeypatch.setenv("CONTENT_DIR", str(content))
    monkeypatch.setenv("LOCALES_DIR", str(locales))
    assert main(["check"]) == 1
    out = capsys.readouterr().out
    errors = [line.strip() for line in out.splitlines() if ": error: " in line]
    assert any(e.startswith(location) and message in e for e in errors), out


def test_a_missing_urgent_file_is_an_error(project_copy: tuple[Path, Path]) -> None:
    content, locales = project_copy
    missing_file(content, locales)
    report = run_checks(make_settings(content, locales))
    assert [p.format(content.parent) for p in report.errors] == [
        "content/zh_Hans/urgent.yaml: error: missing urgent.yaml: every locale needs its "
        "urgent signs"
    ]


def test_keywords_shared_by_two_topics_or_without_usable_words_are_warnings(
    project_copy: tuple[Path, Path],
) -> None:
    content, locales = project_copy
    edit(content / "en" / "stents.yaml", "  - stenting\n", "  - stenting\n  - Bone Cement\n")
    edit(content / "en" / "recovery.yaml", "  - discharge\n", "  - discharge\n  - what is it\n")
    report = run_checks(make_settings(content, locales))
    assert report.errors == []
    found = {
        re.sub(r":\d+:", ":N:", p.format(content.parent))
        for p in report.warnings
        if not review_pending(p)
    }
    assert found == {
        "content/en/stents.yaml:N: warning: keyword 'Bone Cement' is also a keyword of "
        "'bone-cement': a patient who types it gets both; keep it on the topic that answers it",
        "content/en/recovery.yaml:N: warning: keyword 'what is it' has only common words that "
        "a search ignores (what, is, it, again…): name the thing itself",
    }
