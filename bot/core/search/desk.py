"""What the bot answers to a typed message: urgent care first, then the topic that matches.

:class:`QuestionDesk` holds one content version's renderer, search index and urgent signs; it
is built off the event loop with the content and swapped with it on a reload, so an update
always searches the content it renders. For a typed message it returns the screens to send,
in order:

1. the urgent-care message (a message of its own, no buttons, so that it stays in the chat)
   when the text shows a warning sign of ``urgent.yaml`` in any language;
2. the answer: the topic itself, with a note above it, when one topic is clearly the best
   (see :func:`decide`); otherwise up to three topics to choose from, with their breadcrumbs;
   otherwise a note that typed messages are not read by a person, the hospital's line (or
   "ask your care team") and the main menu. Every answer has a Home button.

The text is searched, never stored or logged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.config import Settings
from bot.core import callbacks
from bot.core.content.bundle import LoadedContent
from bot.core.content.urgent import UrgentRules
from bot.core.i18n import _
from bot.core.limits import MAX_MESSAGE_LENGTH
from bot.core.render import Button, Renderer, Screen, esc
from bot.core.search.index import Hit, SearchIndex
from bot.core.telegram_html import parse_html

# A topic is a match when it scores at least this: more than one rare word of its body alone
# (~3; small talk scores up to ~4.1 on the shipped content), as a keyword does (~6-9). It is
# shown by itself when it scores CLEAR_MIN_SCORE and CLEAR_RATIO times the next one. Set with
# tests/search_questions.yaml (tests/test_search.py prints the rates) and its small talk.
MATCH_MIN_SCORE = 4.5
CLEAR_MIN_SCORE = 6.0
CLEAR_RATIO = 1.5
# Other topics offered score at least this share of the best one.
CHOICE_MIN_SHARE = 0.4
MAX_CHOICES = 3
# Only the start of a very long message is searched (the urgent signs read all of it).
MAX_SEARCHED_CHARACTERS = 500

# Interface notes (gettext msgids, extracted through the _() marker).
BEST_MATCH = _("This topic best matches your question:")
CHOICES = _("These topics may answer your question:")
NO_MATCH = _(
    "I could not find a topic for your message. Messages typed here are not read by a person."
)
CALL_HOSPITAL = _("For questions about your own care, call the hospital: {phone}")
ASK_CARE_TEAM = _("For questions about your own care, please ask your care team.")
IN_AN_EMERGENCY = _("In an emergency, call {number} straight away.")
# TRANSLATORS: fills {number} in "call {number}" when no EMERGENCY_NUMBER is set.
LOCAL_EMERGENCY_NUMBER = _("your local emergency number")


@dataclass(frozen=True)
class Finding:
    """The topics a message matched: ``best`` when one is clearly best, else ``choices``."""

    best: str | None = None
    choices: tuple[str, ...] = ()

    @property
    def offered(self) -> tuple[str, ...]:
        return (self.best,) if self.best else self.choices


@dataclass(frozen=True)
class TypedReply:
    """The screens to send, in order, and what to count (never the text)."""

    screens: tuple[Screen, ...]
    matched: bool
    urgent: bool
    #: The topic shown by itself (the clear best match): a view of that topic.
    shown_topic: str | None = None


def decide(hits: list[Hit]) -> Finding:
    """The best topic when it is clearly best, else up to :data:`MAX_CHOICES` to choose from."""
    hits = [h for h in hits if h.score >= MATCH_MIN_SCORE]
    if not hits:
        return Finding()
    first = hits[0].score
    second = hits[1].score if len(hits) > 1 else 0.0
    if first >= CLEAR_MIN_SCORE and first >= CLEAR_RATIO * second:
        return Finding(best=hits[0].topic_id)
    floor = CHOICE_MIN_SHARE * first
    return Finding(choices=tuple(h.topic_id for h in hits[:MAX_CHOICES] if h.score >= floor))


class QuestionDesk:
    """Answers typed messages for one content version (see the module docstring)."""

    def __init__(
        self,
        renderer: Renderer,
        index: SearchIndex,
        urgent: Mapping[str, UrgentRules],
        settings: Settings,
    ) -> None:
        self.renderer = renderer
        self.index = index
        self.urgent = urgent
        self.settings = settings

    @classmethod
    def build(cls, content: LoadedContent, settings: Settings) -> QuestionDesk:
        """The renderer and the search index of ``content`` (blocking: index build ~0.2 s)."""
        renderer = Renderer(content.library, content.catalogs, settings.hospital)
        return cls(renderer, SearchIndex(content.library), content.urgent, settings)

    def find(self, text: str, locale: str) -> Finding:
        """What ``text`` matches among the topics ``locale`` serves (pure; used by tests)."""
        served = self.index.locales.get(locale)
        hits = self.index.search(text[:MAX_SEARCHED_CHARACTERS], limit=MAX_CHOICES + 2)
        if served is not None:
            allowed = set(served.topic_ids)
            hits = [h for h in hits if h.topic_id in allowed]
        return decide(hits)

    def urgent_signs(self, text: str) -> list[str]:
        """The warning signs ``text`` shows, in any language's ``urgent.yaml``."""
        return [name for rules in self.urgent.values() for name in rules.signs_in(text)]

    def reply(self, text: str, locale: str, *, subscribed: bool = False) -> TypedReply:
        screens: list[Screen] = []
        urgent = bool(self.urgent_signs(text))
        if urgent:
            screens.append(self.urgent_screen(locale))
        finding = self.find(text, locale)
        screens.append(self.answer(finding, locale, subscribed=subscribed))
        return TypedReply(
            tuple(screens), matched=bool(finding.offered), urgent=urgent, shown_topic=finding.best
        )

    # -- screens ---------------------------------------------------------------------------

    def urgent_screen(self, locale: str) -> Screen:
        rules = self.urgent.get(locale) or self.urgent.get(self.settings.default_locale)
        if rules is None:  # `check` requires urgent.yaml in every locale: never in service
            rules = next(iter(self.urgent.values()))
        phone = self.settings.hospital_emergency_phone
        text = rules.render(self._emergency_number(locale), esc(phone) if phone else None)
        return Screen(text, ())

    def answer(self, finding: Finding, locale: str, *, subscribed: bool = False) -> Screen:
        if finding.best is not None:
            return self._best(finding.best, locale)
        if finding.choices:
            return self._choices(finding.choices, locale)
        return self._no_match(locale, subscribed=subscribed)

    def _best(self, topic_id: str, locale: str) -> Screen:
        screen = self.renderer.topic(locale, topic_id)
        text = f"<i>{self.renderer.note(locale, BEST_MATCH)}</i>\n\n{screen.text}"
        if len(parse_html(text).text.strip()) > MAX_MESSAGE_LENGTH:
            return screen  # a full page leaves no room for the note
        return Screen(text, screen.keyboard)

    def _choices(self, topic_ids: tuple[str, ...], locale: str) -> Screen:
        tree = self.renderer.library.trees[locale]
        lines = [f"<i>{self.renderer.note(locale, CHOICES)}</i>"]
        rows: list[tuple[Button, ...]] = []
        for number, topic_id in enumerate(topic_ids, start=1):
            topic = tree.topics[topic_id]
            crumb = esc(self.renderer.breadcrumb(locale, topic))
            lines.append(f"{number}. <b>{esc(topic.title)}</b>\n<i>{crumb}</i>")
            action = callbacks.encode(callbacks.ShowTopic(topic_id))
            rows.append((Button(f"{number}. {topic.label}", action),))
        home = self.renderer.catalogs.get(locale)("Home")  # the Home button of every screen
        rows.append((Button("🏠 " + home, callbacks.encode(callbacks.Home())),))
        return Screen("\n\n".join(lines), tuple(rows))

    def _no_match(self, locale: str, *, subscribed: bool) -> Screen:
        t = self.renderer.catalogs.get(locale)
        phone = self.settings.hospital.phone
        contact = t(CALL_HOSPITAL).format(phone=phone) if phone else t(ASK_CARE_TEAM)
        emergency = esc(t(IN_AN_EMERGENCY)).format(number=self._emergency_number(locale))
        lines = [f"<i>{esc(t(NO_MATCH))}</i>", "📞 " + esc(contact), "🚑 " + emergency]
        home = self.renderer.home(locale, subscribed=subscribed)
        return Screen("\n".join(lines) + "\n\n" + home.text, home.keyboard)

    def _emergency_number(self, locale: str) -> str:
        """The emergency number as HTML: EMERGENCY_NUMBER in bold, or the localized words."""
        number = self.settings.emergency_number
        if number:
            return f"<b>{esc(number)}</b>"
        return self.renderer.note(locale, LOCAL_EMERGENCY_NUMBER)
