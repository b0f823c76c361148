"""Injected failures: 5xx answers and held (timed-out) requests, for the next matching requests.

A test injects a :class:`Fault` with :meth:`BotAPIEmulator.inject_fault`; the HTTP endpoint asks
:func:`take_fault` before running each method. A fault may let the method run anyway
(``executed=True``), as a real request that fails in flight may well have been carried out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.testing.emulator.error_answers import BAD_GATEWAY, INTERNAL_SERVER_ERROR

__all__ = ["Fault", "FaultKind", "take_fault"]

FaultKind = Literal["server_error", "timeout"]


@dataclass
class Fault:
    """An injected failure; see :meth:`BotAPIEmulator.inject_fault`."""

    kind: FaultKind
    method: str | None = None
    count: int = 1
    chat_id: int | None = None
    delay: float = 5.0
    executed: bool = False
    status: int = 502

    def matches(self, method: str, chat_id: int | None) -> bool:
        if self.count <= 0:
            return False
        if self.method is not None and self.method.lower() != method.lower():
            return False
        return self.chat_id is None or self.chat_id == chat_id

    @property
    def description(self) -> str:
        """The body's description for a "server_error" fault."""
        return BAD_GATEWAY if self.status == 502 else INTERNAL_SERVER_ERROR


def take_fault(faults: list[Fault], method: str, chat_id: int | None) -> Fault | None:
    """The first fault matching this request, with one use of it taken; None if none does."""
    fault = next((f for f in faults if f.matches(method, chat_id)), None)
    if fault is not None:
        fault.count -= 1
    return fault
