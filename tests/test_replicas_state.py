"""Stateless replicas: what a patient or an admin changes through one replica, every replica
serves at the next update (real `run` processes, PostgreSQL, the round-robin proxy).

The proxy passes updates to the two replicas strictly in turn, and each test sends one update
at a time, so consecutive updates land on alternate replicas. Each check first lets both
replicas cache the old state (an update on each), then changes it through one of them.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from bot.config import PROJECT_ROOT
from bot.testing import BotAPIEmulator, SimUser
from tests.db_fixtures import drop_schema, fresh_schema_name, postgres_base_url, with_schema
from tests.test_replicas import TOKEN, Replica, assert_clean_exit, start_replica, updates_handled
from tests.webhook_helpers import RoundRobinProxy

ADMIN = 900
SUBSCRIBE = "🔔 Subscribe to news"
MANAGE = "🔕 Manage news"
FEATURES_TITLE = "Features of interventional therapy"

T = TypeVar("T")


@dataclass
class Deployment:
    replicas: list[Replica]
    proxy: RoundRobinProxy
    content: Path

    async def handled(self) -> list[float]:
        return [await updates_handled(r) for r in self.replicas]


@pytest.fixture
async def emulator() -> AsyncIterator[BotAPIEmulator]:
    async with BotAPIEmulator(token=TOKEN) as emu:
        yield emu
        assert emu.violations == [], emu.violations


@pytest.fixture
async def deployment(emulator: BotAPIEmulator, tmp_path: Path) -> AsyncIterator[Deployment]:
    """Two replicas on one PostgreSQL schema, with one copy of content/ and locales/ that the
    test may change (a shared volume in a real deployment)."""
    base = postgres_base_url()
    if base is None:
        pytest.skip("TEST_DATABASE_URL is not set: replicas share a PostgreSQL database")
    schema = fresh_schema_name()
    content, locales = tmp_path / "content", tmp_path / "locales"
    shutil.copytree(PROJECT_ROOT / "content", content)
    shutil.copytree(PROJECT_ROOT / "locales", locales, ignore=shutil.ignore_patterns("*.mo"))
    try:
        async with _running(emulator, with_schema(base, schema), tmp_path, content) as running:
            yield running
    finally:
        await drop_schema(base, schema)


@asynccontextmanager
async def _running(
    emulator: BotAPIEmulator, url: str, tmp_path: Path, content: Path
) -> AsyncIterator[Deployment]:
    env = {
        "ADMIN_IDS": str(ADMIN),
        "CONTENT_DIR": str(content),
        "LOCALES_DIR": str(content.parent / "locales"),
    }
    replicas = list(
        await asyncio.gather(
            *(start_replica(emulator, url, tmp_path / f"r{i}.log", **env) for i in (1, 2))
        )
    )
    proxy = RoundRobinProxy([r.webhook_origin for r in replicas])
    await proxy.start()
    emulator.route_webhook(proxy.origin)
    try:
        await asyncio.gather(*(r.wait_ready() for r in replicas))
        await asyncio.gather(*(_listening(r) for r in replicas))
        yield Deployment(replicas, proxy, content)
        for replica in replicas:
            assert_clean_exit(replica, await replica.stop())
    finally:
        for replica in replicas:
            if replica.process.returncode is None:
                replica.process.kill()
                await replica.process.wait()
        await proxy.stop()


async def _listening(replica: Replica, within: float = 30.0) -> None:
    """Ready is not enough for a reload: a replica that does not listen yet would miss it (its
    caches are safe: they are bypassed until it listens)."""
    await until(lambda: "event=replica_sync_listening" in replica.log(), within=within)


async def until(condition: Callable[[], bool], within: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        assert loop.time() < deadline, "condition not met"
        await asyncio.sleep(0.05)


async def on_both(deployment: Deployment, step: Callable[[], Awaitable[T]]) -> list[T]:
    """Send two updates (``step`` twice): one lands on each replica; what ``step`` returned."""
    before = await deployment.handled()
    results = [await step() for _ in range(2)]
    after = await deployment.handled()
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1], (before, after)
    return results


def unexpected_errors(emulator: BotAPIEmulator) -> list[object]:
    """Telegram's errors but the 429 to replicas calling setWebhook at the same moment."""
    return [e for e in emulator.errors if e.method != "setWebhook"]


def patient(emulator: BotAPIEmulator, user_id: int) -> SimUser:
    user = emulator.user(user_id, language_code="en")
    user.timeout = 15.0  # two processes on a busy CI machine
    return user


