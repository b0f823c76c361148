"""Pure rendering: (topic, locale, page) -> Screen(text, keyboard). No Telegram I/O.

Screens are cached per (locale, topic, page): content and catalogs are immutable once loaded,
and a press should cost the bot a dictionary lookup, not an HTML parse.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from babel import Locale, UnknownLocaleError
from babel.dates import format_date

from bot.config import HospitalContact
from bot.core import callbacks
from bot.core.content.model import ROOT_ID, Library, Topic
from bot.core.i18n import Catalogs, Translator, display_name
from bot.core.limits import MAX_MESSAGE_LENGTH
from bot.core.telegram_html import parse_html, utf16_len

BREADCRUMB_SEPARATOR = " › "
# Escape text for Telegram HTML; quotes only need escaping inside attribute values.
esc = partial(html.escape, quote=False)
# Room kept free on every page so that the breadcrumb, title and page line always fit.
_PAGE_SLACK = 64


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


class Renderer:
    """Builds every screen the bot shows, for any locale of the library."""

    def __init__(
        self,
        library: Library,
        catalogs: Catalogs,
        hospital: HospitalContact,
        *,
        page_limit: int = MAX_MESSAGE_LENGTH,
    ) -> None:
        self.library = library
        self.catalogs = catalogs
        self.hospital = hospital
        self.page_limit = page_limit
        self._pages: dict[tuple[str, str], tuple[str, ...]] = {}
        self._screens: dict[tuple[str, str, int], Screen] = {}
        self._homes: dict[tuple[str, bool], Screen] = {}

    @property
    def locales(self) -> list[str]:
        return self.library.locales

    # -- screens -------------------------------------------------------------------------

    def home(self, locale: str, *, subscribed: bool = False) -> Screen:
        """The main menu; its news button depends on whether the user is ``subscribed``."""
        key = (locale, subscribed)
        screen = self._homes.get(key)
        if screen is None:
            root = self.topic(locale, ROOT_ID)
            t = self.catalogs.get(locale)
            label = "🔕 " + t("Manage news") if subscribed else "🔔 " + t("Subscribe to news")
            news = (Button(label, callbacks.encode(callbacks.Subscribe())),)
            # Above the last row (Language), which stays last.
            screen = Screen(root.text, (*root.keyboard[:-1], news, root.keyboard[-1]))
            self._homes[key] = screen
        return screen

    def topic(self, locale: str, topic_id: str, page: int = 0) -> Screen:
        """The screen of ``topic_id``; raises KeyError if the locale has no such topic."""
        key = (locale, topic_id, page)
        screen = self._screens.get(key)
        if screen is None:
            screen = self._render_topic(locale, topic_id, page)
            self._screens[key] = screen
        return screen

    def page_count(self, locale: str, topic_id: str) -> int:
        return len(self._topic_pages(locale, topic_id))

    def language_menu(self, current: str) -> Screen:
        t = self.catalogs.get(current)
        rows: list[tuple[Button, ...]] = []
        for locale in self.locales:
            mark = "✓ " if locale == current else ""
            rows.append(
                (
                    Button(
                        mark + display_name(locale),
                        callbacks.encode(callbacks.SetLanguage(locale)),
                    ),
                )
            )
        rows.append((self._home_button(t),))
        return Screen(esc(t("Choose your language:")), tuple(rows))

    def help(self, locale: str) -> Screen:
        t = self.catalogs.get(locale)
        heading = t("How to use this bot")
        text = "\n\n".join(
            (
                f"<b>{esc(heading)}</b>",
                esc(
                    t(
                        "Tap a button to open a topic. Every screen has Back and Home buttons, "
                        "so you can never get lost."
                    )
                ),
                esc(
                    t(
                        "/start – main menu\n/language – change the language\n"
                        "/subscribe – news from the hospital\n/unsubscribe – stop the news\n"
                        "/help – this help"
                    )
                ),
                esc(
                    t(
                        "This bot gives general information, not a diagnosis. "
                        "Please talk to your care team about your own treatment."
                    )
                ),
            )
        )
        return Screen(text, ((self._home_button(t),),))

    def note(self, locale: str, message: str) -> str:
        """A short note, localized, escaped (used with the main menu)."""
        return esc(self.catalogs.get(locale)(message))

    # -- internals -----------------------------------------------------------------------

    def _tree_topic(self, locale: str, topic_id: str) -> Topic:
        tree = self.library.trees[locale]
        topic = tree.get(topic_id)
        if topic is None or not tree.path_to(topic_id):
            raise KeyError(topic_id)
        return topic

    def _render_topic(self, locale: str, topic_id: str, page: int) -> Screen:
        t = self.catalogs.get(locale)
        topic = self._tree_topic(locale, topic_id)
        pages = self._topic_pages(locale, topic_id)
        if not 0 <= page < len(pages):
            raise KeyError(f"{topic_id}:{page}")
        is_root = topic_id == ROOT_ID
        parts = [] if is_root else [self._header(locale, topic)]
        parts.append(pages[page])
        if topic.contact and page == len(pages) - 1:
            parts.append(self._contact_block(t))
        footer = None if is_root else self._review_footer(locale, topic)
        if footer:
            parts.append(footer)
        if len(pages) > 1:
            parts.append(
                "<i>"
                + esc(t("Page {page} of {pages}").format(page=page + 1, pages=len(pages)))
                + "</i>"
            )
        return Screen("\n\n".join(parts), self._topic_keyboard(locale, topic, page, len(pages)))

    def _topic_keyboard(self, locale: str, topic: Topic, page: int, pages: int) -> Keyboard:
        """Children, then Previous/Next, then Back and Home (Language on the main menu)."""
        t = self.catalogs.get(locale)
        tree = self.library.trees[locale]
        rows: list[tuple[Button, ...]] = [
            (Button(child.label, callbacks.encode(callbacks.ShowTopic(child.id))),)
            for child in (tree.get(child_id) for child_id in topic.children)
            if child is not None
        ]
        if pages > 1:
            paging: list[Button] = []
            if page > 0:
                previous = callbacks.ShowTopic(topic.id, page - 1)
                paging.append(Button("◀ " + t("Previous"), callbacks.encode(previous)))
            if page < pages - 1:
                following = callbacks.ShowTopic(topic.id, page + 1)
                paging.append(Button(t("Next") + " ▶", callbacks.encode(following)))
            rows.append(tuple(paging))
        if topic.id == ROOT_ID:
            rows.append(
                (Button("🌐 " + t("Language"), callbacks.encode(callbacks.LanguageMenu())),)
            )
        else:
            parent = tree.path_to(topic.id)[-2]
            back = callbacks.Home() if parent.id == ROOT_ID else callbacks.ShowTopic(parent.id)
            rows.append((Button("⬅ " + t("Back"), callbacks.encode(back)), self._home_button(t)))
        return tuple(rows)

    def _home_button(self, t: Translator) -> Button:
        return Button("🏠 " + t("Home"), callbacks.encode(callbacks.Home()))

    def home_button(self, locale: str) -> Button:
        """The Home button in ``locale`` (for screens built outside this class)."""
        return self._home_button(self.catalogs.get(locale))

    def breadcrumb(self, locale: str, topic: Topic) -> str:
        t = self.catalogs.get(locale)
        chain = self.library.trees[locale].path_to(topic.id)
        labels = [t("Home")] + [node.label for node in chain[1:]]
        return BREADCRUMB_SEPARATOR.join(labels)

    def _header(self, locale: str, topic: Topic) -> str:
        crumb = esc(self.breadcrumb(locale, topic))
        return f"<i>{crumb}</i>\n<b>{esc(topic.title)}</b>"

    def _review_footer(self, locale: str, topic: Topic) -> str | None:
        """The medical review line, its date formatted by Babel for the locale."""
        if topic.reviewed is None:
            return None
        try:
            when = format_date(topic.reviewed, format="long", locale=Locale.parse(locale))
        except (ValueError, UnknownLocaleError):
            when = topic.reviewed.isoformat()
        t = self.catalogs.get(locale)
        # TRANSLATORS: the last line of every topic; {date} is e.g. "November 26, 2026".
        return "<i>" + esc(t("Last reviewed: {date}").format(date=when)) + "</i>"

    def _contact_block(self, t: Translator) -> str:
        h = self.hospital
        if h.is_empty:
            return esc(
                t(
                    "The hospital's contact details have not been set up yet. "
                    "Please ask your care team."
                )
            )
        heading = t("Contact")
        lines = [f"<b>{esc(heading)}</b>"]
        if h.name:
            lines.append("🏥 " + esc(h.name))
        if h.phone:
            lines.append("📞 " + esc(t("Phone: {phone}").format(phone=h.phone)))
        if h.address:
            lines.append("📍 " + esc(t("Address: {address}").format(address=h.address)))
        if h.hours:
            lines.append("🕒 " + esc(t("Opening hours: {hours}").format(hours=h.hours)))
        if h.website:
            url = html.escape(h.website, quote=True)  # attribute value
            lines.append(f'🌐 <a href="{url}">{esc(h.website)}</a>')
        return "\n".join(lines)

    def _topic_pages(self, locale: str, topic_id: str) -> tuple[str, ...]:
        key = (locale, topic_id)
        pages = self._pages.get(key)
        if pages is None:
            topic = self._tree_topic(locale, topic_id)
            overhead = 0 if topic_id == ROOT_ID else _visible_len(self._header(locale, topic))
            if topic.contact:
                overhead += _visible_len(self._contact_block(self.catalogs.get(locale)))
            footer = None if topic_id == ROOT_ID else self._review_footer(locale, topic)
            if footer:
                overhead += _visible_len(footer)
            budget = max(self.page_limit - overhead - _PAGE_SLACK, 200)
            pages = tuple(split_pages(topic.body, budget))
            self._pages[key] = pages
        return pages


def _visible_len(text: str) -> int:
    try:
        return utf16_len(parse_html(text).text)
    except ValueError:
        return utf16_len(text)


def split_pages(body: str, budget: int) -> list[str]:
    """Split ``body`` into pages of at most ``budget`` visible characters.

    Pages break between paragraphs (blank lines); a paragraph longer than a page breaks
    between lines, then between words. Tags must not span paragraphs (``check`` says so).
    """
    pieces: list[str] = []
    for paragraph in (p.strip() for p in body.split("\n\n")):
        if not paragraph:
            continue
        if _visible_len(paragraph) <= budget:
            pieces.append(paragraph)
        else:
            pieces.extend(_split_long(paragraph, budget))
    pages: list[str] = []
    current: list[str] = []
    for piece in pieces:
        candidate = "\n\n".join([*current, piece])
        if current and _visible_len(candidate) > budget:
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
            if current and _visible_len(candidate) > budget:
                chunks.append(current)
                current = unit
            else:
                current = candidate
        chunks.append(current)
        chunks = [c.strip() for c in chunks if c.strip()]
        if all(_visible_len(c) <= budget for c in chunks):
            return chunks
    # One unbroken run of text: cut by characters (``check`` reports a tag cut in two).
    return [paragraph[i : i + budget] for i in range(0, len(paragraph), budget)]


def numbered_buttons(rows: list[list[str]]) -> list[str]:
    """One line per keyboard row, buttons numbered from 1 across rows: ``[1] Back   [2] Home``."""
    lines: list[str] = []
    number = 1
    for row in rows:
        cells = []
        for label in row:
            cells.append(f"[{number}] {label}")
            number += 1
        lines.append("   ".join(cells))
    return lines
