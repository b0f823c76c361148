"""Bot API methods on updates: getUpdates (long polling) and deleteWebhook.

python-telegram-bot calls deleteWebhook before it starts polling; the emulator has no webhooks,
so it only drops the pending updates when asked to.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.testing.emulator.telegram_world import Handler, Params, TelegramWorld

__all__ = ["HANDLERS", "get_updates"]


async def get_updates(
    world: TelegramWorld, params: Params, client_gone: Callable[[], bool]
) -> object:
    """Long polling; ``client_gone()`` tells whether the HTTP client stopped listening."""
    return await world.updates.poll(
        offset=params.get("offset"),
        limit=min(max(int(params.get("limit") or 100), 1), 100),
        wait_seconds=max(int(params.get("timeout") or 0), 0),
        allowed=params.get("allowed_updates"),
        client_gone=client_gone,
    )


def delete_webhook(world: TelegramWorld, params: Params) -> object:
    if params.get("drop_pending_updates"):
        world.updates.clear()
    return True


#: getUpdates is not here: it waits, so it is called on its own (see method_dispatch).
HANDLERS: dict[str, Handler] = {"deleteWebhook": delete_webhook}
