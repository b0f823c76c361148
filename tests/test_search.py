"""Search over the shipped topics: hit rates on patients' questions, and the pure parts.

The questions are in tests/search_questions.yaml, each with the topic that answers it. The
rates are what a patient gets: top-1 is "the first topic offered answers it" (the topic shown
by itself, or the first of the choices), top-3 is "one of the topics offered answers it".
Run with ``pytest -s tests/test_search.py`` to see them.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from pathlib import Path

import pytest
import yaml

from bot.core.content.bundle import LoadedContent, load_content
from bot.core.content.model import ContentTree, Library
from bot.core.search.analysis import BIGRAM_PREFIX, americanize, analyzer_for
from bot.core.search.counts import TypedCounts
from bot.core.search.desk import Finding, QuestionDesk, decide
from bot.core.search.index import Hit, SearchIndex, servable_topics
from tests.conftest import make_settings

QUESTIONS = yaml.safe_load(
    (Path(__file__).parent / "search_questions.yaml").read_text(encoding="utf-8")
)
# Floors, set below the rates measured on the shipped content (printed by this test), so that
# a content edit may move them a little without failing; a real regression fails. Measured
# after the content rewrite (new and split topics, glossary terms): tuning en 0.93/0.98,
# zh_Hans 0.96/0.98; held out en 0.84/0.88, zh_Hans 0.80/0.88. (On the content before it,
# held out: en 0.84/0.96, zh_Hans 0.88/0.92; the first measurement, before multi-word keywords
# counted as phrases: en 0.68/1.00, zh_Hans 0.88/0.92.)
FLOORS = {
    ("tuning", "en"): (0.85, 0.90),
    ("tuning", "zh_Hans"): (0.85, 0.90),
    ("held out", "en"): (0.75, 0.80),
    ("held out", "zh_Hans"): (0.70, 0.80),
    # Traditional Chinese (never tuned on). Measured when zh_Hant shipped: Taiwan 0.97/1.00 in
    # zh_Hant and in zh_Hans (0.90/1.00 before Chinese was matched in Simplified form); Hong
    # Kong 0.70/0.75 (the misses are Cantonese words: 落床, 纖維瘤, 水囊, 爆咗, 脊骨).
    ("traditional tw", "zh_Hant"): (0.85, 0.90),
    ("traditional tw", "zh_Hans"): (0.85, 0.90),
    ("traditional hk", "zh_Hant"): (0.60, 0.70),
}


@cache
def content() -> LoadedContent:
    return load_content(make_settings())


@cache
def desk() -> QuestionDesk:
    return QuestionDesk.build(content(), make_settings())


def answers(item: dict[str, object]) -> set[str]:
    expected = item["a"]
    return set(expected) if isinstance(expected, list) else {str(expected)}


def rates(items: list[dict[str, object]], locale: str) -> tuple[float, float, list[str]]:
    top1 = top3 = 0
    misses: list[str] = []
    for item in items:
        offered = desk().find(str(item["q"]), locale).offered
        good = answers(item)
        top1 += bool(offered) and offered[0] in good
        top3 += any(topic in good for topic in offered)
        if not offered or offered[0] not in good:
            misses.append(f"{item['q']!r}: offered {list(offered)}, wanted {sorted(good)}")
    return top1 / len(items), top3 / len(items), misses


SETS = [
    ("tuning", "en", QUESTIONS["en"]),
    ("tuning", "zh_Hans", QUESTIONS["zh_Hans"]),
    ("held out", "en", QUESTIONS["held_out"]["en"]),
    ("held out", "zh_Hans", QUESTIONS["held_out"]["zh_Hans"]),
    ("traditional tw", "zh_Hant", QUESTIONS["traditional"]["tw"]),
    ("traditional tw", "zh_Hans", QUESTIONS["traditional"]["tw"]),
    ("traditional hk", "zh_Hant", QUESTIONS["traditional"]["hk"]),
]


def test_every_labelled_topic_exists_in_every_locale() -> None:
    """When topics are renamed or split, this names the labels to update first."""
    library = content().library
    labelled = {t for _n, _l, items in SETS for item in items for t in answers(item)}
    labelled |= {str(item["a"]) for item in QUESTIONS["cross"]}
    for tree in library.trees.values():
        served = {t.id for t in servable_topics(tree)}
        assert labelled - served == set(), f"{tree.locale}: update tests/search_questions.yaml"


@pytest.mark.parametrize(("name", "locale", "items"), SETS, ids=[f"{s[0]}-{s[1]}" for s in SETS])
def test_hit_rates_on_patients_questions(
    name: str, locale: str, items: list[dict[str, object]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert len(items) >= (40 if name == "tuning" else 20)  # Hong Kong: 20, Taiwan: 30
    top1, top3, misses = rates(items, locale)
    with capsys.disabled():
        print(
            f"\nsearch {name} {locale}: {len(items)} questions, top-1 {top1:.2f}, top-3 {top3:.2f}"
        )
        for miss in misses:
            print(f"    top-1 miss: {miss}")
    floor1, floor3 = FLOORS[(name, locale)]
    assert top1 >= floor1, misses
    assert top3 >= floor3, misses


@pytest.mark.parametrize("item", QUESTIONS["cross"], ids=lambda item: item["q"])
def test_a_question_in_the_other_language_finds_the_topic(item: dict[str, str]) -> None:
    assert desk().find(item["q"], item["locale"]).offered[:1] == (item["a"],)


@pytest.mark.parametrize("text", QUESTIONS["unmatched"])
def test_small_talk_and_nonsense_match_nothing(text: str) -> None:
    for locale in ("en", "zh_Hans", "zh_Hant"):
        assert desk().find(text, locale) == Finding()


# -- the analysis ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("british", "american"),
    [
        ("tumour", "tumor"),
        ("tumours", "tumors"),
        ("embolisation", "embolization"),
        ("haemangioma", "hemangioma"),
        ("oesophagus", "esophagus"),
        ("diarrhoea", "diarrhea"),
        ("centre", "center"),
        ("analyse", "analyze"),
        ("catalogue", "catalog"),
    ],
)
def test_british_and_american_spellings_meet(british: str, american: str) -> None:
    assert americanize(british) == americanize(american)
    english = analyzer_for("en")
    assert [t.term for t in english.tokens(british)] == [t.term for t in english.tokens(american)]


def test_english_words_are_stemmed_and_function_words_dropped() -> None:
    terms = [t.term for t in analyzer_for("en").tokens("What is BLEEDING from the tumours?")]
    assert terms == ["bleed", "tumor"]
    assert [t.term for t in analyzer_for("en").tokens("Can’t I?")] == []


def test_chinese_is_segmented_with_sub_words_and_bigrams() -> None:
    tokens = analyzer_for("zh_Hans").tokens("肝血管瘤要开刀吗")
    words = {t.term for t in tokens if not t.term.startswith(BIGRAM_PREFIX)}
    assert {"血管瘤", "血管", "开刀"} <= words
    assert "吗" not in words  # a particle
    assert BIGRAM_PREFIX + "管瘤" in {t.term for t in tokens}
    # Latin words inside Chinese text are English terms.
    assert "tace" in {t.term for t in analyzer_for("zh_Hans").tokens("TACE是什么")}


def test_traditional_chinese_is_analysed_in_simplified_characters() -> None:
    """Taiwan and Hong Kong forms (裡/裏, 説, 温) fold to Simplified before segmentation, so
    the words and bigrams of both scripts are the same terms."""
    zh = analyzer_for("zh_Hant")
    simplified = {t.term for t in zh.tokens("肝血管瘤要开刀吗")}
    assert {t.term for t in zh.tokens("肝血管瘤要開刀嗎")} == simplified
    assert {t.term for t in zh.tokens("痰裏有血")} == {t.term for t in zh.tokens("痰裡有血")}
    assert "什么" not in {t.term for t in zh.tokens("支架是什麼")}  # a stopword, in either


def test_another_locale_gets_its_own_stemmer() -> None:
    french = analyzer_for("fr")
    assert [t.term for t in french.tokens("tumeurs")] == [t.term for t in french.tokens("tumeur")]


def test_typos_find_the_word_they_meant() -> None:
    assert desk().find("vertebroplasy", "en").offered[:1] == ("bone-cement",)
    assert desk().find("haemangiomma", "en").offered[:1] == ("benign",)
    assert desk().find("chemoembolisaton", "en").offered[:1] == ("glossary-procedures",)
    # Words under five letters are not corrected: too many neighbours ("cost" is not "cyst").
    assert desk().find("cost", "en") == Finding()


# -- what the search may return ------------------------------------------------------------------


def draft(library: Library, topic_id: str) -> Library:
    trees = {}
    for locale, tree in library.trees.items():
        topics = dict(tree.topics)
        topics[topic_id] = replace(topics[topic_id], status="draft")
        trees[locale] = ContentTree(locale, topics)
    return Library(trees)


def test_drafts_and_topics_under_them_are_never_results() -> None:
    library = content().library
    index = SearchIndex(library)
    assert index.search("bone cement vertebroplasty")[0].topic_id == "bone-cement"
    without = SearchIndex(draft(library, "complications"))  # bone-cement's parent
    assert "bone-cement" not in {h.topic_id for h in without.search("bone cement spine")}
    assert "complications" not in {h.topic_id for h in without.search("tumour complications")}
    assert "home" not in {h.topic_id for h in index.search("welcome hello interventional")}


def test_a_topic_is_shown_by_itself_only_when_clearly_best() -> None:
    assert decide([Hit("a", 9.0), Hit("b", 5.0)]) == Finding(best="a")
    assert decide([Hit("a", 9.0), Hit("b", 7.0), Hit("c", 2.0)]) == Finding(choices=("a", "b"))
    assert decide([Hit("a", 5.0)]) == Finding(choices=("a",))  # a match, but a weak one
    assert decide([Hit("a", 4.0)]) == Finding()
    assert decide([]) == Finding()


def test_counts_are_numbers_only() -> None:
    counts = TypedCounts()
    counts.record(matched=True, urgent=False)
    counts.record(matched=False, urgent=True)
    assert counts.snapshot() == {"matched": 1, "unmatched": 1, "urgent": 1}
    assert counts.take() == {"matched": 1, "unmatched": 1, "urgent": 1}
    assert counts.snapshot() == {"matched": 0, "unmatched": 0, "urgent": 0}
