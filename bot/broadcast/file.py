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
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from bot.broadcast.draft import BroadcastDraft, draft_problems, with_converted_texts
from bot.core.content.problems import Problem
from bot.core.content.yamlfile import YamlFile, read_yaml

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
    if not isinstance(parsed.data, dict) or parsed.node is None:
        return None, [Problem(path, 1, "a broadcast file is a mapping with texts: …")]
    reader = _FileReader(path, parsed)
    draft = reader.draft()
    # A Traditional Chinese text not given is converted from the Simplified one.
    audience = available_locales if draft.locales is None else draft.locales
    texts = with_converted_texts(draft.texts, list(audience), default_locale)
    draft = replace(draft, texts=texts, converted=tuple(t for t in texts if t not in draft.texts))
    field_of = {"locales": "audience.locales", "interests": "audience.interests"}
    for field, message in draft_problems(
        draft,
        available_locales=available_locales,
        default_locale=default_locale,
        available_interests=available_interests,
    ):
        if field == "texts" and not isinstance(parsed.data.get("texts"), dict):
            continue  # already reported
        reader.err(field_of.get(field, field), message)
    problems = sorted(reader.problems, key=lambda p: p.line or 0)
    return (None if problems else draft), problems


class _FileReader:
    """The fields of one broadcast file; every problem names its line."""

    def __init__(self, path: Path, parsed: YamlFile) -> None:
        self.path = path
        self.parsed = parsed
        self.data: dict[str, Any] = parsed.data
        self.problems: list[Problem] = []

    def err(self, field: str, message: str) -> None:
        self.problems.append(Problem(self.path, self.parsed.line(field, default=1), message))

    def draft(self) -> BroadcastDraft:
        for name in self.data:
            if name not in TOP_FIELDS:
                self.err(str(name), f"unknown field {name!r} (known: {', '.join(TOP_FIELDS)})")
        locales, interests = self.audience()
        paid = self.data.get("paid", False)
        if not isinstance(paid, bool):
            self.err("paid", "field 'paid' must be true or false")
            paid = False
        return BroadcastDraft(
            texts=self.texts(),
            locales=locales,
            interests=interests,
            send_at=self.send_at(),
            paid=paid,
        )

    def texts(self) -> dict[str, str]:
        texts: dict[str, str] = {}
        raw = self.data.get("texts")
        if raw is None:
            self.err("texts", "missing field 'texts' (Telegram HTML per locale, e.g. en: …)")
        elif not isinstance(raw, dict):
            self.err("texts", "field 'texts' must map locales to texts (en: …)")
        else:
            for locale, value in raw.items():
                if isinstance(value, str):
                    texts[str(locale)] = value.strip()
                else:
                    self.err(
                        f"texts.{locale}",
                        f"the text for {locale} must be text, not {_kind(value)}",
                    )
        return texts

    def audience(self) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None]:
        audience = self.data.get("audience")
        if audience is None:
            return None, None
        if not isinstance(audience, dict):
            self.err(
                "audience", "field 'audience' must be a mapping with locales and/or interests"
            )
            return None, None
        for name in audience:
            if name not in AUDIENCE_FIELDS:
                self.err(
                    f"audience.{name}",
                    f"unknown field audience.{name} (known: {', '.join(AUDIENCE_FIELDS)})",
                )
        return self.string_list(audience, "locales"), self.string_list(audience, "interests")

    def string_list(self, mapping: dict[str, Any], name: str) -> tuple[str, ...] | None:
        if name not in mapping:
            return None
        value = mapping[name]
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.err(f"audience.{name}", f"audience.{name} must be a list such as [a, b]")
            return None
        return tuple(value)

    def send_at(self) -> datetime | None:
        raw = self.data.get("send_at")
        if raw is None or isinstance(raw, datetime):
            return raw
        if isinstance(raw, str):
            try:
                return datetime.fromisoformat(raw.strip())
            except ValueError:
                self.err("send_at", f"send_at {raw!r} is not an ISO 8601 date and time")
        elif isinstance(raw, date):
            self.err(
                "send_at", "send_at needs a time and a time zone, e.g. 2025-06-01T09:00:00+08:00"
            )
        else:
            self.err("send_at", f"send_at must be a date and time, not {_kind(raw)}")
        return None


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__
