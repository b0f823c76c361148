"""`interventional-bot run` as a process: serves, stops cleanly, never logs the token."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from bot.config import PROJECT_ROOT
from bot.testing import BotAPIEmulator

TOKEN = "987654321:SECRET-token_abcdefghijklmnopqrstuvwxyz"


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
async def test_run_serves_and_stops_cleanly_without_logging_the_token(
    tmp_path: Path, stop_signal: signal.Signals
) -> None:
    async with BotAPIEmulator(token=TOKEN) as emulator:
        env = {
            **os.environ,
            "BOT_TOKEN": TOKEN,
            "BOT_API_BASE_URL": emulator.base_url,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'run.db'}",
            "LOG_LEVEL": "DEBUG",
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            cwd=PROJECT_ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            for _ in range(400):  # until the bot polls
                if emulator.requests_for("getUpdates") or process.returncode is not None:
                    break
                await asyncio.sleep(0.05)
            user = emulator.user(42, language_code="zh-hans")
            await user.send("/start", within=10)
            await user.press("治疗特点", within=10)
            assert user.last_text().startswith("首页 › 治疗特点")
        finally:
            process.send_signal(stop_signal)
            stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    log = stdout.decode() + stderr.decode()
    assert process.returncode == 0, log
    assert "event=polling_started" in log
    assert "event=stopped" in log
    assert "Traceback" not in log
    assert TOKEN not in log
    assert TOKEN.split(":")[1] not in log
    assert emulator.violations == []


async def _run_until_exit(env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        cwd=PROJECT_ROOT,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, stdout.decode() + stderr.decode()


async def test_a_token_telegram_rejects_is_one_line_without_the_token(tmp_path: Path) -> None:
    wrong = "999999:WRONG-token-abcdefghijklmnopqrstuvwxyz"
    async with BotAPIEmulator() as emulator:  # it knows its own token only: 401 to this one
        code, log = await _run_until_exit(
            {
                "BOT_TOKEN": wrong,
                "BOT_API_BASE_URL": emulator.base_url,
                "DATABASE_URL": f"sqlite:///{tmp_path / 'run.db'}",
            }
        )
    assert code == 2, log
    assert log.strip().splitlines()[-1] == (
        "interventional-bot: BOT_TOKEN: Telegram rejected this token; copy it again from "
        "@BotFather"
    )
    assert "Traceback" not in log
    assert "Logging error" not in log  # the HTTP session was closed, not left to the collector
    assert wrong.split(":")[1] not in log


async def test_an_unreachable_bot_api_is_one_line_and_exit_1(tmp_path: Path) -> None:
    code, log = await _run_until_exit(
        {
            "BOT_TOKEN": TOKEN,
            "BOT_API_BASE_URL": "http://127.0.0.1:9/bot",  # the discard port: refused
            "DATABASE_URL": f"sqlite:///{tmp_path / 'run.db'}",
        }
    )
    assert code == 1, log
    last = log.strip().splitlines()[-1]
    assert last.startswith(
        "interventional-bot: cannot reach the Bot API at http://127.0.0.1:9/bot"
    )
    assert "Traceback" not in log
    assert TOKEN.split(":")[1] not in log
