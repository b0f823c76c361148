"""``interventional-bot qr TOPIC [--lang L] [--source S] -o FILE.png|svg``: a link for a poster.

Prints ``https://t.me/<bot username>?start=<payload>`` (the payload: ``bot/core/deep_links.py``)
and writes its QR code with segno, as PNG or SVG. The bot's username is ``BOT_USERNAME``, or,
when that is not set, what Telegram's ``getMe`` answers for ``BOT_TOKEN``. The topic must exist
and be served (not a draft) in the link's language, or in every language when the link names
none. Every problem is one line on stderr and exit code 2. The arguments are declared in
``bot/cli/main.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import re
from pathlib import Path
from typing import TextIO

import segno
from telegram import Bot
from telegram.error import InvalidToken, TelegramError

from bot.cli.exits import EXIT_OK, UsageError
from bot.config import ConfigError, Settings
from bot.core import deep_links
from bot.core.content.bundle import load_content
from bot.core.content.model import ROOT_ID, TOPIC_ID_PATTERN, Library
from bot.core.redaction import redact

#: Pixels per QR module in a PNG: a link with a language and a source makes a version-6 code,
#: (41 + 4 + 4) x 12 = 588 px, sharp printed 5 cm wide at 300 dpi. SVG is vector; its
#: nominal size uses the same scale.
PNG_SCALE = 12
#: Error correction: Q recovers about a quarter of the code (a scratched or creased poster).
ERROR_CORRECTION = "q"
SUFFIXES = (".png", ".svg")


def run(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    output = Path(args.output)
    if output.suffix.lower() not in SUFFIXES:
        raise UsageError(f"-o: {str(output)!r} must end in .png or .svg")
    library = load_content(settings).library
    locale = _locale(args.lang, library)
    topic_id = _topic(args.topic, locale, library)
    try:
        payload = deep_links.encode(topic_id, locale, args.source)
    except deep_links.PayloadError as exc:
        raise UsageError(f"--source: {exc}") from None
    username = settings.bot_username or asyncio.run(username_from_telegram(settings))
    link = f"https://t.me/{username}?start={payload}"
    code = segno.make_qr(link, error=ERROR_CORRECTION)
    try:
        code.save(str(output), scale=PNG_SCALE, border=4, dark="#000", light="#fff")
    except OSError as exc:
        raise UsageError(f"-o: cannot write {output}: {exc.strerror or exc}") from None
    print(link, file=out)
    print(
        f"wrote {output}: QR code version {code.version}, error correction "
        f"{code.error}, {len(payload)} of 64 payload characters",
        file=err,
    )
    return EXIT_OK


def _locale(raw: str | None, library: Library) -> str | None:
    if raw is None:
        return None
    found = deep_links.match_locale(raw.replace("_", "-"), library.locales)
    if found is None:
        available = ", ".join(library.locales)
        raise UsageError(f"--lang: {raw!r} is not a language of the content ({available})")
    return found


def _topic(topic_id: str, locale: str | None, library: Library) -> str:
    if not re.fullmatch(TOPIC_ID_PATTERN, topic_id):
        raise UsageError(f"TOPIC: {topic_id!r} is not a topic id (e.g. recovery)")
    locales = [locale] if locale else library.locales
    for each in locales:
        tree = library.trees[each]
        if tree.get(topic_id) is None:
            raise UsageError(f"TOPIC: no topic {topic_id!r} in {each}")
        if topic_id != ROOT_ID and not tree.is_served(topic_id):
            raise UsageError(
                f"TOPIC: {topic_id!r} is not served in {each} (a draft, or under one): "
                "the link would open the main menu"
            )
    return topic_id


async def username_from_telegram(settings: Settings) -> str:
    """The bot's username, from ``getMe`` with ``BOT_TOKEN`` (one-line errors)."""
    token = settings.bot_token
    if token is None:
        raise ConfigError(
            "BOT_USERNAME",
            "not set, and no BOT_TOKEN to ask Telegram for it (getMe): set BOT_USERNAME "
            "(e.g. my_hospital_bot) or BOT_TOKEN",
        )
    try:
        async with Bot(token, base_url=settings.api_base_url) as bot:
            return bot.username
    except InvalidToken:
        raise ConfigError("BOT_TOKEN", "Telegram refused the token (getMe)") from None
    except TelegramError as exc:
        reason = redact(str(exc)).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(
            "BOT_TOKEN", f"cannot ask Telegram for the bot's username (getMe): {reason}"
        ) from None
