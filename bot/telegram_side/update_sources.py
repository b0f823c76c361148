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

Polling on PostgreSQL, where several replicas may share the database: Telegram allows one
``getUpdates`` at a time (a second one ends the first with 409), so only the holder of the
``polling`` lease polls (:class:`~bot.broadcast.lease.LeaseKeeper`); the others stand by and
start polling when they take the lease over (within 7 s of the holder's death, at once after
its clean stop). Updates Telegram handed to a holder that died before it confirmed them (the
next ``getUpdates`` offset) come again to the next poller. On SQLite only one ``run`` can use
the file (``storage/run_lock.py``), so it polls without a lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot.broadcast.lease import LeaseKeeper
from bot.config import WebhookSettings
from bot.telegram_side.context import BotApplication
from bot.telegram_side.handlers.gate import ALLOWED_UPDATES
from bot.telegram_side.webhook_registration import register_webhook
from bot.telegram_side.webhook_server import WebhookServer

__all__ = ["PollingSource", "WebhookSource", "update_source"]

log = logging.getLogger(__name__)


#: The lease whose holder polls getUpdates (PostgreSQL).
POLLING_LEASE = "polling"


class PollingSource:
    """``getUpdates`` through PTB's updater; with a ``lease``, only while it is held."""

    mode = "polling"

    def __init__(self, app: BotApplication, lease: LeaseKeeper | None = None) -> None:
        self._app = app
        self._lease = lease
        self._changed = asyncio.Event()
        self._follower: asyncio.Task[None] | None = None
        if lease is not None:
            lease.listeners.append(lambda _held: self._changed.set())

    @property
    def receiving(self) -> bool:
        """Polling, or standing by for the polling lease (ready to take over)."""
        updater = self._app.updater
        polling = updater is not None and updater.running
        return polling or self._follower is not None

    @property
    def lease(self) -> LeaseKeeper | None:
        """The polling lease (PostgreSQL), None when this process polls without one."""
        return self._lease

    @property
    def polling(self) -> bool:
        updater = self._app.updater
        return updater is not None and updater.running

    async def start(self) -> None:
        if self._lease is None:
            await self._start_polling()
            return
        await self._lease.start()
        if self._lease.held:  # the usual case: polling when start() returns
            log.info("event=polling_lease_acquired epoch=%s", self._lease.epoch)
            await self._start_polling()
        self._follower = asyncio.create_task(self._follow_lease(), name="polling-lease")

    async def _start_polling(self) -> None:
        assert self._app.updater is not None
        # Only the update types the handlers use (handlers/gate.py).
        await self._app.updater.start_polling(allowed_updates=list(ALLOWED_UPDATES))

    async def _follow_lease(self) -> None:
        """Poll while the lease is ours, stand by while it is not.

        Unlike delivery, polling goes on while renewals fail (``last_epoch``: the database is
        down, and most likely for every replica): patients keep their menus from the caches,
        and two pollers at worst end each other's ``getUpdates`` with 409 until the database
        says who holds the lease. It stops once another holder answered."""
        assert self._lease is not None and self._app.updater is not None
        while True:
            self._changed.clear()
            held, polling = self._lease.last_epoch is not None, self.polling
            try:
                if held and not polling:
                    log.info("event=polling_lease_acquired epoch=%s", self._lease.epoch)
                    await self._start_polling()
                elif polling and not held:
                    log.warning("event=polling_lease_lost")
                    await self._app.updater.stop()
            except Exception:
                log.exception("event=polling_switch_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), 1.0)

    async def stop_accepting(self) -> None:
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follower
            self._follower = None
        updater = self._app.updater
        if updater is not None and updater.running:
            await updater.stop()
        if self._lease is not None:  # another replica polls from now on
            await self._lease.stop()

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
    """The webhook when ``WEBHOOK_URL`` is set, else long polling (under the polling lease
    on PostgreSQL)."""
    runtime = app.runtime
    hook = runtime.settings.webhook
    if hook is not None:
        return WebhookSource(app, hook)
    storage = runtime.storage
    if storage.backend != "postgresql":
        return PollingSource(app)
    return PollingSource(app, LeaseKeeper(storage, POLLING_LEASE))
