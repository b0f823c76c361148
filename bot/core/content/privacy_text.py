"""The privacy notice (/privacy): ``content/<locale>/privacy.yaml``, content data.

What the bot stores and why is the hospital's statement to its patients, so it is written,
translated and reviewed like a topic, not compiled into the program::

    title: "Your data and your privacy"
    reviewed: 2026-11-30
    reviewed_by: "Data protection officer"
    source: "What the bot stores (README: How patients use it)"
    body: |
      Telegram HTML, paragraphs separated by a blank line …

Every field is required. ``check`` (and so ``/reload``) reports each problem with file:line:
a missing file for the default locale is an error (the bot needs one notice to show), a
missing translation a warning (those patients get the default locale's notice), and the
notice must render within Telegram's limits.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from bot.config import Settings
from bot.core.content.problems import Problem
from bot.core.content.script_conversion import marker_problem
from bot.core.content.yamlfile import read_yaml
from bot.core.telegram_html import TelegramHTMLError, parse_html, validate_message_text

FILENAME = "privacy.yaml"
FIELDS = ("title", "body", "reviewed", "reviewed_by", "source")
# Written by `i18n convert` / `i18n mark-reviewed` in a locale converted by machine.
MARK_FIELDS = ("machine_converted", "converted_from")


@dataclass(frozen=True)
class PrivacyText:
    locale: str
    title: str
    body: str  # Telegram HTML
    reviewed: date
    reviewed_by: str
    source: str
    path: Path | None = field(default=None, compare=False)

    def html(self) -> str:
        """The message /privacy sends: the title in bold, then the body."""
        return f"<b>{html.escape(self.title, quote=False)}</b>\n\n{self.body}"


@dataclass(frozen=True)
class PrivacyTexts:
    """The notice of each locale that has one."""

    texts: Mapping[str, PrivacyText] = field(default_factory=dict)
    default_locale: str = "en"

    def get(self, locale: str) -> PrivacyText | None:
        """The notice in ``locale``, else the default locale's (None when there is none)."""
        return self.texts.get(locale) or self.texts.get(self.default_locale)


def load_privacy_texts(
    content_dir: Path, locales: Iterable[str], default_locale: str
) -> tuple[PrivacyTexts, list[Problem]]:
    """Read ``<content_dir>/<locale>/privacy.yaml`` for each locale; problems with file:line."""
    texts: dict[str, PrivacyText] = {}
    problems: list[Problem] = []
    for locale in locales:
        path = content_dir / locale / FILENAME
        if not path.is_file():
            if locale == default_locale:
                problems.append(
                    Problem(path, None, "no privacy notice: /privacy shows this file's text")
                )
            else:
                problems.append(
                    Problem(
                        path,
                        None,
                        f"no privacy notice in {locale}: /privacy shows the {default_locale} one",
                        severity="warning",
                    )
                )
            continue
        text, file_problems = _read(path, locale)
        problems.extend(file_problems)
        if text is not None:
            texts[locale] = text
    return PrivacyTexts(texts, default_locale), problems


def privacy_problems(settings: Settings, locales: Iterable[str], today: date) -> list[Problem]:
    """What `check` reports about the privacy notices: every problem of every file, and a
    warning for a notice whose review is older than ``REVIEW_MAX_AGE_DAYS`` (as for topics)."""
    texts, problems = load_privacy_texts(settings.content_dir, locales, settings.default_locale)
    max_age = settings.review_max_age_days
    problems += [
        Problem(
            text.path,
            None,
            f"the privacy notice was last reviewed on {text.reviewed}, more than {max_age} "
            "days ago (REVIEW_MAX_AGE_DAYS): ask whoever signs it off to review it, then "
            "update 'reviewed'",
            severity="warning",
        )
        for text in texts.texts.values()
        if (today - text.reviewed).days > max_age
    ]
    return problems


def _read(path: Path, locale: str) -> tuple[PrivacyText | None, list[Problem]]:
    parsed = read_yaml(path)
    if isinstance(parsed, Problem):
        return None, [parsed]
    data = parsed.data
    if not isinstance(data, dict):
        return None, [Problem(path, 1, "a privacy notice is a mapping of fields (title: …)")]
    found = _field_problems(data)
    if not found:
        text = PrivacyText(
            locale=locale,
            title=data["title"].strip(),
            body=data["body"].strip(),
            reviewed=data["reviewed"],
            reviewed_by=data["reviewed_by"].strip(),
            source=data["source"].strip(),
            path=path,
        )
        found = _html_problems(text)
        if not found:
            return text, []
    return None, [Problem(path, parsed.line(key, default=1), message) for key, message in found]


def _field_problems(data: Mapping[object, object]) -> list[tuple[str, str]]:
    """(field, message) for unknown, missing and ill-typed fields."""
    found = [
        (str(name), f"unknown field {name!r} (known: {', '.join(FIELDS)})")
        for name in data
        if name not in FIELDS + MARK_FIELDS
    ]
    found += [
        (name, problem)
        for name in MARK_FIELDS
        if name in data and (problem := marker_problem(name, data[name]))
    ]
    for name in FIELDS:
        value = data.get(name)
        if value is None or value == "":
            found.append(("", f"missing field {name!r}"))
        elif name == "reviewed" and not isinstance(value, date):
            found.append((name, f"field 'reviewed' must be a date YYYY-MM-DD, not {value!r}"))
        elif name != "reviewed" and not isinstance(value, str):
            found.append((name, f"field {name!r} must be text, not {type(value).__name__}"))
    return found


def _html_problems(text: PrivacyText) -> list[tuple[str, str]]:
    """The body parses as Telegram HTML, paragraph by paragraph, and the message fits."""
    for paragraph in text.body.split("\n\n"):
        try:
            parse_html(paragraph.strip())
        except TelegramHTMLError as exc:
            return [("body", f"body HTML: {exc} (a paragraph must parse on its own)")]
    try:
        validate_message_text(text.html(), "HTML")
    except TelegramHTMLError as exc:
        return [("body", f"the notice as sent to Telegram: {exc}")]
    return []
