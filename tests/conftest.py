"""Shared fixtures: settings on the shipped content, the emulator, the running bot."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

from bot.config import PROJECT_ROOT, Settings
from bot.core.content.locale_conversion import convert_locale
from bot.core.content.problems import Problem
from bot.testing import BotAPIEmulator
from bot.testing.harness import RunningBot, running_bot

pytest_plugins = ["tests.db_fixtures"]

CONTENT = PROJECT_ROOT / "content"
LOCALES = PROJECT_ROOT / "locales"


# Simulated users tap as soon as the bot has answered, ten times faster than people do, and
# would spend most of a test waiting out the limits meant for floods (one reply a second per
# chat, three updates a second per user). Tests of those limits pass the defaults again
# (tests/test_flood.py, FLOOD_DEFAULTS).
FAST_USERS = {
    "USER_UPDATE_RATE": "1000",
    "USER_UPDATE_BURST": "1000",
    "CHAT_REPLY_RATE": "1000",
    "CHAT_REPLY_BURST": "1000",
}


def make_settings(
    content_dir: Path = CONTENT, locales_dir: Path = LOCALES, **env: str
) -> Settings:
    return Settings.from_env(
        {
            "CONTENT_DIR": str(content_dir),
            "LOCALES_DIR": str(locales_dir),
            **FAST_USERS,
            **env,
        },
        require_token=False,
    )


def converted_again(content_dir: Path, locales_dir: Path) -> None:
    """Run `i18n convert zh_Hans zh_Hant`, as a translator does after changing zh_Hans (the
    shipped zh_Hant is converted by machine from it and follows it)."""
    convert_locale(content_dir, locales_dir, "zh_Hans", "zh_Hant")


def review_pending(problem: Problem) -> bool:
    """The one warning the shipped content has on purpose: zh_Hant, converted by machine,
    waits for a translator's review."""
    return problem.severity == "warning" and problem.message.startswith(
        "converted by machine from zh_Hans (s2twp), not reviewed yet"
    )


@pytest.fixture
def project_copy(tmp_path: Path) -> tuple[Path, Path]:
    """A private copy of content/ and locales/ that a test may change."""
    content = tmp_path / "content"
    locales = tmp_path / "locales"
    shutil.copytree(CONTENT, content)
    shutil.copytree(LOCALES, locales, ignore=shutil.ignore_patterns("*.mo"))
    return content, locales


@pytest.fixture
async def emulator() -> AsyncIterator[BotAPIEmulator]:
    async with BotAPIEmulator() as emu:
        yield emu
        # Every request the bot made was valid for the emulator's table and the Bot API spec.
        assert emu.violations == [], emu.violations


BotStarter = Callable[..., AbstractAsyncContextManager[RunningBot]]


@pytest.fixture
def start_bot(emulator: BotAPIEmulator, tmp_path: Path) -> BotStarter:
    """``async with start_bot(settings=None, database_url=None) as bot:`` runs the real bot."""
    default_db = f"sqlite:///{tmp_path / 'bot.db'}"

    def start(
        settings: Settings | None = None, database_url: str | None = None
    ) -> AbstractAsyncContextManager[RunningBot]:
        return running_bot(
            settings or make_settings(), emulator, database_url=database_url or default_db
        )

    return start


@pytest.fixture
async def bot(start_bot: BotStarter) -> AsyncIterator[RunningBot]:
    async with start_bot() as running:
        yield running
