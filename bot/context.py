"""The per-update context: the resolved locale and its translator, next to the runtime."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from telegram.ext import Application, CallbackContext, ExtBot

from bot.config import Settings
from bot.i18n import Translator
from bot.interests import Interests
from bot.render import Renderer
from bot.storage import Storage
from bot.users import UserTracker

RUNTIME_KEY = "runtime"


@dataclass
class Runtime:
    """Everything a handler needs, built once at start."""

    settings: Settings
    storage: Storage
    renderer: Renderer
    users: UserTracker
    # What a subscriber can pick for news (content/interests.yaml).
    interests: Interests = field(default_factory=Interests)

    @property
    def locales(self) -> list[str]:
        return self.renderer.locales


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """PTB's context with ``.locale`` and ``.t`` (set by the resolve-locale handler)."""

    def __init__(
        self,
        application: Application[Any, Any, Any, Any, Any, Any],
        chat_id: int | None = None,
        user_id: int | None = None,
    ) -> None:
        super().__init__(application=application, chat_id=chat_id, user_id=user_id)
        self.locale: str | None = None
        # Whether the user is subscribed to news (set by handlers.subscriptions, group -2).
        self.subscribed: bool = False
        self._renderer: Renderer | None = None

    @property
    def renderer(self) -> Renderer:
        """The content of this update: taken once from the runtime, then kept for the whole
        update, so that a hot reload (bot/reload.py) never shows a user half old, half new."""
        if self._renderer is None:
            self._renderer = self.runtime.renderer
        return self._renderer

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.application.bot_data[RUNTIME_KEY]
        return runtime

    @property
    def lang(self) -> str:
        """The resolved locale of this update (the default locale before resolution)."""
        return self.locale or self.runtime.settings.default_locale

    @property
    def t(self) -> Translator:
        return self.renderer.catalogs.get(self.lang)
