"""Everything Telegram keeps for one bot: its chats, pending presses, commands and updates.

The method implementations (``*_methods`` modules) read and change a :class:`TelegramWorld`;
so do the simulated users' actions (:mod:`bot.testing.emulator.user_actions`). It knows nothing
of HTTP.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from bot.testing.emulator.chat_model import BotIdentity, Chat, ChatMessage, Press, message_json
from bot.testing.emulator.error_answers import CHAT_NOT_FOUND, bad_request
from bot.testing.emulator.request_log import EmulatorStats
from bot.testing.emulator.update_queue import UpdateQueue
from bot.testing.emulator.webhook_state import WebhookState

__all__ = ["CommandsKey", "Handler", "Params", "TelegramWorld"]

#: A request's decoded parameters, by name.
Params = dict[str, Any]
#: (scope type, scope chat_id, scope user_id, language code) of a command list.
CommandsKey = tuple[str, int | None, int | None, str]
#: A Bot API method's implementation: its result, or an APIError raised.
Handler = Callable[["TelegramWorld", Params], object]


class TelegramWorld:
    """The state behind the Bot API, shared by the method implementations and the users."""

    def __init__(
        self, bot: BotIdentity, stats: EmulatorStats, *, callback_query_timeout: float
    ) -> None:
        self.bot = bot
        self.stats = stats
        self.callback_query_timeout = callback_query_timeout
        self.chats: dict[int, Chat] = {}
        self.queries: dict[str, Press] = {}
        self.commands: dict[CommandsKey, list[dict[str, Any]]] = {}
        self.default_menu_button: dict[str, Any] | None = None
        self.updates = UpdateQueue()
        # The webhook (setWebhook), None while the bot polls; when setWebhook last succeeded
        # (perf_counter), for its limit of about one call a second.
        self.webhook: WebhookState | None = None
        self.webhook_set_at = float("-inf")
        self._query_ids = itertools.count(4_180_000_000_000_000_001)

    def require_chat(self, chat_id: object) -> Chat:
        """The chat a request names, or Telegram's "chat not found"."""
        chat = self.chats.get(chat_id) if isinstance(chat_id, int) else None
        if chat is None:
            raise bad_request(CHAT_NOT_FOUND)
        return chat

    def message_json(self, chat: Chat, message: ChatMessage) -> dict[str, Any]:
        return message_json(self.bot, chat, message)

    def next_query_id(self) -> str:
        return str(next(self._query_ids))
