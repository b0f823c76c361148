"""The broadcast file of ``interventional-bot broadcast create FILE`` (YAML).

::

    texts:                      # required: Telegram HTML per locale
      en: |
        <b>Open day</b> on Saturday …
      zh_Hans: |
        <b>开放日</b> …
    audience:                   # optional; without it every subscriber gets it
      locales: [en, zh_Hans]    # only subscribers in these languages
      interests: [treatments]   # only subscribers who picked one of these
    send_at: 2025-06-01T09:00:00+08:00   # optional, ISO 8601 with a time zone; default now
    paid: false                 # optional; true: allow_paid_broadcast, up to 1000 msg/s

Every problem is reported as ``file:line: message``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from bot.broadcast.draft import BroadcastDraft, draft_problems
from bot.core.content.problems import Problem
from bot.core.content.yamlfile import read_yaml

TOP_FIELDS = ("texts", "audience", "send_at", "paid")
AUDIENCE_FIELDS = ("locales", "interests")


def load_broadcast_file(
    path: Path,
    *,
    available_locales: Sequence[str],
    default_locale: str,
    available_interests: Sequence[str] | None = None,
) -> tuple[BroadcastDraft | None, list[Problem]]:
    """Read and validate ``path``; the draft is None when there is any problem."""
    parsed = read_yaml(path)
    if isinstance(parsed, Problem):
        return None, [parsed]
    data, node = parsed.data, parsed.node
    if not isinstance(data, dict) or node is None:
        return None, [Problem(path, 1, "a broadcast file is a mapping with texts: …")]
    problems: list[Problem] = []

    def err(field: str, message: str) -> None:
        problems.append(Problem(path, parsed.line(field, default=1), message))

    for name in data:
        if name not in TOP_FIELDS:
            err(str(name), f"unknown field {name!r} (known: {', '.join(TOP_FIELDS)})")

    texts: dict[str, str] = {}
    raw_texts = data.get("texts")
    if raw_texts is None:
        err("texts", "missing field 'texts' (Telegram HTML per locale, e.g. en: …)")
    elif not isinstance(raw_texts, dict):
        err("texts", "field 'texts' must map locales to texts (en: …)")
    else:
        for locale, value in raw_texts.items():
            if not isinstance(value, str):
                err(f"texts.{locale}", f"the text for {locale} must be text, not {_kind(value)}")
            else:
                texts[str(locale)] = value.strip()

    locales: tuple[str, ...] | None = None
    interests: tuple[str, ...] | None = None
    audience = data.get("audience")
    if audience is not None:
        if not isinstance(audience, dict):
            err("audience", "field 'audience' must be a mapping with locales and/or interests")
        else:
            for name in audience:
                if name not in AUDIENCE_FIELDS:
                    err(
                        f"audience.{name}",
                        f"unknown field audience.{name} (known: {', '.join(AUDIENCE_FIELDS)})",
                    )
            locales = _string_list(audience, "locales", err)
            interests = _string_list(audience, "interests", err)

    send_at: datetime | None = None
    raw_send_at = data.get("send_at")
    if raw_send_at is not None:
        if isinstance(raw_send_at, datetime):
            send_at = raw_send_at
        elif isinstance(raw_send_at, str):
            try:
                send_at = datetime.fromisoformat(raw_send_at.strip())
            except ValueError:
                err("send_at", f"send_at {raw_send_at!r} is not an ISO 8601 date and time")
        elif isinstance(raw_send_at, date):
            err("send_at", "send_at needs a time and a time zone, e.g. 2025-06-01T09:00:00+08:00")
        else:
            err("send_at", f"send_at must be a date and time, not {_kind(raw_send_at)}")
    paid = data.get("paid", False)
    if not isinstance(paid, bool):
        err("paid", "field 'paid' must be true or false")
        paid = False

    draft = BroadcastDraft(
        texts=texts, locales=locales, interests=interests, send_at=send_at, paid=paid
    )
    field_of = {"locales": "audience.locales", "interests": "audience.interests"}
    for field, message in draft_problems(
        draft,
        available_locales=available_locales,
        default_locale=default_locale,
        available_interests=available_interests,
    ):
        if field == "texts" and not isinstance(raw_texts, dict):
            continue  # already reported
        err(field_of.get(field, field), message)
    problems.sort(key=lambda p: p.line or 0)
    return (None if problems else draft), problems


def _string_list(mapping: dict[str, Any], name: str, err: Any) -> tuple[str, ...] | None:
    if name not in mapping:
        return None
    value = mapping[name]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        err(f"audience.{name}", f"audience.{name} must be a list such as [a, b]")
        return None
    return tuple(value)


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__
