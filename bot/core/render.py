"""Pure rendering: (topic, locale, page) -> Screen(text, keyboard). No Telegram I/O.

Screens are cached per (locale, topic, page): content and catalogs are immutable once loaded,
and a press should cost the bot a dictionary lookup, not an HTML parse.
"""

from __future__ import annotations

import html
from collections.abc import Iterator

from babel import Locale, UnknownLocaleError
from babel.dates import format_date

from bot.config import HospitalContact
from bot.core import callbacks
from bot.core.content.glossary import Entry, Glossary
from bot.core.content.model import ROOT_ID, GlossaryTerm, Library, Topic
from bot.core.i18n import Catalogs, Translator, _, display_name
from bot.core.limits import MAX_MESSAGE_LENGTH
from bot.core.paging import MAX_SCREEN_CHARS, split_pages, visible, visible_len
from bot.core.screen import (
    Button,
    Keyboard,
    Screen,
    esc,
    feedback_line,
    feedback_row,
    page_line,
    paging_row,
)

# Screens and buttons are defined in screen.py; most of the bot imports them from here.
__all__ = ["BREADCRUMB_SEPARATOR", "Button", "Keyboard", "Renderer", "Screen", "esc"]

BREADCRUMB_SEPARATOR = " › "
# Room kept free on every page so that the breadcrumb, title and page line always fit.
_PAGE_SLACK = 64
# TRANSLATORS: under the screens of a language converted by machine (zh_Hant).
# Translate it in zh_Hans: `i18n convert` carries it over.
MACHINE_CONVERTED = _(
    "Converted by machine from Simplified Chinese; a translator is reviewing it."
)


