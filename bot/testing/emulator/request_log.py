"""The record of what the bot asked: every request with its answer, counters, and violations.

Tests read it to see what the bot did (``requests_for``, ``first_request_after``, ``errors``),
how often Telegram refused (:class:`EmulatorStats`), and which requests did not fit a method
table (:class:`Violation`).
"""

from __future__ import annotations

import logging
import time
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Literal

__all__ = ["EmulatorStats", "RecordedRequest", "RequestLog", "Violation"]

_LOGGER = logging.getLogger("bot.testing.emulator")


@dataclass
class RecordedRequest:
    """One request the emulator received; ``time`` is ``time.perf_counter()`` on arrival."""

    method: str
    params: dict[str, Any]
    time: float
    chat_id: int | None = None
    status: int = 0
    description: str | None = None
    finished: float | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass(frozen=True)
class Violation:
    """A request that does not fit a method table: ``layer`` is "table" (ours) or "spec"."""

    method: str
    layer: Literal["table", "spec"]
    message: str


@dataclass
class EmulatorStats:
    requests: int = 0
    by_method: Counter[str] = field(default_factory=Counter)
    ok: int = 0
    client_errors: int = 0  # 4xx other than 429
    too_many_requests: int = 0
    server_errors: int = 0  # injected 5xx
    timeouts: int = 0  # injected held responses
    messages_sent: int = 0
    edits: int = 0

    def count_answer(self, status: int) -> None:
        if status == 200:
            self.ok += 1
        elif status == 429:
            self.too_many_requests += 1
        elif status >= 500:
            self.server_errors += 1
        else:
            self.client_errors += 1


class RequestLog:
    """Requests in arrival order, the violations found in them, and the counters."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.violations: list[Violation] = []
        self.stats = EmulatorStats()

    def arrived(self, method: str) -> RecordedRequest:
        """Record a request as it arrives (its answer is filled in by :meth:`answered`)."""
        arrived = time.perf_counter()
        self.stats.requests += 1
        record = RecordedRequest(method=method, params={}, time=arrived)
        self.requests.append(record)
        return record

    def answered(self, record: RecordedRequest, status: int, description: str | None) -> None:
        record.status = status
        record.description = description
        record.finished = time.perf_counter()
        self.stats.count_answer(status)

    def violate(self, method: str, layer: Literal["table", "spec"], message: str) -> None:
        _LOGGER.warning("bot_api_violation layer=%s %s", layer, message)
        self.violations.append(Violation(method, layer, message))

    @property
    def errors(self) -> list[RecordedRequest]:
        """The requests answered with an error (requests still in flight are not counted)."""
        return [r for r in self.requests if r.status not in (0, 200)]

    def first_request_after(
        self, method: str, chat_id: int | None, t: float
    ) -> RecordedRequest | None:
        """The first ``method`` request for ``chat_id`` (None: any chat) arriving at or after t."""
        wanted = method.lower()
        # Requests are appended as they arrive, so their times only grow: start at t rather
        # than scanning the whole log (benchmarks ask this once per press).
        start = bisect_left(self.requests, t, key=lambda request: request.time)
        for request in islice(self.requests, start, None):
            if request.method.lower() == wanted and (
                chat_id is None or request.chat_id == chat_id
            ):
                return request
        return None

    def requests_for(
        self, method: str | None = None, chat_id: int | None = None
    ) -> list[RecordedRequest]:
        return [
            r
            for r in self.requests
            if (method is None or r.method.lower() == method.lower())
            and (chat_id is None or r.chat_id == chat_id)
        ]
