"""callback_data: encode and decode button actions, versioned, at most 64 bytes.

Format ``1:<kind>[:<arg>[:<page>]]``. The leading ``1`` is the format version: a button from
a message sent by a future (or past) format decodes to :class:`Invalid`, never an exception.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.content.model import TOPIC_ID_PATTERN

VERSION = "1"
MAX_BYTES = 64
_TOPIC_RE = re.compile(rf"^{TOPIC_ID_PATTERN}$")
_LOCALE_RE = re.compile(r"^[A-Za-z]{2,3}(_[A-Za-z0-9]{2,8}){0,3}$")


@dataclass(frozen=True)
class Home:
    pass


@dataclass(frozen=True)
class ShowTopic:
    topic_id: str
    page: int = 0


@dataclass(frozen=True)
class LanguageMenu:
    pass


@dataclass(frozen=True)
class SetLanguage:
    locale: str


@dataclass(frozen=True)
class Invalid:
    """Forged, truncated or from another format version."""

    raw: str


Action = Home | ShowTopic | LanguageMenu | SetLanguage


def encode(action: Action) -> str:
    if isinstance(action, Home):
        data = f"{VERSION}:h"
    elif isinstance(action, LanguageMenu):
        data = f"{VERSION}:l"
    elif isinstance(action, SetLanguage):
        data = f"{VERSION}:L:{action.locale}"
    else:
        data = f"{VERSION}:t:{action.topic_id}"
        if action.page:
            data += f":{action.page}"
    if len(data.encode()) > MAX_BYTES:
        raise ValueError(f"callback_data over {MAX_BYTES} bytes: {data!r}")
    return data


def decode(data: str | None) -> Action | Invalid:
    raw = data or ""
    if len(raw.encode("utf-8", "replace")) > MAX_BYTES:
        return Invalid(raw[:MAX_BYTES])
    parts = raw.split(":")
    if len(parts) < 2 or parts[0] != VERSION:
        return Invalid(raw)
    kind, args = parts[1], parts[2:]
    if kind == "h" and not args:
        return Home()
    if kind == "l" and not args:
        return LanguageMenu()
    if kind == "L" and len(args) == 1 and _LOCALE_RE.match(args[0]):
        return SetLanguage(args[0])
    if kind == "t" and 1 <= len(args) <= 2 and _TOPIC_RE.match(args[0]):
        page = 0
        if len(args) == 2:
            if not re.fullmatch(r"[1-9][0-9]?", args[1]):
                return Invalid(raw)
            page = int(args[1])
        return ShowTopic(args[0], page)
    return Invalid(raw)
