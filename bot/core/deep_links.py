"""Deep links: the ``start`` payload of ``https://t.me/<bot>?start=<payload>``, both ways.

Telegram hands /start at most 64 characters of ``A-Za-z0-9_-`` (:data:`MAX_DEEP_LINK_LENGTH`).
Two forms are ours:

- ``<topic>``: a bare topic id (the first form; links already printed keep working). It opens
  the topic in the patient's language and names no source.
- ``v1_<topic>[_<lang>[_<source>]]``: version 1. The fields are separated by ``_``, which none of
  them can contain:

  - ``topic``: a topic id (``[a-z0-9][a-z0-9-]*``); ``home`` is the main menu;
  - ``lang``: a locale written with ``-`` for ``_`` (``en``, ``zh-Hans``), any case; empty: the
    patient's own language;
  - ``source``: where the link was printed (a poster, a clinic): ``A-Za-z0-9-``, as long as the
    whole payload fits in 64 characters; counted per day in the statistics, never stored per
    user.

  For example ``v1_recovery_zh-Hans_ward3-poster`` or ``v1_stents__clinic-b``. Empty fields at
  the end are left out. A later format changes the ``v1``.

Anything else is someone else's payload (``ref_123``, ``utm-x``), a later version, a field that
cannot be ours, or over 64 characters: :func:`decode` returns None and the bot shows the main
menu. Whether the topic and the language exist is for the caller to check against the content
it serves; :func:`match_locale` finds the locale a ``lang`` field names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from bot.core.content.model import TOPIC_ID_PATTERN
from bot.core.limits import MAX_DEEP_LINK_LENGTH

#: The format version this code writes (the payload's first field).
VERSION = "v1"
#: The longest source id: what 64 characters leave beside ``v1_<one-letter topic>__``.
MAX_SOURCE_LENGTH = MAX_DEEP_LINK_LENGTH - len("v1_x__")
SOURCE_PATTERN = rf"[A-Za-z0-9-]{{1,{MAX_SOURCE_LENGTH}}}"
_PAYLOAD_RE = re.compile(r"[A-Za-z0-9_-]+")
_TOPIC_RE = re.compile(TOPIC_ID_PATTERN)
_LANG_RE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}")
_SOURCE_RE = re.compile(SOURCE_PATTERN)
_SEPARATOR = "_"


@dataclass(frozen=True)
class DeepLink:
    """A payload of ours: the topic to open, in ``lang`` (None: the patient's own language),
    printed at ``source`` (None: not said); ``version`` 0 is the bare ``<topic>`` form."""

    topic_id: str
    lang: str | None = None
    source: str | None = None
    version: int = 1


class PayloadError(ValueError):
    """A link cannot be made; ``str()`` is one line saying why."""


def lang_field(locale: str) -> str:
    """The ``lang`` field for a locale: ``zh_Hans`` -> ``zh-Hans``."""
    return locale.replace("_", "-")


def encode(topic_id: str, locale: str | None = None, source: str | None = None) -> str:
    """The payload for a link; the bare ``<topic>`` form when there is neither language nor
    source (the shortest link, and the QR code with the fewest modules).

    Raises :class:`PayloadError` for a field that is not valid or a payload over 64 characters.
    """
    if not _TOPIC_RE.fullmatch(topic_id):
        raise PayloadError(f"{topic_id!r} is not a topic id")
    lang = lang_field(locale) if locale else ""
    if lang and not _LANG_RE.fullmatch(lang):
        raise PayloadError(f"{locale!r} is not a locale such as en or zh_Hans")
    if source is not None and not _SOURCE_RE.fullmatch(source):
        raise PayloadError(
            f"{source!r} is not a source id: letters (A-Z, a-z), digits and '-' only, "
            f"at most {MAX_SOURCE_LENGTH}"
        )
    if not lang and not source:
        return topic_id
    fields = [VERSION, topic_id, lang] + ([source] if source else [])
    payload = _SEPARATOR.join(fields)
    if len(payload) > MAX_DEEP_LINK_LENGTH:
        room = MAX_DEEP_LINK_LENGTH - (len(payload) - len(source or ""))
        raise PayloadError(
            f"the link's payload {payload!r} is {len(payload)} characters, Telegram allows "
            f"{MAX_DEEP_LINK_LENGTH}: shorten the source to at most {max(room, 0)} characters"
        )
    return payload


def decode(payload: str | None) -> DeepLink | None:
    """The link a payload of ours names, or None for anything else (see the module docstring)."""
    if not payload or len(payload) > MAX_DEEP_LINK_LENGTH or not _PAYLOAD_RE.fullmatch(payload):
        return None
    if _SEPARATOR not in payload:
        return DeepLink(payload, version=0) if _TOPIC_RE.fullmatch(payload) else None
    fields = payload.split(_SEPARATOR)
    if fields[0] != VERSION or not 2 <= len(fields) <= 4:
        return None
    topic_id, lang, source = (*fields[1:], "", "")[:3]
    if not _TOPIC_RE.fullmatch(topic_id):
        return None
    if lang and not _LANG_RE.fullmatch(lang):
        return None
    if source and not _SOURCE_RE.fullmatch(source):
        return None
    return DeepLink(topic_id, lang or None, source or None)


def match_locale(lang: str, available: Iterable[str]) -> str | None:
    """The available locale a ``lang`` field names (``zh-hans`` -> ``zh_Hans``), or None."""
    wanted = lang.replace("-", "_").casefold()
    for locale in available:
        if locale.casefold() == wanted:
            return locale
    return None
