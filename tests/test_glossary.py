"""The glossary: which terms a screen uses, and the "Words on this page" it gets from them."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.content.bundle import load_content
from bot.core.content.glossary import Entry, Glossary, collisions
from bot.core.content.model import GlossaryTerm, Topic
from bot.core.i18n import Catalogs
from bot.core.paging import MAX_SCREEN_CHARS, screen_chars
from bot.core.render import Renderer
from bot.core.telegram_html import parse_html
from tests.conftest import make_settings

STENT = GlossaryTerm("Stent", "a mesh tube.", ("stents", "covered stent"))
EMBOLIZATION = GlossaryTerm("Embolization", "blocking vessels.", ("embolisation",))
TACE = GlossaryTerm("Chemoembolization (TACE)", "chemo and embolization.", ("TACE",))
CT = GlossaryTerm("CT", "an X-ray scan.", ("CT scan",))
ZH_STENT = GlossaryTerm("支架", "网状小管。", ("内支架置入术",))
ZH_FISTULA = GlossaryTerm("瘘", "异常通道。")
ZH_TEF = GlossaryTerm("气管食管瘘", "气管与食管之间的异常通道。")
ZH_TRACHEA = GlossaryTerm("气管", "把空气送到肺的管道。")
GLOSSARY = Glossary(
    [
        Entry(term, "glossary")
        for term in (STENT, EMBOLIZATION, TACE, CT, ZH_STENT, ZH_FISTULA, ZH_TEF, ZH_TRACHEA)
    ]
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A stent holds it open.", [STENT]),
        ("Two STENTS, then a covered\n stent.", [STENT]),  # case, plurals, any white space
        ("Stenting is not a listed word.", []),  # Latin names are whole words only
        ("TACE, then embolisation.", [TACE, EMBOLIZATION]),  # in the order of first use
        ("chemoembolization (TACE)", [TACE]),  # the longest name, not "TACE" inside it
        ("chemoembolization", []),  # a Latin name is not found inside a longer word
        ("Guided by CT: a CT scan.", [CT]),
        ("ACT and CTX are not it.", []),
        ("CT引导下穿刺", [CT]),  # a Latin name next to Chinese is still a word
        ("内支架置入术可以缓解", [ZH_STENT]),  # Chinese: found inside a longer word
        ("气管食管瘘", [ZH_TEF]),  # the longest name wins: not 气管, not 瘘
        ("气管狭窄、瘘", [ZH_TRACHEA, ZH_FISTULA]),
        ("", []),
    ],
)
def test_which_terms_a_text_uses(text: str, expected: list[GlossaryTerm]) -> None:
    assert [e.term for e in GLOSSARY.find(text)] == expected


def test_a_word_of_two_terms_is_a_collision() -> None:
    glossary = Topic("g", "G", "", terms=(STENT, GlossaryTerm("Tube", "a tube.", ("Stents",))))
    found = collisions([glossary])
    assert [(c.name, c.term.term, c.first_term.term) for c in found] == [
        ("stents", "Tube", "Stent")
    ]


LOADED = load_content(make_settings())
RENDERER = Renderer(LOADED.library, LOADED.catalogs, make_settings().hospital)


@pytest.mark.parametrize("locale", ["en", "zh_Hans"])
def test_every_term_used_on_a_screen_is_one_tap_away(locale: str) -> None:
    """On every page of every topic, each glossary word its title and text use is explained
    behind the "Words on this page" button, and only those words. (The breadcrumb and the
    review line are not the page's text: every review line names a radiology consultant.)"""
    glossary = Glossary.of(LOADED.library.trees[locale])
    label = {"en": "📖 Words on this page", "zh_Hans": "📖 本页术语"}[locale]
    pages_with_words = 0
    for topic in LOADED.library.trees[locale].served_topics():
        for page in range(RENDERER.page_count(locale, topic.id)):
            screen = RENDERER.topic(locale, topic.id, page)
            body = RENDERER.page_bodies(locale, topic.id)[page]
            assert body in screen.text
            used = [e.term for e in glossary.find(topic.title + "\n" + parse_html(body).text)]
            defined_here = {t for t in topic.terms if t.definition in body}
            wanted = [t for t in used if t not in defined_here]
            buttons = [b for b in screen.buttons() if b.label == label]
            if not wanted:
                assert buttons == [], (topic.id, page)
                continue
            pages_with_words += 1
            assert len(buttons) == 1, (topic.id, page)
            count = RENDERER.terms_page_count(locale, topic.id, page)
            shown = "".join(RENDERER.terms(locale, topic.id, page, n).text for n in range(count))
            for term in wanted:
                assert f"<b>{term.term}</b>" in shown, (topic.id, page, term.term)
            # Only those: one bold heading per screen, then one bold term per explanation.
            assert shown.count("<b>") == count + len(wanted), (topic.id, page)
    assert pages_with_words > 20


def test_the_words_screen_lists_definitions_with_back_to_the_page() -> None:
    screen = RENDERER.terms("en", "stents")
    text = parse_html(screen.text).text
    assert RENDERER.terms_page_count("en", "stents") == 2  # nine words: two phone screens
    second = parse_html(RENDERER.terms("en", "stents", 0, 1).text).text
    assert text.splitlines()[0] == (
        "Home › Suitable tumours › Tumour complications › Stents: windpipe, food pipe"
    )
    assert text.splitlines()[1] == "📖 Words on this page"
    assert "Stent — a small mesh tube that holds a narrowed passage of the body open." in text
    assert "Bronchopleural fistula — an abnormal opening between an airway" in second
    assert [[b.label for b in row] for row in screen.keyboard] == [
        ["Next ▶"],
        ["⬅ Back", "🏠 Home"],
    ]
    assert screen.keyboard[0][0].data == "1:w:stents:0:1"
    assert screen.keyboard[-1][0].data == "1:t:stents"
    zh = RENDERER.terms("zh_Hans", "stents")
    assert "支气管胸膜瘘——气道与肺外周的胸膜腔之间的异常通道。" in parse_html(zh.text).text
    assert parse_html(zh.text).text.splitlines()[1] == "📖 本页术语"


def test_a_long_words_list_is_paged_like_a_topic(project_copy: tuple[Path, Path]) -> None:
    content, locales = project_copy
    settings = make_settings(content, locales)
    path = content / "en" / "stents.yaml"
    text = path.read_text(encoding="utf-8")
    # Every term of the procedures glossary on one page: their explanations need two screens.
    words = "catheter, percutaneous, embolization, super-selective embolization, TACE, "
    words += "ablation, vertebroplasty, sclerotherapy, artery, trachea, pleura, duodenum"
    path.write_text(text.replace("body: |\n", f"body: |\n  {words}.\n\n"), encoding="utf-8")
    loaded = load_content(settings)
    renderer = Renderer(loaded.library, loaded.catalogs, settings.hospital)
    count = renderer.terms_page_count("en", "stents")
    assert count >= 2
    for n in range(count):
        screen = renderer.terms("en", "stents", 0, n)
        body = screen.text.split("\n\n", 1)[1].rsplit("\n\n", 1)[0]
        assert screen_chars(body) <= MAX_SCREEN_CHARS
        assert parse_html(screen.text).text.endswith(f"Page {n + 1} of {count}")
    assert [b.label for b in renderer.terms("en", "stents", 0, 0).keyboard[0]] == ["Next ▶"]
    with pytest.raises(KeyError):
        renderer.terms("en", "stents", 0, count)


def test_a_page_without_glossary_words_has_no_button_and_no_words_screen() -> None:
    screen = RENDERER.topic("en", "incision")
    assert all("📖" not in b.label for b in screen.buttons())
    with pytest.raises(KeyError):
        RENDERER.terms("en", "incision")


def test_lists_are_joined_the_locale_s_way() -> None:
    assert LOADED.catalogs.get("en").join(["English", "French"]) == "English, French"
    assert LOADED.catalogs.get("zh_Hans").join(["英语", "法语"]) == "英语、法语"
    assert Catalogs({}).get("fr").join(["a", "b"]) == "a, b"  # no catalog: the source text
