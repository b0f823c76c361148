"""A broadcast before it is queued: texts per locale, audience, time; validation; queueing.

Which text a recipient gets: the text of their own locale, else the default locale's. So that
nobody silently receives another language, a draft must have a text for every locale of its
audience: the ``locales`` it names or, when it names none, every locale the bot serves (which
includes the default locale). The default locale's text is then only the fallback for a
subscriber whose locale the bot no longer serves.

A locale the bot converts by machine (Traditional Chinese, from Simplified: see
:func:`with_converted_texts`) gets, when the draft has no text of its own for it, the
conversion of the Simplified text, made when the draft is read and shown in the preview.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.core.content.script_conversion import conversion_source, convert_text
from bot.core.i18n import Catalogs
from bot.core.interests import is_interest_id
from bot.core.limits import MAX_MESSAGE_LENGTH
from bot.core.news import broadcast_keyboard
from bot.core.render import Screen
from bot.core.telegram_html import TelegramHTMLError, parse_html
from bot.storage import DATABASE_ERRORS, Storage
from bot.storage.notifications import BROADCASTS_CHANNEL, notify


@dataclass(frozen=True)
class BroadcastDraft:
    texts: Mapping[str, str]  # locale -> Telegram HTML
    locales: tuple[str, ...] | None = None  # audience filter; None = all subscribers
    interests: tuple[str, ...] | None = None  # audience filter; None = any
    send_at: datetime | None = None  # aware; None = now
    paid: bool = False
    # Locales whose text was converted by machine from another's (see with_converted_texts).
    converted: tuple[str, ...] = ()


Problems = list[tuple[str, str]]


def draft_problems(
    draft: BroadcastDraft,
    *,
    available_locales: Sequence[str],
    default_locale: str,
    available_interests: Sequence[str] | None = None,
) -> Problems:
    """``[(field, message)]``; field is ``texts.<locale>``, ``texts``, ``locales``,
    ``interests`` or ``send_at`` (the broadcast file maps it to a line)."""
    problems = _text_problems(draft, available_locales)
    problems += _audience_locale_problems(draft, available_locales)
    problems += _interest_problems(draft, available_interests)
    if draft.send_at is not None and (
        draft.send_at.tzinfo is None or draft.send_at.utcoffset() is None
    ):
        problems.append(("send_at", "send_at needs a time zone, e.g. 2025-06-01T09:00:00+08:00"))
    if default_locale not in available_locales:
        problems.append(("texts", f"the default locale {default_locale} is not available"))
    return problems


def _text_problems(draft: BroadcastDraft, available_locales: Sequence[str]) -> Problems:
    problems: Problems = []
    known = ", ".join(available_locales)
    if not draft.texts:
        problems.append(("texts", "no text: give at least one, per locale"))
    for locale, text in draft.texts.items():
        where = f"texts.{locale}"
        if locale not in available_locales:
            problems.append((where, f"unknown locale {locale!r} (available: {known})"))
        problems.extend((where, f"text for {locale}: {p}") for p in text_problems(text))
    return problems


def _audience_locale_problems(draft: BroadcastDraft, available_locales: Sequence[str]) -> Problems:
    """Named locales exist, and every locale of the audience has a text."""
    problems: Problems = []
    known = ", ".join(available_locales)
    if draft.locales is not None:
        if not draft.locales:
            problems.append(("locales", "audience locales is empty (omit it to reach everyone)"))
        problems.extend(
            ("locales", f"unknown locale {locale!r} (available: {known})")
            for locale in draft.locales
            if locale not in available_locales
        )
    audience = available_locales if draft.locales is None else draft.locales
    for locale in audience:
        if locale in available_locales and locale not in draft.texts:
            if draft.locales is None:
                message = (
                    f"no text for {locale}: every locale needs a text when the audience names "
                    "no locales (or name the locales to reach in audience.locales)"
                )
            else:
                message = f"no text for {locale}, which the audience includes"
            problems.append(("texts", message))
    return problems


def _interest_problems(
    draft: BroadcastDraft, available_interests: Sequence[str] | None
) -> Problems:
    if draft.interests is None:
        return []
    problems: Problems = []
    if not draft.interests:
        problems.append(
            ("interests", "audience interests is empty (omit it to reach every subscriber)")
        )
    for interest in draft.interests:
        if not is_interest_id(interest):
            problems.append(("interests", f"{interest!r} is not an interest id"))
        elif available_interests is not None and interest not in available_interests:
            choices = ", ".join(available_interests) or "none are defined"
            problems.append(("interests", f"unknown interest {interest!r} ({choices})"))
    return problems


def converted_locales(locales: Sequence[str], default_locale: str) -> dict[str, str]:
    """locale -> the locale its text is converted from by machine (zh_Hant -> zh_Hans), for
    the ``locales`` that have one (never the default locale: its text is always written)."""
    return {
        locale: source
        for locale in locales
        if locale != default_locale and (source := conversion_source(locale, locales))
    }


def with_converted_texts(
    texts: Mapping[str, str], locales: Sequence[str], default_locale: str
) -> dict[str, str]:
    """``texts`` and, for each of ``locales`` without a text of its own that can be converted
    from one of ``texts`` (see :func:`converted_locales`), that text converted by machine."""
    out = dict(texts)
    for locale in locales:
        if locale in out or locale == default_locale:
            continue
        source = conversion_source(locale, texts)
        if source is not None and not text_problems(texts[source]):
            out[locale] = convert_text(texts[source])
    return out


def text_problems(text: str) -> list[str]:
    """What Telegram would refuse in a message text (HTML parse mode)."""
    try:
        parsed = parse_html(text)
    except TelegramHTMLError as exc:
        return [exc.description]
    visible = parsed.text.strip()
    if not visible:
        return ["the text is empty"]
    if len(visible) > MAX_MESSAGE_LENGTH:
        return [f"{len(visible)} characters after parsing; Telegram allows {MAX_MESSAGE_LENGTH}"]
    return []


def validate_draft(
    draft: BroadcastDraft,
    *,
    available_locales: Sequence[str],
    default_locale: str,
    available_interests: Sequence[str] | None = None,
) -> list[str]:
    """Human-readable problems; ``[]`` when the draft can be queued."""
    return [
        message
        for _field, message in draft_problems(
            draft,
            available_locales=available_locales,
            default_locale=default_locale,
            available_interests=available_interests,
        )
    ]


def choose_text(texts: Mapping[str, str], locale: str, default_locale: str) -> tuple[str, str]:
    """(locale of the text, text) for a recipient: their own locale's, else the default's."""
    if locale in texts:
        return locale, texts[locale]
    if default_locale in texts:
        return default_locale, texts[default_locale]
    first = sorted(texts)[0]  # validation makes this unreachable for queued drafts
    return first, texts[first]


def broadcast_screen(
    texts: Mapping[str, str], locale: str, default_locale: str, catalogs: Catalogs
) -> Screen:
    """The message a recipient in ``locale`` gets: their text (see :func:`choose_text`) with the
    Unsubscribe button in their language (the default locale's when the bot no longer has
    theirs). The engine, the admin's preview and ``broadcast preview`` all send this."""
    _text_locale, text = choose_text(texts, locale, default_locale)
    t = catalogs.get(locale if locale in catalogs.locales else default_locale)
    return Screen(text, broadcast_keyboard(t))


