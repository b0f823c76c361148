"""A Bot API emulator that speaks real HTTP on 127.0.0.1, and the simulated users who use it.

python-telegram-bot is pointed at it with ``base_url`` (``Bot(token, base_url=emu.base_url)``),
so the real request encoding, error mapping and retries are exercised. The emulator answers the
way Telegram does, with Telegram's error descriptions, and keeps what a user would see: per
private chat, the messages with edits applied. Simulated users (:class:`SimUser`) type text and
press buttons; the bot receives them through long polling (``getUpdates``), or, once it set a
webhook, as POSTs to the route a test gives (:meth:`BotAPIEmulator.route_webhook`).

Every request is checked against the emulator's own method table (:mod:`.method_table`) and,
when a spec file is configured (``spec_path`` or ``$BOT_API_SPEC``), against Telegram's
machine-readable Bot API table; what does not fit lands in :attr:`BotAPIEmulator.violations`.

The modules, from the outside in:

- ``bot_api_emulator``: :class:`BotAPIEmulator`, what tests use; it puts the parts together.
- ``sim_user``: :class:`SimUser`, and the public interface it needs from the emulator.
- ``http_endpoint``: the aiohttp server: reading requests, the envelopes, the checks.
- ``method_table``: the methods and their parameters; decoding; Telegram's ``api.json``.
- ``method_dispatch``: which implementation answers which method.
- ``message_methods``, ``callback_methods``, ``command_methods``, ``chat_methods``,
  ``update_methods``: the Bot API methods, by family.
- ``user_actions``: what a user does (send, press, block) and waiting for the bot.
- ``telegram_world``: the state behind the API; ``chat_model``: chats, messages, presses.
- ``update_queue``: pending updates and long polling; ``webhook_delivery``: posting them to
  the webhook, again until taken; ``webhook_state``: what setWebhook set.
- ``flood_control``, ``fault_injection``: 429s and injected 5xx/timeouts.
- ``request_log``: recorded requests, counters, violations; ``error_answers``: Telegram's
  error descriptions.
"""

from bot.testing.emulator.bot_api_emulator import BotAPIEmulator
from bot.testing.emulator.chat_model import Chat, ChatMessage, MessageVersion, Press
from bot.testing.emulator.fault_injection import Fault
from bot.testing.emulator.flood_control import RateLimits
from bot.testing.emulator.method_table import METHODS, SpecChecker
from bot.testing.emulator.request_log import EmulatorStats, RecordedRequest, Violation
from bot.testing.emulator.sim_user import SimUser, TelegramForUsers

__all__ = [
    "METHODS",
    "BotAPIEmulator",
    "Chat",
    "ChatMessage",
    "EmulatorStats",
    "Fault",
    "MessageVersion",
    "Press",
    "RateLimits",
    "RecordedRequest",
    "SimUser",
    "SpecChecker",
    "TelegramForUsers",
    "Violation",
]
