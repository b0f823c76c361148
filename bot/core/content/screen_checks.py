"""`check`, as the patient sees it: every screen of every topic, rendered as the bot sends it.

Telegram's rules (HTML, length, buttons, callback data), the phone-sized screen
(:data:`~bot.core.paging.MAX_SCREEN_CHARS`), three taps from the main menu counting Next, and
the glossary's definitions and "Words on this page" screens.
"""

from __future__ import annotations

from bot.core.content.model import ContentTree, Topic
from bot.core.content.problems import Problem
from bot.core.limits import MAX_CALLBACK_DATA_BYTES, MAX_INLINE_BUTTONS
from bot.core.paging import MAX_SCREEN_CHARS, screen_chars
from bot.core.render import Renderer
from bot.core.telegram_html import TelegramHTMLError, parse_html, validate_message_text

MAX_DEPTH = 3  # every fact within three taps of the main menu
MAX_BUTTON_LABEL = 40  # longer labels wrap badly on small phones


def check_rendering(renderer: Renderer, tree: ContentTree) -> list[Problem]:
    """Every page of every topic, rendered as the bot sends it, obeys Telegram's rules."""
    problems: list[Problem] = []
    for topic in tree.topics.values():
        problems.extend(_check_source_html(topic))
        if tree.path_to(topic.id):
            problems.extend(_check_pages(renderer, tree.locale, topic))
    return problems


def _check_source_html(topic: Topic) -> list[Problem]:
    problems: list[Problem] = []
    for paragraph in topic.body.split("\n\n"):
        try:
            parse_html(paragraph.strip())
        except TelegramHTMLError as exc:
            problems.append(
                _at(topic, "body", f"body HTML: {exc} (a paragraph must parse on its own)")
            )
            break
    for term in topic.terms:
        try:
            parse_html(term.definition)
        except TelegramHTMLError as exc:
            problems.append(
                Problem(
                    topic.path,
                    term.line or topic.line("terms"),
                    f"definition of {term.term!r}: HTML: {exc}",
                )
            )
        if "\n\n" in term.definition:
            problems.append(
                Problem(
                    topic.path,
                    term.line or topic.line("terms"),
                    f"definition of {term.term!r} must be one paragraph (no blank line)",
                )
            )
    if topic.button and len(topic.button) > MAX_BUTTON_LABEL:
        problems.append(
            _at(topic, "button", f"button label longer than {MAX_BUTTON_LABEL} characters")
        )
    return problems


def _check_pages(renderer: Renderer, locale: str, topic: Topic) -> list[Problem]:
    problems: list[Problem] = []
    try:
        pages = renderer.page_count(locale, topic.id)
    except KeyError:
        return problems
    problems.extend(_check_screen_sizes(renderer, locale, topic))
    for page in range(pages):
        screen = renderer.topic(locale, topic.id, page)
        where = f"page {page + 1} of {pages}"
        for terms_page in range(
            renderer.terms_page_count(locale, topic.id, page)
            if renderer.terms_on_page(locale, topic.id, page)
            else 0
        ):
            words = renderer.terms(locale, topic.id, page, terms_page)
            try:
                validate_message_text(words.text, "HTML")
            except TelegramHTMLError as exc:
                problems.append(
                    _at(topic, "body", f"{where}, words on this page as sent to Telegram: {exc}")
                )
        try:
            validate_message_text(screen.text, "HTML")
        except TelegramHTMLError as exc:
            problems.append(_at(topic, "body", f"{where} as sent to Telegram: {exc}"))
        buttons = screen.buttons()
        if len(buttons) > MAX_INLINE_BUTTONS:
            problems.append(
                _at(
                    topic,
                    "children",
                    f"{where}: {len(buttons)} buttons (Telegram allows {MAX_INLINE_BUTTONS})",
                )
            )
        problems.extend(
            _at(topic, "id", f"callback_data {b.data!r} over {MAX_CALLBACK_DATA_BYTES} bytes")
            for b in buttons
            if len(b.data.encode()) > MAX_CALLBACK_DATA_BYTES
        )
    return problems


def _check_screen_sizes(renderer: Renderer, locale: str, topic: Topic) -> list[Problem]:
    """Each page fits a phone screen (MAX_SCREEN_CHARS), and is within MAX_DEPTH taps."""
    problems: list[Problem] = []
    bodies = renderer.page_bodies(locale, topic.id)
    depth = len(renderer.library.trees[locale].path_to(topic.id)) - 1
    for page, body in enumerate(bodies):
        where = f"page {page + 1} of {len(bodies)}"
        chars = screen_chars(body)
        if chars > MAX_SCREEN_CHARS:
            problems.append(
                Problem(
                    topic.path,
                    _paragraph_line(topic, body),
                    f"{where}: {chars} characters of text on one screen, at most "
                    f"{MAX_SCREEN_CHARS} (the body as the patient reads it, tags removed; the "
                    "breadcrumb, title and last line are not counted): pages break between "
                    "paragraphs, so split this paragraph, or move text to a child topic",
                )
            )
        if depth >= 0 and depth + page > MAX_DEPTH:
            problems.append(
                Problem(
                    topic.path,
                    _paragraph_line(topic, body),
                    f"{where} of {topic.id!r} is {depth + page} taps from the main menu "
                    f"(at most {MAX_DEPTH}, counting Next): shorten the topic or split it",
                )
            )
    return problems


def _paragraph_line(topic: Topic, page_body: str) -> int | None:
    """The line in the topic's file where ``page_body`` (one page's HTML) starts."""
    first = page_body.split("\n\n", 1)[0].strip()
    for term in topic.terms:
        if term.definition in first:
            return term.line or topic.line("terms")
    body_line = topic.line("body")
    at = topic.body.find(first.split("\n", 1)[0])
    if body_line is None or at < 0:
        return body_line
    # `body: |` is followed by the text, one file line per line of the body.
    return body_line + 1 + topic.body.count("\n", 0, at)


def _at(topic: Topic, field_name: str, message: str) -> Problem:
    return Problem(topic.path, topic.line(field_name), message)
