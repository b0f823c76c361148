"""Normalizing what a person typed before it is matched: one rule for search and triage."""

from __future__ import annotations

import re
import unicodedata

# The CJK Unified Ideographs (with extension A and the compatibility block).
CJK_CHARS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAS_CJK = re.compile(f"[{CJK_CHARS}]")
_APOSTROPHES = re.compile(r"['’‘`´]")


def normalize(text: str) -> str:
    """NFKC (full-width letters, digits and ℃ become plain), case-folded, apostrophes removed
    (so "can't", "can’t" and "cant" are one word)."""
    return _APOSTROPHES.sub("", unicodedata.normalize("NFKC", text).casefold())


def has_cjk(text: str) -> bool:
    return _HAS_CJK.search(text) is not None
