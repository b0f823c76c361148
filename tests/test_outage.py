"""The database down while patients use the bot: menus from memory, honest notes, quiet logs.

The storage is broken in place: every coroutine method of the running bot's Storage raises
SQLAlchemy's ``OperationalError`` (what a refused or dropped connection raises), until it is
"restored". Patients talk to the bot through the emulator as usual.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from bot.storage import Storage
from bot.testing import BotAPIEmulator
from bot.testing.harness import RunningBot


class Outage:
    """Makes every database call of ``storage`` fail while ``down``."""

    def __init__(self, storage: Storage, monkeypatch: pytest.MonkeyPatch) -> None:
        self.down = False
        self.failed = 0
        for name, method in inspect.getmembers(storage, inspect.iscoroutinefunction):
            if not name.startswith("_"):
                monkeypatch.setattr(storage, name, self._guard(method))

    def _guard(
        self, method: Callable[..., Coroutine[Any, Any, Any]]
    ) -> Callable[..., Coroutine[Any, Any, Any]]:
        async def guarded(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                self.failed += 1
                raise OperationalError("SELECT", None, ConnectionRefusedError("refused"))
            return await method(*args, **kwargs)

        return guarded


def lines(caplog: pytest.LogCaptureFixture, event: str) -> list[str]:
    """The patient side's lines of ``event`` (the broadcast engine logs its own outage once)."""
    return [
        r.getMessage()
        for r in caplog.records
        if f"event={event}" in r.getMessage() and r.name.startswith("bot.telegram_side")
    ]


async def test_patients_keep_their_menus_while_the_database_is_down(
    bot: RunningBot,
    emulator: BotAPIEmulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    outage = Outage(bot.runtime.storage, monkeypatch)
    bot.runtime.database.probe_every = 0.3  # a quicker probe than production's 5 s
    regular = emulator.user(801, language_code="en")
    await regular.send("/start")
    await regular.press("🌐 Language")
    await regular.press("中文 (简体)")  # saved, and cached

    outage.down = True
    # A patient the bot has never seen: every menu, in Telegram's language.
    newcomer = emulator.user(802, language_code="zh-hans")
    await newcomer.send("/start")
    assert "您好" in newcomer.last_text()
    assert "🔔" in str(newcomer.buttons())  # subscription unknown: the menu offers the news
    await newcomer.press("治疗特点")
    assert newcomer.last_text().startswith("首页 › 治疗特点")
    await newcomer.send("/help")
    assert "使用说明" in newcomer.last_text()
    # A language change says it could not be saved (in the language chosen).
    await newcomer.send("/language")
    press = await newcomer.press("English")
    assert "could not be saved" in newcomer.last_text()
    assert press.answer_text is not None and "could not be saved" in press.answer_text
    # News cannot be changed either, and the patient is told so (in Chinese again: the choice
    # of English was not saved).
    await newcomer.send("/subscribe")
    assert newcomer.last_text().startswith("抱歉，暂时无法更改您的资讯设置")
    await newcomer.send("/stop")
    assert newcomer.last_text().startswith("抱歉，暂时无法更改您的资讯设置")
    # The patient seen before keeps the language they chose.
    await regular.send("/start")
    assert "您好" in regular.last_text()
    assert outage.failed >= 1

    # One line for the outage, none per update; nothing as a handler error. (The delivery
    # engine's own polling of the database is not the patients' side.)
    assert len(lines(caplog, "database_unavailable")) == 1
    assert lines(caplog, "handler_error") == []
    patient_side = [r for r in caplog.records if r.name.startswith("bot.telegram_side")]
    assert [r.getMessage() for r in patient_side if r.levelno >= logging.ERROR] == [
        lines(caplog, "database_unavailable")[0]
    ]

    outage.down = False
    await asyncio.sleep(bot.runtime.database.probe_every)  # the next call is a probe
    await newcomer.send("/language")
    await newcomer.press("English")
    assert newcomer.last_text().startswith("Language: English")
    assert len(lines(caplog, "database_available")) == 1
    record = await bot.runtime.storage.get_user(802)
    assert record is not None and record.locale == "en"
    assert emulator.errors == []
