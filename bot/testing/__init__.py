"""Test tools: a Bot API emulator speaking real HTTP, and simulated users.

Used by the tests, by ``demo`` and by the benchmarks. See :mod:`bot.testing.emulator`.
"""

from bot.testing.emulator import (
    METHODS,
    BotAPIEmulator,
    Chat,
    ChatMessage,
    EmulatorStats,
    Fault,
    MessageVersion,
    Press,
    RateLimits,
    RecordedRequest,
    SimUser,
    SpecChecker,
    Violation,
)

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
