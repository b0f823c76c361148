"""Hot reload: an admin's /reload and SIGHUP swap content and catalogs, or keep the old ones."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import sys
from pathlib import Path

import pytest

from bot.config import PROJECT_ROOT
from bot.telegram_side.hot_reload import install_sighup
from bot.testing import BotAPIEmulator
from tests.conftest import BotStarter, make_settings

ADMIN = 900
WHAT_TITLE = "What is interventional therapy?"


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


async def test_reload_with_a_broken_file_keeps_the_old_content_and_names_the_line(
    start_bot: BotStarter,
    emulator: BotAPIEmulator,
    project_copy: tuple[Path, Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    content, locales = project_copy
    admin = emulator.user(ADMIN, language_code="en")
    patient = emulator.user(601, language_code="en")
    async with start_bot(make_settings(content, locales, ADMIN_IDS=str(ADMIN))):
        await patient.send("/start")
        await patient.press("What is it?")
        before = patient.last_text()
        assert WHAT_TITLE in before

        # A translator's typo: an unterminated quote on line 2, and a fuzzy catalog entry.
        replace_in(content / "en" / "what.yaml", "title: ", 'title: "unterminated ')
        replace_in(
            locales / "zh_Hans" / "LC_MESSAGES" / "messages.po",
            'msgid "Next"\n',
            '#, fuzzy\nmsgid "Next"\n',
        )
        with caplog.at_level(logging.WARNING, logger="bot.telegram_side.hot_reload"):
            await admin.send("/reload")
        reply = admin.last_text()
        assert reply.startswith("Reload failed: the bot keeps serving the previous content.")
        assert "• content/en/what.yaml:2: YAML syntax error" in reply
        assert (
            "• locales/zh_Hans/LC_MESSAGES/messages.po:" in reply and "fuzzy entry 'Next'" in reply
        )
        failed = [
            r.getMessage() for r in caplog.records if "event=reload_failed" in r.getMessage()
        ]
        assert len(failed) == 2
        assert any("location=content/en/what.yaml:2" in line for line in failed)

        # The patient still gets the old, whole content: the same screen as before.
        await patient.press("🏠 Home")
        await patient.press("What is it?")
        assert patient.last_text() == before
    assert emulator.errors == []


async def test_reload_with_good_files_switches_the_next_screen_without_a_restart(
    start_bot: BotStarter, emulator: BotAPIEmulator, project_copy: tuple[Path, Path]
) -> None:
    content, locales = project_copy
    admin = emulator.user(ADMIN, language_code="en")
    patient = emulator.user(602, language_code="zh-hans")
    async with start_bot(make_settings(content, locales, ADMIN_IDS=str(ADMIN))) as bot:
        await patient.send("/start")
        old_menu = patient.last_bot_message()
        assert old_menu is not None
        await patient.send("/start")  # a newer message; the old menu stays in the chat
        await patient.press("治疗特点")
        assert "首页 › 治疗特点" in patient.last_text()
        renderer_before = bot.runtime.renderer

        # New files: a Chinese topic reworded, a catalog string changed, a topic removed.
        replace_in(content / "zh_Hans" / "features.yaml", 'title: "', 'title: "【新】')
        replace_in(
            locales / "zh_Hans" / "LC_MESSAGES" / "messages.po",
            'msgid "Back"\nmsgstr "返回"',
            'msgid "Back"\nmsgstr "返回上一页"',
        )
        for loc in ("en", "zh_Hans", "zh_Hant"):
            (content / loc / "bleeding.yaml").unlink()
            replace_in(content / loc / "complications.yaml", "  - bleeding\n", "")

        await admin.send("/reload")
        assert admin.last_text().startswith("Reloaded: 87 topics in en, zh_Hans, zh_Hant.")
        assert bot.runtime.renderer is not renderer_before

        # The next screen is new: the reworded title, the new catalog string.
        await patient.press("⬅ 返回")
        await patient.press("治疗特点")
        assert "【新】" in patient.last_text()
        assert patient.buttons()[-1][0] == "⬅ 返回上一页"
        # A button of an old message whose topic still exists keeps working...
        await patient.press("治疗特点", message_id=old_menu.message_id)
        assert "【新】" in patient.last_text()
        # ...and one whose topic is gone gets the out-of-date note, never an error.
        press = await patient.press_data("1:t:bleeding")
        assert press.answered
        assert emulator.commands(language_code="zh")  # command menus were set again
    assert emulator.errors == []


async def test_reload_is_invisible_to_non_admins(
    start_bot: BotStarter, emulator: BotAPIEmulator, project_copy: tuple[Path, Path]
) -> None:
    content, locales = project_copy
    patient = emulator.user(603, language_code="en")
    async with start_bot(make_settings(content, locales, ADMIN_IDS=str(ADMIN))) as bot:
        renderer = bot.runtime.renderer
        await patient.send("/frobnicate")
        unknown = patient.last_text()
        await patient.send("/reload")
        assert patient.last_text() == unknown
        assert unknown.startswith("Sorry, I don't know that command.")
        assert bot.runtime.renderer is renderer


async def wait_for(condition: object, seconds: float = 15.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if callable(condition) and condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met")


async def test_sighup_reloads_in_process(
    start_bot: BotStarter, emulator: BotAPIEmulator, project_copy: tuple[Path, Path]
) -> None:
    content, locales = project_copy
    patient = emulator.user(604, language_code="en")
    async with start_bot(make_settings(content, locales)) as bot:
        remove = install_sighup(bot.app.bot, bot.runtime)
        try:
            before = bot.runtime.renderer
            replace_in(content / "en" / "home.yaml", "Hello, and welcome.", "Welcome back.")
            os.kill(os.getpid(), signal.SIGHUP)
            await wait_for(lambda: bot.runtime.renderer is not before)
        finally:
            remove()
        await patient.send("/start")
        assert patient.last_text().startswith("Welcome back.")


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP on this platform")
async def test_sighup_reloads_a_running_bot_process(tmp_path: Path) -> None:
    """`interventional-bot run` (serve()) reloads on `kill -HUP`, and keeps running."""
    content, locales = tmp_path / "content", tmp_path / "locales"
    shutil.copytree(PROJECT_ROOT / "content", content)
    shutil.copytree(PROJECT_ROOT / "locales", locales, ignore=shutil.ignore_patterns("*.mo"))
    async with BotAPIEmulator() as emulator:
        env = {
            **os.environ,
            "BOT_TOKEN": emulator.token,
            "BOT_API_BASE_URL": emulator.base_url,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'run.db'}",
            "CONTENT_DIR": str(content),
            "LOCALES_DIR": str(locales),
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
            await wait_for(lambda: bool(emulator.requests_for("getUpdates")), 30)
            user = emulator.user(605, language_code="en")
            await user.send("/start", within=10)
            assert user.last_text().startswith("Hello, and welcome.")
            replace_in(content / "en" / "home.yaml", "Hello, and welcome.", "Welcome back.")
            process.send_signal(signal.SIGHUP)
            for _ in range(100):
                await user.send("/start", within=10)
                if user.last_text().startswith("Welcome back."):
                    break
                await asyncio.sleep(0.1)
            assert user.last_text().startswith("Welcome back.")
        finally:
            process.send_signal(signal.SIGTERM)
            stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
        log = stdout.decode() + stderr.decode()
        assert process.returncode == 0, log
        assert "event=reloaded trigger=sighup" in log
        assert "Traceback" not in log
        assert emulator.violations == []


async def test_an_update_keeps_the_renderer_it_started_with(
    start_bot: BotStarter, project_copy: tuple[Path, Path]
) -> None:
    """The atomicity of a reload: a context takes the renderer once, whatever happens later."""
    from bot.core.render import Renderer
    from bot.telegram_side.context import BotContext

    content, locales = project_copy
    async with start_bot(make_settings(content, locales)) as bot:
        context = BotContext(bot.app)
        context.locale = "zh_Hans"
        old = context.renderer
        assert old is bot.runtime.renderer
        new = Renderer(old.library, old.catalogs, old.hospital)
        bot.runtime.renderer = new  # what a reload does mid-update
        assert context.renderer is old
        assert context.t("Back") == "返回"
        assert BotContext(bot.app).renderer is new  # the next update takes the new one


async def test_a_translator_reloads_the_demo_after_editing(
    project_copy: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`demo` is the translator's bot: /reload there shows their edit without a restart."""
    import io

    from bot.cli.demo_chat import run_demo

    content, locales = project_copy
    monkeypatch.delenv("DATABASE_URL", raising=False)
    script = iter(["/reload", "/start", "q"])

    def read(prompt: str) -> str:
        line = next(script)
        if line == "/reload":  # the translator saved a file in their editor meanwhile
            replace_in(content / "zh_Hans" / "home.yaml", "您好", "您好，欢迎回来")
        return line

    out = io.StringIO()
    assert await run_demo(make_settings(content, locales), "zh_Hans", read=read, out=out) == 0
    shown = out.getvalue()
    # The demo user reads Chinese, so the admin's reload report is in Chinese too (its list
    # of languages joined the Chinese way, with "、").
    assert "已重新加载：en、zh_Hans、zh_Hant 共 90 个主题。" in shown
    assert "您好，欢迎回来" in shown.rsplit("已重新加载：", 1)[1]
    assert "您好，欢迎回来" not in shown.split("已重新加载：", 1)[0]
