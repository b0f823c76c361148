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
