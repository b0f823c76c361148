"""What the bot shows, as plain data: a :class:`Screen` is Telegram HTML and a keyboard of
:class:`Button` rows; and the small pieces every topic screen shares (page line, Previous/Next,
"Was this helpful?"). The renderer (``render.py``) puts them together."""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from bot.core import callbacks
from bot.core.i18n import Translator

# Escape text for Telegram HTML; quotes only need escaping inside attribute values.
esc = partial(html.escape, quote=False)


@dataclass(frozen=True)
class Button:
    label: str
    data: str


Keyboard = tuple[tuple[Button, ...], ...]


@dataclass(frozen=True)
class Screen:
    text: str
    keyboard: Keyboard

    def buttons(self) -> list[Button]:
        return [b for row in self.keyboard for b in row]


def page_line(t: Translator, page: int, pages: int) -> list[str]:
    """ "Page 2 of 3" under a screen of several pages (nothing under a single page)."""
    if pages < 2:
        return []
    return ["<i>" + esc(t("Page {page} of {pages}").format(page=page + 1, pages=pages)) + "</i>"]


def paging_row(
    t: Translator, page: int, pages: int, action: Callable[[int], callbacks.Action]
) -> tuple[Button, ...]:
    """◀ Previous / Next ▶ between the pages of one screen; ``action(n)`` opens page n."""
    row: list[Button] = []
    if page > 0:
        row.append(Button("◀ " + t("Previous"), callbacks.encode(action(page - 1))))
    if page < pages - 1:
        row.append(Button(t("Next") + " ▶", callbacks.encode(action(page + 1))))
    return tuple(row)


def feedback_line(t: Translator) -> str:
    """The question above the 👍 👎 buttons: the last line of a topic's last page."""
    # TRANSLATORS: the last line of a topic, above two buttons 👍 and 👎.
    # Chinese: "这些内容对您有帮助吗？"
    return "<i>" + esc(t("Was this helpful?")) + "</i>"


def feedback_row(topic_id: str) -> tuple[Button, ...]:
    """👍 👎: one row of two small buttons (a phone shows them side by side, no label to wrap)."""
    return (
        Button("👍", callbacks.encode(callbacks.Vote(topic_id, helpful=True))),
        Button("👎", callbacks.encode(callbacks.Vote(topic_id, helpful=False))),
    )
