"""`interventional-bot demo`: chat with the bot in the terminal, with no token.

The same application and handlers run against the in-process Bot API emulator; the terminal is
a simulated Telegram user. Buttons are shown numbered; typing a number presses one.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from dataclasses import replace
from typing import TextIO

from bot.cli.exits import UsageError
from bot.cli.terminal_screen import numbered_buttons
from bot.config import Settings
from bot.core.content.bundle import load_content
from bot.testing import BotAPIEmulator, SimUser
from bot.testing.harness import running_bot

DEMO_USER_ID = 1001
QUIT_WORDS = frozenset({"q", "quit", "exit", ":q"})


def telegram_code(locale: str) -> str:
    """What Telegram would send as language_code for a locale (zh_Hans -> zh-hans)."""
    return locale.replace("_", "-").lower()


def render_message(text: str, buttons: list[list[str]]) -> str:
    """A bot message as the terminal shows it: the visible text, then numbered buttons."""
    return "\n".join(["", "─" * 60, text, "", *numbered_buttons(buttons)])


async def run_demo(
    settings: Settings,
    lang: str | None,
    *,
    read: Callable[[str], str] = input,
    out: TextIO = sys.stdout,
) -> int:
    locales = load_content(settings).library.locales
    if lang is not None and lang not in locales:
        raise UsageError(f"--lang: {lang!r} is not one of {', '.join(locales)}")
    # The person at the terminal runs this bot: they may /reload the files they are editing.
    settings = replace(settings, admin_ids=settings.admin_ids | {DEMO_USER_ID})
    # The demo keeps nothing unless DATABASE_URL names a database on purpose.
    url = settings.database_url if settings.database_url_set else "sqlite:///:memory:"
    async with BotAPIEmulator() as emulator, running_bot(settings, emulator, database_url=url):
        user = emulator.user(
            DEMO_USER_ID,
            first_name="Demo",
            language_code=telegram_code(lang or settings.default_locale),
        )
        out.write(
            "Demo of interventional-bot. Type a button's number to press it, any other "
            "text or /command to send it, q to quit. After editing content/ or locales/, "
            "send /reload to see your change.\n"
        )
        await user.send("/start")
        return await _loop(user, read, out)


async def _loop(user: SimUser, read: Callable[[str], str], out: TextIO) -> int:
    shown = 0  # bot messages printed so far; a typed question may get two (urgent care first)
    while True:
        messages = user.bot_messages()
        buttons = user.buttons()
        # New messages in order (the urgent-care one has no buttons), else the edited one.
        for message in messages[shown:-1]:
            out.write(render_message(message.text, []) + "\n")
        if messages:
            out.write(render_message(messages[-1].text, buttons) + "\n")
            out.flush()
        shown = len(messages)
        try:
            line = (await asyncio.to_thread(read, "> ")).strip()
        except EOFError:
            out.write("\n")
            return 0
        if line.lower() in QUIT_WORDS:
            return 0
        if not line:
            continue
        labels = [label for row in buttons for label in row]
        if line.isdigit():
            index = int(line) - 1
            if 0 <= index < len(labels):
                await user.press(labels[index])
            else:
                out.write(f"(no button {line}: choose 1–{len(labels)})\n")
            continue
        await user.send(line)