async def test_a_patients_changes_reach_every_replica(
    deployment: Deployment, emulator: BotAPIEmulator
) -> None:
    """Over 60 lines: language, subscription and erasure, each seen by both replicas."""
    user = patient(emulator, 401)

    async def menu() -> tuple[str, list[list[str]]]:
        await user.send("/start")
        return user.last_text(), user.buttons()

    # Both replicas cache "no language chosen" (Telegram's English) and "not subscribed".
    for text, buttons in await on_both(deployment, menu):
        assert ["Features"] in buttons and [SUBSCRIBE] in buttons, (text, buttons)

    # Chinese, chosen through one replica: both answer in Chinese from the next update on.
    await user.send("/language")
    await user.press("中文 (简体)")
    assert user.last_text().startswith("语言：简体中文")
    for _ in range(2):
        for _text, buttons in await on_both(deployment, menu):
            assert ["治疗特点"] in buttons and ["🔔 订阅医院资讯"] in buttons, buttons

    # Back to English, then subscribed through one replica: both show "Manage news".
    await user.send("/language")
    await user.press("English")
    await user.send("/subscribe")
    assert "You are subscribed" in user.last_text()
    for _text, buttons in await on_both(deployment, menu):
        assert ["Features"] in buttons and [MANAGE] in buttons, buttons
    await user.send("/unsubscribe")
    for _text, buttons in await on_both(deployment, menu):
        assert [SUBSCRIBE] in buttons, buttons

    # Chinese again, cached by both; erased through one: both see a new English user.
    await user.send("/language")
    await user.press("中文 (简体)")
    for _text, buttons in await on_both(deployment, menu):
        assert ["治疗特点"] in buttons, buttons
    await user.send("/forget")
    press = await user.press("🗑 是的，删除我的数据")
    assert press.text == "已删除。"
    for _text, buttons in await on_both(deployment, menu):
        assert ["Features"] in buttons and [SUBSCRIBE] in buttons, buttons
    assert unexpected_errors(emulator) == []


async def test_reload_reaches_every_replica_and_a_broken_file_none(
    deployment: Deployment, emulator: BotAPIEmulator
) -> None:
    """Over 60 lines: a good reload, a broken one, then SIGHUP, each checked on both."""
    admin = patient(emulator, ADMIN)
    user = patient(emulator, 402)
    features = deployment.content / "en" / "features.yaml"
    for text in await shown_by_both(deployment, user):
        assert FEATURES_TITLE in text and "Renamed" not in text

    # A good edit, reloaded through one replica: both show it at the next screen.
    original = features.read_text(encoding="utf-8")
    features.write_text(original.replace(FEATURES_TITLE, "Renamed features"), encoding="utf-8")
    await admin.send("/reload")
    first = admin.last_text()
    assert first.startswith("Reloaded: ") and "The other replicas reload too" in first, first
    await until(lambda: admin.last_text().startswith("Other replicas:"))
    others = admin.last_text().splitlines()
    assert len(others) == 2 and others[1].endswith(": reloaded"), others
    for text in await shown_by_both(deployment, user):
        assert "Renamed features" in text, text

    # A broken file: refused on the replica the admin reached, and on the other one.
    features.write_text('title: "unterminated\n' + original, encoding="utf-8")
    await admin.send("/reload")
    assert admin.last_text().startswith("Reload failed: the bot keeps serving")
    await until(lambda: admin.last_text().startswith("Other replicas:"))
    others = admin.last_text().splitlines()
    assert len(others) == 2 and "kept the previous content" in others[1], others
    for text in await shown_by_both(deployment, user):
        assert "Renamed features" in text, text
    for replica in deployment.replicas:
        assert "event=reload_failed" in replica.log()

    # Fixed, and reloaded by SIGHUP on one replica: both switch.
    features.write_text(original.replace(FEATURES_TITLE, "Fixed features"), encoding="utf-8")
    reloads = [r.log().count("event=reloaded ") for r in deployment.replicas]
    deployment.replicas[1].process.send_signal(signal.SIGHUP)
    await until(
        lambda: (
            [r.log().count("event=reloaded ") for r in deployment.replicas]
            == [n + 1 for n in reloads]
        )
    )
    assert "event=reloaded trigger=sighup" in deployment.replicas[1].log()
    assert "event=reloaded trigger=replica" in deployment.replicas[0].log()
    for text in await shown_by_both(deployment, user):
        assert "Fixed features" in text, text
    assert unexpected_errors(emulator) == []


async def shown_by_both(deployment: Deployment, user: SimUser) -> list[str]:
    """The Features topic as each replica shows it: /start, then Features (two updates), an
    odd update, and the same again, so that the second press lands on the other replica."""
    before = await deployment.handled()
    texts = []
    for odd in (True, False):
        await user.send("/start")
        await user.press("Features")
        texts.append(user.last_text())
        if odd:
            await user.send("/help")
    after = await deployment.handled()
    assert sorted(a - b for a, b in zip(after, before, strict=True)) == [2, 3], (before, after)
    return texts


async def test_the_broadcast_wizard_with_each_step_on_another_replica(
    deployment: Deployment, emulator: BotAPIEmulator
) -> None:
    admin = patient(emulator, ADMIN)
    before = await deployment.handled()
    await admin.send("/broadcast")
    assert "Step 1 of 2: send the text for English." in admin.last_text()
    await admin.send("<b>Open day</b> on Friday")
    assert "Step 2 of 2" in admin.last_text()
    await admin.send("/skip")
    # The preview is several messages, paced at about one a second to a chat.
    confirm = [["✅ Confirm and send", "✖ Cancel"]]
    await until(
        lambda: (last := admin.last_bot_message()) is not None and last.buttons() == confirm
    )
    question = admin.last_bot_message()
    assert question is not None
    await admin.press("✅ Confirm and send")
    # The progress message goes out first, then the question is edited.
    queued = "✅ Queued as broadcast #1. Its progress is shown below."
    await until(
        lambda: (
            [m.text for m in admin.bot_messages() if m.message_id == question.message_id]
            == [queued]
        )
    )
    after = await deployment.handled()
    assert [a - b for a, b in zip(after, before, strict=True)] == [2, 2], (before, after)
    assert unexpected_errors(emulator) == []
