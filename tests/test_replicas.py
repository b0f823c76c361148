"""`interventional-bot run` in webhook mode as processes: replicas behind a round-robin proxy.

Each replica is a real `run` process with its webhook and metrics ports on 127.0.0.1. The
emulator posts every update to a small round-robin proxy (tests/webhook_helpers.py, standing
for Caddy in deploy/), which passes it to the replicas in turn. Two replicas share one
database, so that test runs on PostgreSQL (TEST_DATABASE_URL; skipped without it, CI sets
it); one replica alone runs on SQLite.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.config import PROJECT_ROOT
from bot.storage import open_storage
from bot.testing import BotAPIEmulator
from tests.webhook_helpers import (
    SECRET,
    WEBHOOK_PATH,
    WEBHOOK_URL,
    RoundRobinProxy,
    free_port,
    get,
    post,
    sample,
)

TOKEN = "987654321:SECRET-token_abcdefghijklmnopqrstuvwxyz"
SET_WEBHOOK_ANSWERS = {
    "Webhook was set",
    "Webhook is already set",
    "Too Many Requests: retry after 1",
}
#: Stopping (SIGTERM) must end well inside deploy/compose.yaml's stop_grace_period.
STOP_WITHIN = 8.0


@dataclass
class Replica:
    process: asyncio.subprocess.Process
    webhook_port: int
    metrics_port: int
    log_path: Path

    @property
    def webhook_origin(self) -> str:
        return f"http://127.0.0.1:{self.webhook_port}"

    @property
    def metrics(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}"

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    async def wait_ready(self, within: float = 60.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            if self.process.returncode is not None:
                raise AssertionError(f"replica exited {self.process.returncode}:\n{self.log()}")
            try:
                if (await get(f"{self.metrics}/readyz"))[0] == 200:
                    return
            except OSError:
                pass  # not listening yet
            await asyncio.sleep(0.1)
        raise AssertionError(f"replica not ready within {within:g} s:\n{self.log()}")

    async def stop(self) -> int:
        """SIGTERM; the exit code (fails the test if it takes longer than STOP_WITHIN)."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), STOP_WITHIN)


async def start_replica(
    emulator: BotAPIEmulator, database_url: str, log_path: Path, **env: str
) -> Replica:
    """A `run` process; WEBHOOK_PORT and METRICS_PORT in ``env`` (a stopped one's): its ports."""
    webhook_port = int(env.get("WEBHOOK_PORT") or free_port())
    metrics_port = int(env.get("METRICS_PORT") or free_port())
    environment = {
        **os.environ,
        "BOT_TOKEN": TOKEN,
        "BOT_API_BASE_URL": emulator.base_url,
        "DATABASE_URL": database_url,
        "WEBHOOK_URL": WEBHOOK_URL,
        "WEBHOOK_SECRET": SECRET,
        "WEBHOOK_LISTEN": "127.0.0.1",
        "WEBHOOK_PORT": str(webhook_port),
        "METRICS_LISTEN": "127.0.0.1",
        "METRICS_PORT": str(metrics_port),
        "LOG_ID_KEY": "shared-by-every-replica",
        **env,
    }
    with log_path.open("wb") as log:  # a file, not a pipe nobody reads while it runs
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            cwd=PROJECT_ROOT,
            env=environment,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
    return Replica(process, webhook_port, metrics_port, log_path)


@pytest.fixture
async def emulator() -> AsyncIterator[BotAPIEmulator]:
    """The emulator with the replicas' token (the shared fixture's, renamed)."""
    async with BotAPIEmulator(token=TOKEN) as emu:
        yield emu
        assert emu.violations == [], emu.violations


async def updates_handled(replica: Replica) -> float:
    _, text = await get(f"{replica.metrics}/metrics")
    return sum(
        sample(text, "interventional_bot_updates_total", type=kind) or 0
        for kind in ("message", "callback_query")
    )


def assert_clean_exit(replica: Replica, code: int) -> None:
    log = replica.log()
    assert code == 0, log
    assert "event=stopped" in log
    assert "Traceback" not in log
    assert TOKEN.split(":")[1] not in log
    assert SECRET not in log


