"""The per-update context: the resolved locale and its translator, next to the runtime."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from telegram.ext import Application, CallbackContext, ExtBot

from bot.config import Settings
from bot.i18n import Translator
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
        return self.runtime.renderer.catalogs.get(self.lang)