async def queue_broadcast(
    storage: Storage,
    draft: BroadcastDraft,
    *,
    created_by: int | None,
    progress_chat_id: int | None = None,
    progress_message_id: int | None = None,
    now: datetime | None = None,
) -> int:
    """Plan the recipients (a snapshot of the matching active subscribers, each with their
    locale) and queue the broadcast; returns its id. Validate the draft first. On PostgreSQL
    the running replicas are told (:func:`announce_queued`)."""
    broadcast_id = await storage.create_broadcast(
        texts=dict(draft.texts),
        locales=draft.locales,
        interests=draft.interests,
        send_at=draft.send_at,
        paid=draft.paid,
        created_by=created_by,
        progress_chat_id=progress_chat_id,
        progress_message_id=progress_message_id,
        now=now,
    )
    await announce_queued(storage, broadcast_id)
    return broadcast_id


async def announce_queued(storage: Storage, broadcast_id: int) -> None:
    """Tell the running replicas that ``broadcast_id`` was queued (``NOTIFY bot_broadcasts``),
    so that the lease holder starts it now rather than at its next poll (2 s). Nothing on
    SQLite; a failure only costs that wait, the broadcast is already stored."""
    with contextlib.suppress(*DATABASE_ERRORS):
        await notify(storage, BROADCASTS_CHANNEL, str(broadcast_id))