async def test_two_replicas_behind_a_round_robin_proxy(
    emulator: BotAPIEmulator, postgres_url: str, tmp_path: Path
) -> None:
    """Over 60 lines: one deployment's whole life, start to rolling stop, in order."""
    replicas = await asyncio.gather(
        *(start_replica(emulator, postgres_url, tmp_path / f"r{i}.log") for i in (1, 2))
    )
    proxy = RoundRobinProxy([r.webhook_origin for r in replicas])
    await proxy.start()
    emulator.route_webhook(proxy.origin)
    try:
        # Both set the webhook at once: one sets it, the other gets a 429 (or "already
        # set") and succeeds too. Ready means: database answers, webhook set, server up.
        await asyncio.gather(*(r.wait_ready() for r in replicas))
        answers = [r.description for r in emulator.requests_for("setWebhook")]
        assert answers.count("Webhook was set") == 1
        assert set(answers) <= SET_WEBHOOK_ANSWERS
        hook = emulator.webhook
        assert hook is not None and (hook.url, hook.secret_token) == (WEBHOOK_URL, SECRET)

        # Patients are served by both replicas, whichever gets each update.
        users = [emulator.user(200 + i) for i in range(6)]
        for user in users:
            await user.send("/start", within=15)
            await user.press("Features", within=15)
            assert user.last_text().startswith("Home › ")
        handled = [await updates_handled(r) for r in replicas]
        assert sum(handled) == 12 and min(handled) >= 1, handled

        # A request without the exact secret is refused by any replica and changes nothing.
        before = len(emulator.requests)
        url = proxy.origin + WEBHOOK_PATH
        body = b'{"update_id": 99, "message": {"message_id": 1, "date": 0, "text": "/start",'
        body += b' "chat": {"id": 999, "type": "private"}, "from": {"id": 999,'
        body += b' "is_bot": false, "first_name": "Eve"}}}'
        for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "guess"}) * 2:
            assert (await post(url, body, headers))[0] == 403
        await asyncio.sleep(0.5)
        assert emulator.requests[before:] == []
        async with await open_storage(postgres_url) as storage:
            assert await storage.get_user(999) is None
        assert [await updates_handled(r) for r in replicas] == handled

        # SIGTERM one replica: it stops cleanly and leaves the webhook to the other.
        assert_clean_exit(replicas[0], await replicas[0].stop())
        assert emulator.requests_for("deleteWebhook") == []
        assert emulator.webhook is not None and emulator.webhook.url == WEBHOOK_URL
        for user in users[:3]:
            await user.press("Small wound", within=15)  # all through the other one
        assert await updates_handled(replicas[1]) == handled[1] + 3
        assert_clean_exit(replicas[1], await replicas[1].stop())
        assert emulator.requests_for("deleteWebhook") == []
    finally:
        for replica in replicas:
            if replica.process.returncode is None:
                replica.process.kill()
                await replica.process.wait()
        await proxy.stop()


async def test_one_replica_on_sqlite_health_metrics_and_sigterm(
    emulator: BotAPIEmulator, tmp_path: Path
) -> None:
    replica = await start_replica(
        emulator, f"sqlite:///{tmp_path / 'bot.db'}", tmp_path / "run.log", LOG_LEVEL="DEBUG"
    )
    emulator.route_webhook(replica.webhook_origin)
    try:
        await replica.wait_ready()
        assert await get(f"{replica.metrics}/healthz") == (200, "ok\n")
        user = emulator.user(300, language_code="zh-hans")
        await user.send("/start", within=15)
        await user.press("治疗特点", within=15)
        assert user.last_text().startswith("首页 › 治疗特点")
        _, text = await get(f"{replica.metrics}/metrics")
        assert sample(text, "interventional_bot_updates_total", type="message") == 1
        assert sample(text, "interventional_bot_updates_total", type="callback_query") == 1
        assert sample(text, "interventional_bot_webhook_requests_total", status="200") == 2
        assert sample(text, "interventional_bot_broadcast_lease_holder") == 1
        assert emulator.requests_for("getUpdates") == []
        # The webhook is public: its server must not answer the metrics' paths.
        assert (await get(f"{replica.webhook_origin}/metrics"))[0] == 404
    finally:
        code = await replica.stop()
    assert_clean_exit(replica, code)
    assert "event=webhook_started" in replica.log()
    assert emulator.requests_for("deleteWebhook") == []
    assert emulator.webhook is not None


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WEBHOOK_SECRET": "not allowed!"}, "interventional-bot: WEBHOOK_SECRET: "),
        ({"WEBHOOK_URL": "http://bot.example.org/x"}, "interventional-bot: WEBHOOK_URL: "),
        ({"METRICS_PORT": "99999"}, "interventional-bot: METRICS_PORT: "),
    ],
)
async def test_bad_settings_are_one_line_and_exit_2(
    emulator: BotAPIEmulator, tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    replica = await start_replica(
        emulator, f"sqlite:///{tmp_path / 'bot.db'}", tmp_path / "run.log", **env
    )
    code = await asyncio.wait_for(replica.process.wait(), 30)
    output = replica.log()
    assert code == 2, output
    assert output.startswith(expected) and output.count("\n") == 1, output


async def test_a_port_in_use_is_one_line_and_exit_2(
    emulator: BotAPIEmulator, tmp_path: Path
) -> None:
    blocker = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = blocker.sockets[0].getsockname()[1]
    try:
        replica = await start_replica(
            emulator,
            f"sqlite:///{tmp_path / 'bot.db'}",
            tmp_path / "run.log",
            WEBHOOK_PORT=str(port),
        )
        code = await asyncio.wait_for(replica.process.wait(), 60)
    finally:
        blocker.close()
        await blocker.wait_closed()
    errors = [line for line in replica.log().splitlines() if "interventional-bot:" in line]
    assert code == 2, replica.log()
    assert errors == [
        f"interventional-bot: WEBHOOK_PORT: cannot listen on 127.0.0.1:{port}: "
        "Address already in use"
    ]
