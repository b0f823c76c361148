"""callback_data: encode and decode button actions, versioned, at most 64 bytes.

Format ``1:<kind>[:<arg>[:<page>]]``; the glossary words of a page: ``1:w:<topic>:<page>:<n>``.
The leading ``1`` is the format version: a button from a message sent by a future (or past)
format decodes to :class:`Invalid`, never an exception.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.core.content.model import TOPIC_ID_PATTERN
from bot.core.interests import ID_PATTERN as INTEREST_ID_PATTERN
from bot.core.limits import MAX_CALLBACK_DATA_BYTES

VERSION = "1"
_TOPIC_RE = re.compile(rf"^{TOPIC_ID_PATTERN}$")
_LOCALE_RE = re.compile(r"^[A-Za-z]{2,3}(_[A-Za-z0-9]{2,8}){0,3}$")
_INTEREST_RE = re.compile(rf"^{INTEREST_ID_PATTERN}$")


@dataclass(frozen=True)
class Home:
    pass


@dataclass(frozen=True)
class ShowTopic:
    topic_id: str
    page: int = 0


@dataclass(frozen=True)
class ShowTerms:
    """The glossary words used on page ``page`` of a topic; ``terms_page`` pages that list."""

    topic_id: str
    page: int = 0
    terms_page: int = 0


@dataclass(frozen=True)
class LanguageMenu:
    pass


@dataclass(frozen=True)
class SetLanguage:
    locale: str


# -- news subscriptions (telegram_side/handlers/news_optin.py) ------------------------


@dataclass(frozen=True)
class Subscribe:
    """Subscribe to news (consent), or open the news settings when already subscribed."""


@dataclass(frozen=True)
class ToggleInterest:
    interest_id: str


@dataclass(frozen=True)
class InterestsDone:
    pass


@dataclass(frozen=True)
class Unsubscribe:
    """Under every broadcast message ("1:u", fixed: the delivery engine writes it too)."""


# -- the admin's /broadcast wizard (telegram_side/handlers/broadcast_wizard.py) --------


@dataclass(frozen=True)
class BroadcastConfirm:
    pass


@dataclass(frozen=True)
class BroadcastCancel:
    pass


@dataclass(frozen=True)
class Invalid:
    """Forged, truncated or from another format version."""

    raw: str


Action = (
    Home
    | ShowTopic
    | ShowTerms
    | LanguageMenu
    | SetLanguage
    | Subscribe
    | ToggleInterest
    | InterestsDone
    | Unsubscribe
    | BroadcastConfirm
    | BroadcastCancel
)
# Fixed-form actions (no arguments) and their kinds.
_FIXED: dict[type, str] = {
    Home: "h",
    LanguageMenu: "l",
    Subscribe: "s",
    InterestsDone: "d",
    Unsubscribe: "u",
    BroadcastConfirm: "bc",
    BroadcastCancel: "bx",
}
_FIXED_BY_KIND = {kind: cls for cls, kind in _FIXED.items()}
# A page number: 0-99, written without leading zeros (so each action has one encoding).
_PAGE_RE = re.compile(r"0|[1-9][0-9]?")


def encode(action: Action) -> str:
    fixed = _FIXED.get(type(action))
    if fixed is not None:
        data = f"{VERSION}:{fixed}"
    elif isinstance(action, ToggleInterest):
        data = f"{VERSION}:i:{action.interest_id}"
    elif isinstance(action, SetLanguage):
        data = f"{VERSION}:L:{action.locale}"
    elif isinstance(action, ShowTerms):
        data = f"{VERSION}:w:{action.topic_id}:{action.page}:{action.terms_page}"
    elif not isinstance(action, ShowTopic):
        raise TypeError(f"not a button action: {action!r}")
    else:
        data = f"{VERSION}:t:{action.topic_id}"
        if action.page:
            data += f":{action.page}"
    if len(data.encode()) > MAX_CALLBACK_DATA_BYTES:
        raise ValueError(f"callback_data over {MAX_CALLBACK_DATA_BYTES} bytes: {data!r}")
    return data


def decode(data: str | None) -> Action | Invalid:
    raw = data or ""
    if len(raw.encode("utf-8", "replace")) > MAX_CALLBACK_DATA_BYTES:
        return Invalid(raw[:MAX_CALLBACK_DATA_BYTES])
    parts = raw.split(":")
    if len(parts) < 2 or parts[0] != VERSION:
        return Invalid(raw)
    kind, args = parts[1], parts[2:]
    if kind in _FIXED_BY_KIND and not args:
        fixed: Action = _FIXED_BY_KIND[kind]()
        return fixed
    if kind == "i" and len(args) == 1 and _INTEREST_RE.match(args[0]):
        return ToggleInterest(args[0])
    if kind == "L" and len(args) == 1 and _LOCALE_RE.match(args[0]):
        return SetLanguage(args[0])
    if kind == "t" and 1 <= len(args) <= 2 and _TOPIC_RE.match(args[0]):
        page = 0
        if len(args) == 2:
            if not re.fullmatch(r"[1-9][0-9]?", args[1]):
                return Invalid(raw)
            page = int(args[1])
        return ShowTopic(args[0], page)
    if (
        kind == "w"
        and len(args) == 3
        and _TOPIC_RE.match(args[0])
        and all(_PAGE_RE.fullmatch(a) for a in args[1:])
    ):
        return ShowTerms(args[0], int(args[1]), int(args[2]))
    return Invalid(raw)
