"""Pages of a topic: where a body is cut so that each screen reads on a phone.

Pure text functions, used by the renderer (what the bot sends) and by ``check`` (what it
reports): both count a screen the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from bot.core.telegram_html import parse_html, utf16_len

#: The most text one topic screen shows, so that it reads on a phone without scrolling: the
#: page's share of the topic's body (for a glossary topic: of its body and its terms) as the
#: patient sees it, i.e. tags removed and entities decoded, counted in characters (Unicode code
#: points: a letter, a Chinese character, an emoji, a line break each count one). Not counted:
#: the breadcrumb, the title, the hospital's contact lines, the review line and "Page 1 of 2".
#: Pages break between paragraphs at this size; a paragraph longer than this cannot be helped
#: by a page break, so `check` reports it (see :func:`screen_chars`).
MAX_SCREEN_CHARS = 600


def visible(text: str) -> str:
    try:
        return parse_html(text).text
    except ValueError:
        return text


def visible_len(text: str) -> int:
    return utf16_len(visible(text))


def screen_chars(html_text: str) -> int:
    """The length of ``html_text`` as :data:`MAX_SCREEN_CHARS` counts it."""
    return len(visible(html_text))


def split_pages(body: str, budget: int, screen: int | None = None) -> list[str]:
    """Split ``body`` into pages of at most ``budget`` visible characters (UTF-16, Telegram's
    count), and of at most ``screen`` characters (:func:`screen_chars`) where that is possible.

    Pages break between paragraphs (blank lines): as many paragraphs as fit in ``screen`` make
    a page, and a longer paragraph is a page of its own. Only a paragraph longer than
    ``budget`` breaks between lines, then sentences, then words. Tags must not span paragraphs
    (``check`` says so).
    """
    screen = budget if screen is None else screen
    pieces: list[str] = []
    for paragraph in (p.strip() for p in body.split("\n\n")):
        if not paragraph:
            continue
        if visible_len(paragraph) <= budget:
            pieces.append(paragraph)
        else:
            pieces.extend(_split_long(paragraph, budget))
    pages: list[str] = []
    current: list[str] = []
    for piece in pieces:
        candidate = "\n\n".join([*current, piece])
        if current and (visible_len(candidate) > budget or screen_chars(candidate) > screen):
            pages.append("\n\n".join(current))
            current = [piece]
        else:
            current.append(piece)
    if current:
        pages.append("\n\n".join(current))
    return pages or [""]


_SENTENCE_END = re.compile(r"(?<=[。！？；.!?;])")


def _split_long(paragraph: str, budget: int) -> Sequence[str]:
    splitters: tuple[tuple[Callable[[str], list[str]], str], ...] = (
        (lambda text: text.split("\n"), "\n"),
        (lambda text: [u for u in _SENTENCE_END.split(text) if u], ""),
        (lambda text: text.split(" "), " "),
    )
    for split, joiner in splitters:
        units = split(paragraph)
        if len(units) == 1:
            continue
        chunks: list[str] = []
        current = ""
        for unit in units:
            candidate = f"{current}{joiner}{unit}" if current else unit
            if current and visible_len(candidate) > budget:
                chunks.append(current)
                current = unit
            else:
                current = candidate
        chunks.append(current)
        chunks = [c.strip() for c in chunks if c.strip()]
        if all(visible_len(c) <= budget for c in chunks):
            return chunks
    # One unbroken run of text: cut by characters (``check`` reports a tag cut in two).
    return [paragraph[i : i + budget] for i in range(0, len(paragraph), budget)]
