"""Hot reload of content and catalogs while the bot runs: an admin's /reload, or SIGHUP.

The new files are loaded and checked (the same checks as `interventional-bot check`) off the
event loop. Any error keeps the old content in service: the errors are logged one per line
(``event=reload_failed``) and returned for the admin's reply. Otherwise the new
:class:`~bot.render.Renderer` replaces the old one in a single attribute assignment. Each update
takes the renderer once, at its start (``BotContext.renderer``), so a user sees either the old
or the new content, never a mix; topic ids are stable, so buttons of topics that still exist
keep working.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from telegram.error import TelegramError
from telegram.ext import Application

from bot.config import Settings
from bot.content.checks import run_checks
from bot.content.problems import Problem
from bot.context import Runtime
from bot.render import Renderer

if TYPE_CHECKING:
    from bot.app import LoadedContent

# Any PTB application (handlers see theirs as Application[…, BotContext, …]).
AnyApplication = Application[Any, Any, Any, Any, Any, Any]

log = logging.getLogger(__name__)

_LOCK_KEY = "reload_lock"


@dataclass(frozen=True)
class ReloadOutcome:
    ok: bool
    # The errors that stopped the reload (empty when ok).
    errors: tuple[Problem, ...] = ()
    version: str = ""
    locales: tuple[str, ...] = ()
    topics: int = 0


def problem_base(settings: Settings) -> Path:
    """Locations are shown relative to the folder holding content/ and locales/."""
    return settings.content_dir.resolve().parent


def prepare(settings: Settings) -> tuple[LoadedContent | None, list[Problem]]:
    """Load and check the files on disk now (blocking: run it in a thread)."""
    # bot.app imports this module (to register /reload), so it is imported here, at call time.
    from bot.app import ContentError, load_content  # noqa: PLC0415

    report = run_checks(settings)
    if report.errors:
        return None, report.errors
    try:
        return load_content(settings), []
    except ContentError as exc:  # e.g. DEFAULT_LOCALE lost its files
        return None, [Problem(None, None, str(exc))]


async def reload_content(app: AnyApplication, runtime: Runtime, *, trigger: str) -> ReloadOutcome:
    """Reload content and catalogs into ``runtime``, or keep the old ones if the new fail."""
    lock: asyncio.Lock = app.bot_data.setdefault(_LOCK_KEY, asyncio.Lock())
    async with lock:  # two reloads at once would race to the assignment
        settings = runtime.settings
        log.info("event=reload_started trigger=%s", trigger)
        try:
            content, errors = await asyncio.to_thread(prepare, settings)
        except Exception as exc:  # an unexpected failure must not take the bot down
            log.exception("event=reload_crashed trigger=%s", trigger)
            content, errors = None, [Problem(None, None, f"{type(exc).__name__}: {exc}")]
        if content is None:
            base = problem_base(settings)
            for problem in errors:
                log.warning(
                    "event=reload_failed trigger=%s location=%s problem=%r",
                    trigger,
                    problem.location(base),
                    problem.message,
                )
            return ReloadOutcome(False, tuple(errors))
        renderer = Renderer(content.library, content.catalogs, settings.hospital)
        runtime.interests = content.interests
        # The swap: one assignment. Updates already running keep the renderer they took.
        runtime.renderer = renderer
        topics = sum(len(tree.topics) for tree in content.library.trees.values())
        version = content.library.version
        log.info(
            "event=reloaded trigger=%s version=%s locales=%s topics=%d",
            trigger,
            version,
            ",".join(renderer.locales),
            topics,
        )
        await _refresh_commands(app, runtime)
        return ReloadOutcome(True, (), version, tuple(renderer.locales), topics)


async def _refresh_commands(app: AnyApplication, runtime: Runtime) -> None:
    """The command menus come from the catalogs: set them again (best effort)."""
    from bot.app import set_commands  # noqa: PLC0415  (see prepare)

    try:
        await set_commands(app, runtime)
    except TelegramError as exc:
        log.warning("event=commands_not_refreshed error=%s", type(exc).__name__)


def install_sighup(app: AnyApplication, runtime: Runtime) -> Callable[[], None]:
    """Reload on SIGHUP (``kill -HUP <pid>``); returns a function that removes the handler."""
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[Any]] = set()
    hup = getattr(signal, "SIGHUP", None)

    def on_hup() -> None:
        task = loop.create_task(reload_content(app, runtime, trigger="sighup"))
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
        with suppress(Exception):
            loop.remove_signal_handler(hup)

    return remove
