"""Hot reload of content and catalogs while the bot runs: an admin's /reload, or SIGHUP.

The new files are loaded and checked (the same checks as `interventional-bot check`) off the
event loop. Any error keeps the old content in service: the errors are logged one per line
(``event=reload_failed``) and returned for the admin's reply. Otherwise the new
:class:`~bot.core.render.Renderer` replaces the old one in a single attribute assignment
(``Runtime.use_content``), together with the search index and urgent signs of the same files,
built in the same worker thread. Each update takes the renderer once, at its start
(``BotContext.renderer``), so a user sees either the old or the new content, never a mix; topic
ids are stable, so buttons of topics that still exist keep working.

Replicas (PostgreSQL): /reload and SIGHUP reload this replica, then ask the others through the
database (:func:`reload_everywhere`, ``replica_sync.py``); each of them loads and checks its
own files the same way and swaps only if they are valid (:func:`reload_for_replica`), then
tells the asking replica its result. A broken file therefore keeps the old content on every
replica.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from telegram import Bot
from telegram.error import TelegramError

from bot.config import Settings
from bot.core.content.bundle import ContentError, LoadedContent, load_content
from bot.core.content.checks import run_checks
from bot.core.content.problems import Problem
from bot.core.search.desk import QuestionDesk
from bot.telegram_side.command_menu import set_commands
from bot.telegram_side.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReloadOutcome:
    ok: bool
    # The errors that stopped the reload (empty when ok).
    errors: tuple[Problem, ...] = ()
    version: str = ""
    locales: tuple[str, ...] = ()
    topics: int = 0
    # The request other replicas were asked to reload for (None: no other replica was told;
    # SQLite, or the database could not be reached).
    announced: str | None = None


def problem_base(settings: Settings) -> Path:
    """Locations are shown relative to the folder holding content/ and locales/."""
    return settings.content_dir.resolve().parent


@dataclass(frozen=True)
class Prepared:
    content: LoadedContent
    # Its renderer and search index, built here rather than on the event loop.
    desk: QuestionDesk


def prepare(settings: Settings) -> tuple[Prepared | None, list[Problem]]:
    """Load and check the files on disk now, and index them (blocking: run it in a thread)."""
    report = run_checks(settings)
    if report.errors:
        return None, report.errors
    try:
        content = load_content(settings)
    except ContentError as exc:  # e.g. DEFAULT_LOCALE lost its files
        return None, [Problem(None, None, str(exc))]
    return Prepared(content, QuestionDesk.build(content, settings)), []


async def reload_content(bot: Bot, runtime: Runtime, *, trigger: str) -> ReloadOutcome:
    """Reload content and catalogs into ``runtime``, or keep the old ones if the new fail."""
    async with runtime.reload_lock:  # two reloads at once would race to the assignment
        settings = runtime.settings
        log.info("event=reload_started trigger=%s", trigger)
        try:
            prepared, errors = await asyncio.to_thread(prepare, settings)
        except Exception as exc:  # a reload must never take the bot down (logged in full)
            log.exception("event=reload_crashed trigger=%s", trigger)
            prepared, errors = None, [Problem(None, None, f"{type(exc).__name__}: {exc}")]
        if prepared is None:
            base = problem_base(settings)
            for problem in errors:
                log.warning(
                    "event=reload_failed trigger=%s location=%s problem=%r",
                    trigger,
                    problem.location(base),
                    problem.message,
                )
            return ReloadOutcome(False, tuple(errors))
        # The swap. Updates already running keep the renderer (and search) they took.
        content = prepared.content
        runtime.use_content(content, prepared.desk)
        renderer = runtime.renderer
        topics = sum(len(tree.topics) for tree in content.library.trees.values())
        version = content.library.version
        log.info(
            "event=reloaded trigger=%s version=%s locales=%s topics=%d",
            trigger,
            version,
            ",".join(renderer.locales),
            topics,
        )
        await _refresh_commands(bot, runtime)
        return ReloadOutcome(True, (), version, tuple(renderer.locales), topics)


async def reload_everywhere(bot: Bot, runtime: Runtime, *, trigger: str) -> ReloadOutcome:
    """Reload here (:func:`reload_content`), then ask every other replica to reload too."""
    outcome = await reload_content(bot, runtime, trigger=trigger)
    if runtime.replicas is None:
        return outcome
    return replace(outcome, announced=await runtime.replicas.announce_reload())


async def reload_for_replica(bot: Bot, runtime: Runtime, request: str) -> None:
    """Another replica asked (``request``; empty: this replica missed requests while it was
    not listening): reload, and tell the asking replica how it went."""
    outcome = await reload_content(bot, runtime, trigger="replica" if request else "resync")
    if runtime.replicas is not None:
        detail = outcome.version if outcome.ok else str(len(outcome.errors))
        await runtime.replicas.answer_reload(request, outcome.ok, detail)


async def _refresh_commands(bot: Bot, runtime: Runtime) -> None:
    """The command menus come from the catalogs: set them again (best effort)."""
    try:
        await set_commands(bot, runtime.renderer, runtime.settings.default_locale)
    except TelegramError as exc:
        log.warning("event=commands_not_refreshed error=%s", type(exc).__name__)


def install_sighup(bot: Bot, runtime: Runtime) -> Callable[[], None]:
    """Reload on SIGHUP (``kill -HUP <pid>``); returns a function that removes the handler."""
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[Any]] = set()
    hup = getattr(signal, "SIGHUP", None)

    def on_hup() -> None:
        task = loop.create_task(reload_everywhere(bot, runtime, trigger="sighup"))
        tasks.add(task)  # keep a reference until it is done
        task.add_done_callback(tasks.discard)

    if hup is None:  # Windows has no SIGHUP: /reload still works
        return lambda: None
    try:
        loop.add_signal_handler(hup, on_hup)
    except (NotImplementedError, RuntimeError, ValueError):
        log.info("event=sighup_unavailable")
        return lambda: None

    def remove() -> None:
        with suppress(NotImplementedError, RuntimeError, ValueError):
            loop.remove_signal_handler(hup)

    return remove
