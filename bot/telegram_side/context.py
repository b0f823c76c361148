"""The per-update context (``.locale``, ``.t``, ``.renderer``) and the application type.

Following PTB's ``contexttypesbot`` example: :class:`BotApplication` carries the typed
:class:`~bot.telegram_side.runtime.Runtime`, and :class:`BotContext` exposes it with the
locale resolved for this update (``handlers/prelude.py`` sets it before any handler runs).
"""

from __future__ import annotations

import time
from typing import Any

from telegram.ext import Application, CallbackContext, ExtBot, JobQueue

from bot.core.i18n import Translator
from bot.core.render import Renderer
from bot.core.search.desk import QuestionDesk
from bot.telegram_side.metrics import update_type
from bot.telegram_side.runtime import Runtime


class BotApplication(
    Application[
        ExtBot[None],
        "BotContext",
        dict[Any, Any],
        dict[Any, Any],
        dict[Any, Any],
        JobQueue["BotContext"] | None,
    ]
):
    """PTB's Application carrying the bot's :class:`Runtime`.

    Built with ``ApplicationBuilder.application_class`` (see telegram_side/wiring.py).
    """

    def __init__(self, *, runtime: Runtime, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.runtime = runtime

    async def process_update(self, update: object) -> None:
        """PTB's processing, counted and timed by update type (``runtime.metrics``). Every
        update goes through here, however it arrived (polling or the webhook, both through
        ``update_queue``) and whichever update processor schedules it."""
        started = time.perf_counter()
        try:
            await super().process_update(update)
        finally:
            self.runtime.metrics.update_processed(
                update_type(update), time.perf_counter() - started
            )


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """PTB's context with the runtime, this update's renderer, ``.locale`` and ``.t``."""

    def __init__(
        self,
        application: Application[Any, Any, Any, Any, Any, Any],
        chat_id: int | None = None,
        user_id: int | None = None,
    ) -> None:
        super().__init__(application=application, chat_id=chat_id, user_id=user_id)
        if not isinstance(application, BotApplication):
            raise TypeError("BotContext needs a BotApplication (see telegram_side/wiring.py)")
        self.runtime: Runtime = application.runtime
        self._locale: str | None = None
        # Whether the user is subscribed to news (the main menu's news button depends on it).
        self.subscribed: bool = False
        # Whether this update made the user (their first; a deep link's language is saved).
        self.new_user: bool = False
        self._renderer: Renderer | None = None
        self._desk: QuestionDesk | None = None

    @property
    def renderer(self) -> Renderer:
        """The content of this update: taken once from the runtime, then kept for the whole
        update, so that a hot reload never shows a user half old, half new."""
        if self._renderer is None:
            self._take_content()
        assert self._renderer is not None
        return self._renderer

    @property
    def desk(self) -> QuestionDesk:
        """The search and urgent signs of this update's content (taken with the renderer)."""
        if self._desk is None:
            self._take_content()
        assert self._desk is not None
        return self._desk

    def _take_content(self) -> None:
        # Both at once, from one runtime state: the desk searches what the renderer shows.
        self._renderer, self._desk = self.runtime.renderer, self.runtime.desk

    @property
    def locale(self) -> str:
        """The resolved locale of this update (the default locale before resolution)."""
        return self._locale or self.runtime.settings.default_locale

    @locale.setter
    def locale(self, value: str) -> None:
        self._locale = value

    @property
    def t(self) -> Translator:
        return self.renderer.catalogs.get(self.locale)
