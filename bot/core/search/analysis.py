"""Text -> search terms, the same way for the topics and for what a patient types.

One :class:`Analyzer` per locale, from :func:`analyzer_for`. Every analyzer reads both kinds of
script, because patients mix them ("CT是什么", "TACE 后发烧"):

- **Words in Latin script** are case-folded, British spellings are mapped to American ones
  (tumour -> tumor, embolisation -> embolization, haemangioma -> hemangioma, oesophagus ->
  esophagus) so that either spelling finds the other, function words are dropped, and the rest
  is stemmed with the Snowball stemmer of the locale's language (bleeding -> bleed; Chinese
  text's Latin words are English abbreviations such as TACE, CT, MRI: English rules).
- **Chinese** has no spaces: it is segmented with jieba's dictionary and algorithm (the
  ``rjieba`` binding of jieba-rs; search mode, so that 肝血管瘤 also yields 血管瘤 and 血管),
  and every run of Chinese characters also yields its character bigrams, at a lower weight,
  so that a word the dictionary splits differently in the question and in the topic still
  meets (a safety net for rare medical words and typing slips).

Another locale plugs in through :func:`analyzer_for`: its language picks the Snowball stemmer
(about 30 languages), and a language written without spaces other than Chinese would add its
segmenter in :func:`_segment_cjk`. Nothing here logs, and nothing keeps the text it reads.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import snowballstemmer  # type: ignore[import-untyped]
from babel import Locale, UnknownLocaleError

from bot.core.textnorm import CJK_CHARS, has_cjk, normalize

_CJK_RUN = re.compile(f"[{CJK_CHARS}]+")
_WORD = re.compile(r"[^\W_]+")

#: Character bigrams count half as much as a whole word.
BIGRAM_WEIGHT = 0.5
#: Bigram terms carry this prefix, so that they never collide with a two-character word.
BIGRAM_PREFIX = "~"

# British -> American spelling, applied to a lower-case word before stemming (both sides).
_SPELLING: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"ae"), "e"),  # haemangioma, anaemia, paediatric
    (re.compile(r"oe(?=[a-z])"), "e"),  # oesophagus, diarrhoea (not "toe", "shoe")
    (re.compile(r"our(s?)$"), r"or\1"),  # tumour(s), colour
    (re.compile(r"(?<=[a-z]{3})is(e|es|ed|ing|ation|ations)$"), r"iz\1"),  # embolisation
    (re.compile(r"(?<=[a-z]{2})yse(s|d)?$"), r"yze\1"),  # analyse
    (re.compile(r"(?<=[a-z]{2})tre(s?)$"), r"ter\1"),  # centre, litre
    (re.compile(r"ogue(s?)$"), r"og\1"),  # catalogue
)

# Word lists as text, one space between words: easy to read and extend (hence noqa: SIM905).
ENGLISH_STOPWORDS = frozenset(
    """
    a about above after again all also am an and any are as at be been before being below
    between both but by can could did do does doing down during each few for from further get
    got had has have having he her here hers herself him himself his how i if in into is it its
    itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own please same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself yourselves
    im ive id ill youre dont doesnt didnt isnt arent wasnt cant wont shouldnt whats hows
    is there anything tell know want need like one thing much many get gets getting us let lets
    """.split()  # noqa: SIM905
)

CHINESE_STOPWORDS = frozenset(
    """
    的 了 吗 呢 吧 啊 呀 哦 嗯 么 是 在 有 和 与 及 或 我 你 您 他 她 它 我们 你们 他们 这 那 这个
    那个 这种 那种 什么 怎么 怎样 怎么样 如何 为什么 哪些 哪个 哪 能 能不能 可以 可不可以 会 要
    想 请问 请 一下 就 也 都 还 又 很 太 对 把 被 给 让 从 到 于 之 而 但 如果 因为 所以 个 些
    一 一个 是不是 有没有 需要 应该 得 地 着 过 中 上 下 里 后 前 时 时候 问 一些
    """.split()  # noqa: SIM905
)
# Characters that make a poor half of a bigram: particles and pronouns.
_STOP_CHARS = frozenset("的了吗呢吧啊呀哦嗯么是在我你您他她它这那和与及或就也都还又很太")


@dataclass(frozen=True)
class Token:
    """One search term of a text.

    ``term`` is the index key; ``surface`` is the normalized word as written (Latin script
    only, for typo tolerance; empty otherwise); ``weight`` is 1 for words and
    :data:`BIGRAM_WEIGHT` for character bigrams.
    """

    term: str
    surface: str = ""
    weight: float = 1.0


def americanize(word: str) -> str:
    """The American spelling of a lower-case English word (tumour -> tumor)."""
    for pattern, replacement in _SPELLING:
        word = pattern.sub(replacement, word)
    return word


class Analyzer:
    """Turns text into :class:`Token` s for one locale (see the module docstring)."""

    def __init__(self, stemmer_language: str | None, *, english: bool) -> None:
        stemmer: Any = snowballstemmer.stemmer(stemmer_language) if stemmer_language else None
        self._english = english
        self._stopwords = ENGLISH_STOPWORDS if english else frozenset()
        stem: Callable[[str], str] = stemmer.stemWord if stemmer is not None else str
        self._latin = functools.lru_cache(maxsize=8192)(self._latin_term_uncached)
        self._stem = stem

    def tokens(self, text: str) -> list[Token]:
        text = normalize(text)
        if not has_cjk(text):
            return self._latin_tokens(_WORD.findall(text))
        tokens: list[Token] = []
        for word in _segment_cjk(text):
            if has_cjk(word):
                if word not in CHINESE_STOPWORDS:
                    tokens.append(Token(word))
            else:
                tokens.extend(self._latin_tokens(_WORD.findall(word)))
        for run in _CJK_RUN.findall(text):
            tokens.extend(
                Token(BIGRAM_PREFIX + run[i : i + 2], weight=BIGRAM_WEIGHT)
                for i in range(len(run) - 1)
                if run[i] not in _STOP_CHARS and run[i + 1] not in _STOP_CHARS
            )
        return tokens

    def clear_cache(self) -> None:
        """Forget the words seen so far (benchmarks measure words never seen before)."""
        self._latin.cache_clear()

    def _latin_tokens(self, words: list[str]) -> list[Token]:
        tokens: list[Token] = []
        for word in words:
            term = self._latin(word)
            if term is not None:
                tokens.append(Token(term, self._spelled(word)))
        return tokens

    def _spelled(self, word: str) -> str:
        return americanize(word) if self._english else word

    def _latin_term_uncached(self, word: str) -> str | None:
        if word in self._stopwords or (len(word) < 2 and not word.isdigit()):
            return None
        return str(self._stem(self._spelled(word)))


def _segment_cjk(text: str) -> list[str]:
    """Chinese words of ``text`` in jieba's search mode (Latin words come out whole too)."""
    words: list[str] = _jieba().cut_for_search(text, hmm=True)
    return words


@functools.cache
def _jieba() -> Any:
    """jieba-rs with its own dictionary, loaded once, on the first Chinese text (~0.15 s).

    It reads nothing from disk or the network, writes no cache file and logs nothing.
    """
    import rjieba  # noqa: PLC0415 - the dictionary loads on import: only when Chinese is read

    return rjieba


@functools.cache
def analyzer_for(locale: str) -> Analyzer:
    """The analyzer of ``locale`` (``en``, ``zh_Hans``, ``fr``…); one per locale, cached."""
    language = locale.replace("-", "_").split("_")[0].lower()
    if language == "en" or has_cjk_language(language):
        # Latin words in Chinese text are English: TACE, CT, MRI, DSA.
        return Analyzer("english", english=True)
    try:
        name = Locale.parse(language).english_name or ""
    except (ValueError, UnknownLocaleError):
        name = ""
    algorithm = name.lower() if name.lower() in snowballstemmer.algorithms() else None
    return Analyzer(algorithm, english=False)


def has_cjk_language(language: str) -> bool:
    """Languages written in Chinese characters without spaces (segmented by jieba here)."""
    return language in {"zh", "yue", "wuu"}
