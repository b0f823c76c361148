"""Which implementation answers which Bot API method: the families put together.

Every method in the emulator's table (:data:`~bot.testing.emulator.method_table.METHODS`) has
exactly one implementation, in the module of its family.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.testing.emulator.callback_methods import HANDLERS as CALLBACK_HANDLERS
from bot.testing.emulator.chat_methods import HANDLERS as CHAT_HANDLERS
from bot.testing.emulator.command_methods import HANDLERS as COMMAND_HANDLERS
from bot.testing.emulator.message_methods import HANDLERS as MESSAGE_HANDLERS
from bot.testing.emulator.telegram_world import Handler, Params, TelegramWorld
from bot.testing.emulator.update_methods import HANDLERS as UPDATE_HANDLERS
from bot.testing.emulator.update_methods import get_updates

__all__ = ["HANDLERS", "LONG_POLL", "execute"]

#: The long-polling method, which waits and needs to know whether its client is still there.
LONG_POLL = "getUpdates"

#: Every other method, by its Bot API name.
HANDLERS: dict[str, Handler] = {
    **MESSAGE_HANDLERS,
    **CALLBACK_HANDLERS,
    **COMMAND_HANDLERS,
    **CHAT_HANDLERS,
    **UPDATE_HANDLERS,
}


async def execute(
    world: TelegramWorld,
    method: str,
    params: Params,
    client_gone: Callable[[], bool] = lambda: True,
) -> object:
    """Run ``method`` (its Bot API name) on ``world``; raises APIError for an error answer."""
    if method == LONG_POLL:
        return await get_updates(world, params, client_gone)
    return HANDLERS[method](world, params)
