"""Test tools: a Bot API emulator speaking real HTTP, and simulated users.

Used by the tests, by ``demo`` and by the benchmarks.
"""

from bot.testing.emulator import (
    BotAPIEmulator,
    Chat,
    ChatMessage,
    EmulatorStats,
    Fault,
    MessageVersion,
    Press,
    RateLimits,
    RecordedRequest,
    Violation,
)
from bot.testing.methods import METHODS, SpecChecker
from bot.testing.sim_user import SimUser

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
    "Violation",
]