class Renderer:
    """Builds every screen the bot shows, for any locale of the library."""

    def __init__(
        self,
        library: Library,
        catalogs: Catalogs,
        hospital: HospitalContact,
        *,
        page_limit: int = MAX_MESSAGE_LENGTH,
        include_drafts: bool = False,
    ) -> None:
        self.library = library
        self.catalogs = catalogs
        self.hospital = hospital
        self.page_limit = page_limit
        # Patients never see a draft (nor anything under one); `check` renders them to
        # validate them before they are published.
        self.include_drafts = include_drafts
        self._pages: dict[tuple[str, str], tuple[str, ...]] = {}
        self._screens: dict[tuple[str, str, int], Screen] = {}
        self._homes: dict[tuple[str, bool], Screen] = {}
        # Each locale's glossary: which of its terms a page uses ("Words on this page").
        self._glossaries = {loc: Glossary.of(tree) for loc, tree in library.trees.items()}
        self._terms: dict[tuple[str, str, int], tuple[Entry, ...]] = {}
        self._term_pages: dict[tuple[str, str, int], tuple[str, ...]] = {}

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

    def prepare(self) -> Iterator[None]:
        """Render every served topic page and main menu ahead of the first press, one screen
        per step, so that `run` can do it between updates: a first render costs 3-50 ms
        (the HTML parse, the glossary, Babel's locale data), paid on the event loop."""
        for locale in self.locales:
            for subscribed in (False, True):
                self.home(locale, subscribed=subscribed)
            for topic in self.library.trees[locale].served_topics():
                for page in range(self.page_count(locale, topic.id)):
                    self.topic(locale, topic.id, page)
                    yield

    def page_count(self, locale: str, topic_id: str) -> int:
        return len(self._topic_pages(locale, topic_id))

    def page_bodies(self, locale: str, topic_id: str) -> tuple[str, ...]:
        """The body part of each page (HTML), without breadcrumb, title or footer."""
        return self._topic_pages(locale, topic_id)

    def terms_on_page(self, locale: str, topic_id: str, page: int = 0) -> tuple[Entry, ...]:
        """The glossary terms that page ``page`` of a topic uses (title included), in order of
        first use; on a glossary topic, not the terms that page itself explains."""
        key = (locale, topic_id, page)
        found = self._terms.get(key)
        if found is None:
            topic = self._tree_topic(locale, topic_id)
            pages = self._topic_pages(locale, topic_id)
            if not 0 <= page < len(pages):
                raise KeyError(f"{topic_id}:{page}")
            t = self.catalogs.get(locale)
            here = {term for term in topic.terms if self._term_paragraph(t, term) in pages[page]}
            text = visible(f"{esc(topic.title)}\n{pages[page]}")
            found = tuple(e for e in self._glossaries[locale].find(text) if e.term not in here)
            self._terms[key] = found
        return found

    def terms(self, locale: str, topic_id: str, page: int = 0, terms_page: int = 0) -> Screen:
        """The "Words on this page" screen: the glossary's explanation of each term that page
        ``page`` of the topic uses, with Back (to that page) and Home.

        Raises KeyError when the topic, the page or the list page does not exist, or the page
        uses no term (a button from an older content version)."""
        pages = self._terms_pages(locale, topic_id, page)
        if not 0 <= terms_page < len(pages):
            raise KeyError(f"{topic_id}:{page}:{terms_page}")
        t = self.catalogs.get(locale)
        topic = self._tree_topic(locale, topic_id)
        crumb = esc(self.breadcrumb(locale, topic))
        heading = "📖 " + t("Words on this page")
        parts = [f"<i>{crumb}</i>\n<b>{esc(heading)}</b>", pages[terms_page]]
        parts += page_line(t, terms_page, len(pages))
        rows: list[tuple[Button, ...]] = []
        if len(pages) > 1:
            rows.append(
                paging_row(
                    t, terms_page, len(pages), lambda n: callbacks.ShowTerms(topic_id, page, n)
                )
            )
        # Back to the page the list was opened from (the main menu as /start shows it).
        back: callbacks.Action = (
            callbacks.Home()
            if topic_id == ROOT_ID and page == 0
            else callbacks.ShowTopic(topic_id, page)
        )
        rows.append((Button("⬅ " + t("Back"), callbacks.encode(back)), self._home_button(t)))
        return Screen("\n\n".join(parts), tuple(rows))

    def terms_page_count(self, locale: str, topic_id: str, page: int = 0) -> int:
        return len(self._terms_pages(locale, topic_id, page))

    def topic_body(self, locale: str, topic: Topic) -> str:
        """What a topic's pages are cut from: its body, then (glossary topics) its terms."""
        t = self.catalogs.get(locale)
        return "\n\n".join([topic.body, *(self._term_paragraph(t, term) for term in topic.terms)])

    def language_menu(self, current: str) -> Screen:
        t = self.catalogs.get(current)
        rows: list[tuple[Button, ...]] = []
        for locale in self.locales:
            mark = "✓ " if locale == current else ""
            action = callbacks.encode(callbacks.SetLanguage(locale))
            rows.append((Button(mark + display_name(locale), action),))
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
                        "/privacy – what is stored about you (see it: /mydata, erase it: "
                        "/forget)\n/help – this help"
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
        if topic is None or not self._shown(locale, topic_id):
            raise KeyError(topic_id)
        return topic

    def _shown(self, locale: str, topic_id: str) -> bool:
        tree = self.library.trees[locale]
        return bool(tree.path_to(topic_id)) if self.include_drafts else tree.is_served(topic_id)

    def _term_paragraph(self, t: Translator, term: GlossaryTerm) -> str:
        # TRANSLATORS: one glossary entry: the term (bold), then its meaning.
        # Chinese: "{term}——{definition}".
        line = esc(t("{term} — {definition}"))
        return line.format(term=f"<b>{esc(term.term)}</b>", definition=term.definition)

    def _terms_pages(self, locale: str, topic_id: str, page: int) -> tuple[str, ...]:
        key = (locale, topic_id, page)
        pages = self._term_pages.get(key)
        if pages is None:
            entries = self.terms_on_page(locale, topic_id, page)
            if not entries:
                raise KeyError(f"{topic_id}:{page}: no glossary term")
            t = self.catalogs.get(locale)
            body = "\n\n".join(self._term_paragraph(t, e.term) for e in entries)
            budget = self.page_limit - _MAX_HEADER - _PAGE_SLACK
            pages = tuple(split_pages(body, budget, MAX_SCREEN_CHARS))
            self._term_pages[key] = pages
        return pages

    def _render_topic(self, locale: str, topic_id: str, page: int) -> Screen:
        t = self.catalogs.get(locale)
        topic = self._tree_topic(locale, topic_id)
        pages = self._topic_pages(locale, topic_id)
        if not 0 <= page < len(pages):
            raise KeyError(f"{topic_id}:{page}")
        parts = [] if topic_id == ROOT_ID else [self._header(locale, topic)]
        parts.append(pages[page])
        if topic.contact and page == len(pages) - 1:
            parts.append(self._contact_block(t))
        footer = self._footer(locale, topic)
        if footer:
            parts.append(footer)
        parts += page_line(t, page, len(pages))
        if page == len(pages) - 1 and self.asks_feedback(locale, topic_id):
            parts.append(feedback_line(t))
        return Screen("\n\n".join(parts), self._topic_keyboard(locale, topic, page, len(pages)))

    def asks_feedback(self, locale: str, topic_id: str) -> bool:
        """Whether the topic's last page asks "Was this helpful?": every topic but the main
        menu and the glossary's word lists (a topic of terms, or one listing only those)."""
        tree = self.library.trees[locale]
        topic = tree.get(topic_id)
        if topic is None or topic.id == ROOT_ID or topic.terms:
            return False
        children = [tree.get(child_id) for child_id in topic.children]
        return not (children and all(c is not None and c.terms for c in children))

    def _topic_keyboard(self, locale: str, topic: Topic, page: int, pages: int) -> Keyboard:
        """Children, then Previous/Next, then Back and Home (Language on the main menu)."""
        t = self.catalogs.get(locale)
        tree = self.library.trees[locale]
        rows: list[tuple[Button, ...]] = [
            (Button(child.label, callbacks.encode(callbacks.ShowTopic(child.id))),)
            for child in (tree.get(child_id) for child_id in topic.children)
            if child is not None and self._shown(locale, child.id)
        ]
        if self.terms_on_page(locale, topic.id, page):
            words = callbacks.ShowTerms(topic.id, page)
            label = "📖 " + t("Words on this page")
            rows.append((Button(label, callbacks.encode(words)),))
        if pages > 1:
            rows.append(paging_row(t, page, pages, lambda n: callbacks.ShowTopic(topic.id, n)))
        if page == pages - 1 and self.asks_feedback(locale, topic.id):
            rows.append(feedback_row(topic.id))  # right above Back and Home
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
        """The Home button, labelled in ``locale`` (for screens built outside the renderer)."""
        return self._home_button(self.catalogs.get(locale))

    def breadcrumb(self, locale: str, topic: Topic) -> str:
        t = self.catalogs.get(locale)
        chain = self.library.trees[locale].path_to(topic.id)
        labels = [t("Home")] + [node.label for node in chain[1:]]
        return BREADCRUMB_SEPARATOR.join(labels)

    def _header(self, locale: str, topic: Topic) -> str:
        crumb = esc(self.breadcrumb(locale, topic))
        return f"<i>{crumb}</i>\n<b>{esc(topic.title)}</b>"

    def _footer(self, locale: str, topic: Topic) -> str | None:
        """The last lines of a topic's screens: the medical review (not on the main menu) and,
        for a file converted by machine and not yet reviewed, a note that says so."""
        lines = [] if topic.id == ROOT_ID else [self._review_line(locale, topic)]
        if topic.machine_converted:
            lines.append("ℹ️ " + self.catalogs.get(locale)(MACHINE_CONVERTED))
        return "\n".join(f"<i>{esc(line)}</i>" for line in lines if line) or None

    def _review_line(self, locale: str, topic: Topic) -> str | None:
        """The medical review line, its date formatted by Babel for the locale."""
        if topic.reviewed is None:
            return None
        try:
            when = format_date(topic.reviewed, format="long", locale=Locale.parse(locale))
        except (ValueError, UnknownLocaleError):
            when = topic.reviewed.isoformat()
        t = self.catalogs.get(locale)
        if topic.reviewed_by:
            # TRANSLATORS: last line of a topic: who signed off its medical text
            # ({who}: a role or name from the topic file) and when ({date}).
            line = t("Reviewed by {who} on {date}").format(who=topic.reviewed_by, date=when)
        else:
            # TRANSLATORS: last line of a topic that names no reviewer;
            # {date} is e.g. "November 26, 2026".
            line = t("Last reviewed: {date}").format(date=when)
        return line

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
            overhead = 0 if topic_id == ROOT_ID else visible_len(self._header(locale, topic))
            if topic.contact:
                overhead += visible_len(self._contact_block(self.catalogs.get(locale)))
            footer = self._footer(locale, topic)
            if footer:
                overhead += visible_len(footer)
            if self.asks_feedback(locale, topic_id):
                overhead += visible_len(feedback_line(self.catalogs.get(locale)))
            budget = max(self.page_limit - overhead - _PAGE_SLACK, 200)
            pages = tuple(split_pages(self.topic_body(locale, topic), budget, MAX_SCREEN_CHARS))
            self._pages[key] = pages
        return pages


# Room for the breadcrumb and heading of the "Words on this page" screen.
_MAX_HEADER = 400
