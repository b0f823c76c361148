"""The in-memory search index of the served topics, one per locale, built with the content.

A topic is found through its title and button label, its ``keywords:``, its glossary
``terms:`` (names, aliases and definitions) and the visible text of its body. Each field has a
weight; a term scores ``idf × the weight of the best field it appears in`` (so a long body does
not win by repeating a word), and a topic's score is the sum over the terms of the question.
A Latin-script word the index does not know is matched to the nearest known words within a
small edit distance (rapidfuzz; transpositions count as one edit), at a discount.

A question is looked up in every locale's index, and each topic keeps its best score: ids are
the same in every locale, so "血管瘤要开刀吗" typed by an English reader finds ``benign``,
which the bot then shows in English. Drafts, topics below a draft, topics no menu reaches and
the main menu itself are never results. Nothing here keeps or logs what was searched.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from rapidfuzz import process
from rapidfuzz.distance import OSA

from bot.core.content.model import ROOT_ID, ContentTree, Library, Topic
from bot.core.search.analysis import Analyzer, Token, analyzer_for
from bot.core.telegram_html import TelegramHTMLError, parse_html
from bot.core.textnorm import has_cjk, normalize

# Field weights: words a person chose for finding the topic count most.
TITLE_WEIGHT = 3.0
KEYWORD_WEIGHT = 3.0
TERM_WEIGHT = 2.5
EMPHASIS_WEIGHT = 2.0  # bold words of a body: the terms a topic explains
BODY_WEIGHT = 1.0
# A word of a several-word keyword, when the question lacks some of the others.
PARTIAL_PHRASE_FACTOR = 1 / 3
# A typo-corrected word counts this much of the word it was corrected to.
FUZZY_FACTOR = 0.7
# Words shorter than this are never corrected (too many near neighbours: cost ~ cyst); up to
# FUZZY_ONE_EDIT_MAX letters one edit is allowed, two above.
FUZZY_MIN_LENGTH = 5
FUZZY_ONE_EDIT_MAX = 8

_TAG = re.compile(r"<[^>]*>")
_BOLD = re.compile(r"<b>(.*?)</b>", re.DOTALL)


@dataclass(frozen=True)
class Hit:
    topic_id: str
    score: float


def servable_topics(tree: ContentTree) -> list[Topic]:
    """Topics a search may return: those patients can open (not drafts, nothing under a
    draft), menu order, without the main menu itself."""
    return [topic for topic in tree.served_topics() if topic.id != ROOT_ID]


def visible_text(html_text: str) -> str:
    """The text a patient sees of a body (tags removed, entities decoded)."""
    paragraphs = []
    for paragraph in html_text.split("\n\n"):
        try:
            paragraphs.append(parse_html(paragraph.strip()).text)
        except TelegramHTMLError:  # `check` reports it; index the words anyway
            paragraphs.append(_TAG.sub(" ", paragraph))
    return "\n\n".join(paragraphs)


def topic_fields(topic: Topic) -> list[tuple[float, str, bool]]:
    """The texts of a topic that a search reads: (weight, text, whether it is a phrase: the
    names a person chose, as keywords, glossary terms and bold terms, count as a whole)."""
    fields = [(TITLE_WEIGHT, topic.title, False)]
    if topic.button:
        fields.append((TITLE_WEIGHT, topic.button, False))
    fields.extend((KEYWORD_WEIGHT, keyword, True) for keyword in topic.keywords)
    for term in topic.terms:
        fields.extend((TERM_WEIGHT, name, True) for name in term.names)
        fields.append((BODY_WEIGHT, visible_text(term.definition), False))
    # A bold Chinese term is one compound that patients type in part (椎体成形 for
    # 经皮椎体成形术): its words count alone; bold words in Latin script form a phrase.
    for bold in _BOLD.findall(topic.body):
        text = visible_text(bold)
        fields.append((EMPHASIS_WEIGHT, text, not has_cjk(text)))
    fields.append((BODY_WEIGHT, visible_text(topic.body), False))
    return fields


class LocaleIndex:
    """The topics of one locale: term -> {topic id: weight}, the idf of each term, and the
    Latin-script words known (for typo tolerance)."""

    def __init__(self, tree: ContentTree) -> None:
        self.locale = tree.locale
        self.analyzer: Analyzer = analyzer_for(tree.locale)
        self._postings: dict[str, dict[str, float]] = {}
        # term -> the phrases it is a word of: (topic id, the phrase's terms, its normalized
        # text, the full weight).
        self._phrases: dict[str, list[tuple[str, frozenset[str], str, float]]] = {}
        self._surfaces: dict[str, str] = {}
        topics = servable_topics(tree)
        for topic in topics:
            for weight, text, is_phrase in topic_fields(topic):
                self._add(topic.id, weight, text, is_phrase=is_phrase)
        count = len(topics)
        self.topic_ids = tuple(t.id for t in topics)  # menu order (depth first)
        self.idf: Mapping[str, float] = {
            term: math.log(1 + count / len(row)) for term, row in self._postings.items()
        }
        self._surface_list = list(self._surfaces)

    def _add(self, topic_id: str, weight: float, text: str, *, is_phrase: bool) -> None:
        """Index one field. A keyword of several words is a phrase: its words count fully when
        the question has the phrase as written, or all of its words (those that are not
        function words); otherwise a third as much ("time" alone is not "how many times")."""
        tokens = self.analyzer.tokens(text)
        words = frozenset(t.term for t in tokens if t.weight == 1.0)
        written = " ".join(normalize(text).split())
        # Several words, or (Chinese) one word left of a longer text: 问医生 is not 医生.
        phrase = is_phrase and (
            len(words) > 1 or len(written.split()) > 1 or (has_cjk(written) and {written} != words)
        )
        for token in tokens:
            row = self._postings.setdefault(token.term, {})
            full = weight * token.weight
            base = full * PARTIAL_PHRASE_FACTOR if phrase else full
            row[topic_id] = max(row.get(topic_id, 0.0), base)
            if phrase and token.term in words:
                entry = (topic_id, words, written, full)
                self._phrases.setdefault(token.term, []).append(entry)
            if token.surface:
                self._surfaces.setdefault(token.surface, token.term)

    def score(self, text: str) -> dict[str, float]:
        """topic id -> score of ``text`` against this locale's topics."""
        matched: dict[str, float] = {}  # index term -> factor (1, or less for a typo)
        for token in self.analyzer.tokens(text):
            for term, factor in self._lookup(token):
                matched[term] = max(matched.get(term, 0.0), factor)
        present = frozenset(matched)
        written = " ".join(normalize(text).split())
        scores: dict[str, float] = {}
        for term, factor in matched.items():
            weights = dict(self._postings[term])
            for topic_id, words, phrase, full in self._phrases.get(term, ()):
                if full > weights[topic_id] and (
                    (len(words) > 1 and words <= present) or phrase in written
                ):
                    weights[topic_id] = full
            idf = self.idf[term]
            for topic_id, weight in weights.items():
                scores[topic_id] = scores.get(topic_id, 0.0) + idf * weight * factor
        return scores

    def _lookup(self, token: Token) -> Iterable[tuple[str, float]]:
        """The index terms ``token`` stands for: itself, or the nearest spellings of it."""
        if token.term in self._postings:
            return ((token.term, 1.0),)
        word = token.surface
        if len(word) < FUZZY_MIN_LENGTH or not word.isalpha():
            return ()
        cutoff = 1 if len(word) <= FUZZY_ONE_EDIT_MAX else 2
        found = process.extract(
            word, self._surface_list, scorer=OSA.distance, score_cutoff=cutoff, limit=5
        )
        if not found:
            return ()
        best = min(distance for _word, distance, _i in found)
        terms = {self._surfaces[w] for w, distance, _i in found if distance == best}
        return ((term, FUZZY_FACTOR) for term in sorted(terms))


class SearchIndex:
    """Every locale's index; :meth:`search` looks a question up in all of them."""

    def __init__(self, library: Library) -> None:
        self.locales: dict[str, LocaleIndex] = {
            locale: LocaleIndex(tree) for locale, tree in library.trees.items()
        }
        # Ties go to the topic met first in the menu (the more general one).
        order: dict[str, int] = {}
        for index in self.locales.values():
            for topic_id in index.topic_ids:
                order.setdefault(topic_id, len(order))
        self._order = order

    def search(self, text: str, limit: int = 3) -> list[Hit]:
        """The best topics for ``text``, best first (each topic once, at its best score)."""
        best: dict[str, float] = {}
        for index in self.locales.values():
            for topic_id, score in index.score(text).items():
                if score > best.get(topic_id, 0.0):
                    best[topic_id] = score
        ranked = sorted(best.items(), key=lambda item: (-item[1], self._order[item[0]]))
        return [Hit(topic_id, round(score, 3)) for topic_id, score in ranked[:limit]]
