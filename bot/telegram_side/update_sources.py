"""Where updates come from: long polling (the default) or the webhook (``WEBHOOK_URL``).

Both put each update into the application's ``update_queue`` and nothing else; PTB processes
the queue the same way whatever filled it. Each source has the same life:

- ``start()``: updates begin to arrive (polling: ``getUpdates``, which first deletes any
  webhook left over, as PTB's ``start_polling`` always does; webhook: the server listens, then
  ``setWebhook``);
- ``receiving``: what ``/readyz`` reports;
- ``stop_accepting()`` on SIGTERM: no new update is taken (polling stops; the webhook answers
  503 so that Telegram sends it again, to another replica); the webhook stays set, since the
  other replicas still serve it;
- ``close()`` once the updates in hand are processed.
"""

from __future__ import annotations

import logging

from bot.config import WebhookSettings
from bot.telegram_side.context import BotApplication
from bot.telegram_side.handlers.gate import ALLOWED_UPDATES
from bot.telegram_side.webhook_registration import register_webhook
from bot.telegram_side.webhook_server import WebhookServer

__all__ = ["PollingSource", "WebhookSource", "update_source"]

log = logging.getLogger(__name__)


class PollingSource:
    """``getUpdates`` through PTB's updater."""

    mode = "polling"

    def __init__(self, app: BotApplication) -> None:
        self._app = app

    @property
    def receiving(self) -> bool:
        updater = self._app.updater
        return updater is not None and updater.running

    async def start(self) -> None:
        assert self._app.updater is not None
        # Only the update types the handlers use (handlers/gate.py).
        await self._app.updater.start_polling(allowed_updates=list(ALLOWED_UPDATES))

    async def stop_accepting(self) -> None:
        updater = self._app.updater
        if updater is not None and updater.running:
            await updater.stop()

    async def close(self) -> None:
        """Nothing left: the updater stopped in ``stop_accepting``."""


class WebhookSource:
    """Telegram posts updates to ``WEBHOOK_URL``; this process serves its path."""

    mode = "webhook"

    def __init__(self, app: BotApplication, hook: WebhookSettings) -> None:
        self._app = app
        self._hook = hook
        self._set = False
        self.server = WebhookServer(
            bot=app.bot,
            path=hook.path,
            secret=hook.secret,
            listen=hook.listen,
            port=hook.port,
            accept=app.update_queue.put,
            on_answer=app.runtime.metrics.webhook_request,
        )

    @property
    def receiving(self) -> bool:
        return self._set and self.server.listening

    async def start(self) -> None:
        # Listen first: Telegram may post as soon as setWebhook answers.
        await self.server.start()
        await register_webhook(self._app.bot, self._hook, ALLOWED_UPDATES)
        self._set = True

    async def stop_accepting(self) -> None:
        """503 from now on; the webhook is not deleted (the other replicas serve it)."""
        await self.server.stop_accepting()

    async def close(self) -> None:
        await self.server.close()


def update_source(app: BotApplication) -> PollingSource | WebhookSource:
    """The webhook when ``WEBHOOK_URL`` is set, else long polling."""
    hook = app.runtime.settings.webhook
    return PollingSource(app) if hook is None else WebhookSource(app, hook)
