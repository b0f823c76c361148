"""callback_data: encode and decode button actions, versioned, at most 64 bytes.

Format ``1:<kind>[:<arg>[:<page>]]``; the glossary words of a page: ``1:w:<topic>:<page>:<n>``;
"Was this helpful?" under a topic: ``1:v:<topic>:y`` (👍) or ``1:v:<topic>:n`` (👎).
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
#: A broadcast draft's id (``Storage.open_draft`` makes them): 12 lowercase hex digits.
DRAFT_ID_PATTERN = r"[0-9a-f]{12}"
_DRAFT_RE = re.compile(rf"^{DRAFT_ID_PATTERN}$")
_TAG_RE = re.compile(r"^[0-9a-f]{8}$")
_MINUTE_RE = re.compile(r"^[0-9]{1,10}$")


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
class Vote:
    """ "Was this helpful?" under a topic: 👍 (``helpful``) or 👎."""

    topic_id: str
    helpful: bool


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
    """Confirm under a preview: queues exactly the draft it was shown for ("1:bc:<id>")."""

    draft_id: str


@dataclass(frozen=True)
class BroadcastCancel:
    """Cancel under a preview: drops exactly that draft ("1:bx:<id>")."""

    draft_id: str


# -- /forget (telegram_side/handlers/privacy.py) -----------------------------------------


@dataclass(frozen=True)
class ForgetConfirm:
    """ "Erase my data", bound to one user (``tag``) and to the minute it was offered."""

    tag: str  # pseudonyms.user_tag of the user it was offered to
    minute: int  # Unix time // 60 when it was offered (older buttons are out of date)


@dataclass(frozen=True)
class ForgetCancel:
    """Keep my data."""


@dataclass(frozen=True)
class Invalid:
    """Forged, truncated or from another format version."""

    raw: str


Action = (
    Home
    | ShowTopic
    | ShowTerms
    | Vote
    | LanguageMenu
    | SetLanguage
    | Subscribe
    | ToggleInterest
    | InterestsDone
    | Unsubscribe
    | BroadcastConfirm
    | BroadcastCancel
    | ForgetConfirm
    | ForgetCancel
)
# Fixed-form actions (no arguments) and their kinds.
_FIXED: dict[type, str] = {
    Home: "h",
    LanguageMenu: "l",
    Subscribe: "s",
    InterestsDone: "d",
    Unsubscribe: "u",
    ForgetCancel: "fn",
}
# Actions that name a broadcast draft.
_DRAFT_KINDS: dict[type, str] = {BroadcastConfirm: "bc", BroadcastCancel: "bx"}
_FIXED_BY_KIND = {kind: cls for cls, kind in _FIXED.items()}
# A page number: 0-99, written without leading zeros (so each action has one encoding).
_PAGE_RE = re.compile(r"0|[1-9][0-9]?")


def encode(action: Action) -> str:
    fixed = _FIXED.get(type(action))
    data = f"{VERSION}:{fixed}" if fixed is not None else _encode_with_arguments(action)
    if len(data.encode()) > MAX_CALLBACK_DATA_BYTES:
        raise ValueError(f"callback_data over {MAX_CALLBACK_DATA_BYTES} bytes: {data!r}")
    return data


def _encode_with_arguments(action: Action) -> str:
    if isinstance(action, ToggleInterest):
        return f"{VERSION}:i:{action.interest_id}"
    if isinstance(action, SetLanguage):
        return f"{VERSION}:L:{action.locale}"
    if isinstance(action, ShowTerms):
        return f"{VERSION}:w:{action.topic_id}:{action.page}:{action.terms_page}"
    if isinstance(action, Vote):
        return f"{VERSION}:v:{action.topic_id}:{'y' if action.helpful else 'n'}"
    if isinstance(action, BroadcastConfirm | BroadcastCancel):
        return f"{VERSION}:{_DRAFT_KINDS[type(action)]}:{action.draft_id}"
    if isinstance(action, ForgetConfirm):
        return f"{VERSION}:fy:{action.tag}:{action.minute}"
    if not isinstance(action, ShowTopic):
        raise TypeError(f"not a button action: {action!r}")
    return f"{VERSION}:t:{action.topic_id}" + (f":{action.page}" if action.page else "")


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
    found = _decode_argument(kind, args) or _decode_topic(kind, args) or _decode_bound(kind, args)
    return found if found is not None else Invalid(raw)


def _decode_argument(kind: str, args: list[str]) -> Action | None:
    """The one-argument actions: an interest to toggle, a language to set."""
    if kind == "i" and len(args) == 1 and _INTEREST_RE.match(args[0]):
        return ToggleInterest(args[0])
    if kind == "L" and len(args) == 1 and _LOCALE_RE.match(args[0]):
        return SetLanguage(args[0])
    return None


def _decode_topic(kind: str, args: list[str]) -> Action | None:
    """A topic page (``t:<id>[:<page>]``), the words of a page (``w:<id>:<page>:<n>``) or a
    vote on a topic (``v:<id>:y|n``)."""
    if kind == "v" and len(args) == 2 and _TOPIC_RE.match(args[0]) and args[1] in ("y", "n"):
        return Vote(args[0], args[1] == "y")
    if kind == "t" and 1 <= len(args) <= 2 and _TOPIC_RE.match(args[0]):
        if len(args) == 2 and not re.fullmatch(r"[1-9][0-9]?", args[1]):
            return None
        return ShowTopic(args[0], int(args[1]) if len(args) == 2 else 0)
    if (
        kind == "w"
        and len(args) == 3
        and _TOPIC_RE.match(args[0])
        and all(_PAGE_RE.fullmatch(a) for a in args[1:])
    ):
        return ShowTerms(args[0], int(args[1]), int(args[2]))
    return None


def _decode_bound(kind: str, args: list[str]) -> Action | None:
    """The actions bound to one draft or one user (wizard and /forget); None: not one."""
    if kind in ("bc", "bx") and len(args) == 1 and _DRAFT_RE.match(args[0]):
        return BroadcastConfirm(args[0]) if kind == "bc" else BroadcastCancel(args[0])
    if kind == "fy" and len(args) == 2 and _TAG_RE.match(args[0]) and _MINUTE_RE.match(args[1]):
        return ForgetConfirm(args[0], int(args[1]))
    return None
