"""Normalizing what a person typed before it is matched: one rule for search and triage."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable

# The CJK Unified Ideographs (with extension A and the compatibility block).
CJK_CHARS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAS_CJK = re.compile(f"[{CJK_CHARS}]")
_APOSTROPHES = re.compile(r"['’‘`´]")


def normalize(text: str) -> str:
    """NFKC (full-width letters, digits and ℃ become plain), case-folded, apostrophes removed
    (so "can't", "can’t" and "cant" are one word), Chinese in Simplified characters
    (:func:`fold_script`)."""
    return fold_script(_APOSTROPHES.sub("", unicodedata.normalize("NFKC", text).casefold()))


def has_cjk(text: str) -> bool:
    return _HAS_CJK.search(text) is not None


def fold_script(text: str) -> str:
    """Chinese text in Simplified characters, whatever it was typed in: Traditional, with its
    Taiwan (裡, 著) and Hong Kong (説, 温, 裏) variant characters, meets Simplified.

    Search and urgent signs compare both sides through this, so "痰裏有血", "痰裡有血" and
    "痰里有血" are one text, and jieba (whose dictionary is Simplified) segments all three
    alike. Only Chinese characters change; other text is returned as it is.
    """
    if not has_cjk(text):
        return text
    return _to_simplified()(text)


@functools.cache
def _to_simplified() -> Callable[[str], str]:
    """OpenCC's Taiwan and Hong Kong variants -> Simplified (tw2s, then hk2s for the Hong Kong
    variants tw2s leaves, such as 衞); loaded once, on the first Chinese text (~0.1 s)."""
    import opencc  # noqa: PLC0415 - its dictionaries load on first use: only for Chinese text

    taiwan, hong_kong = opencc.OpenCC("tw2s"), opencc.OpenCC("hk2s")

    def convert(text: str) -> str:
        return str(hong_kong.convert(taiwan.convert(text)))

    return convert
