"""The delivery engine's decisions, without a network, a database or the wall clock.

The errors in the table are the ones python-telegram-bot raises: each HTTP answer goes through
PTB's own error mapping (``BaseRequest.post``), so a 502 is the ``NetworkError`` PTB makes of
it, not one written by hand.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from telegram.error import (
    ChatMigrated,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import BaseRequest, RequestData
from telegram.warnings import PTBDeprecationWarning

from bot.broadcast.engine import EngineConfig
from bot.broadcast.policy import (
    Decision,
    Delivered,
    Final,
    Pause,
    Retry,
    StopEngine,
    backoff_delay,
    decide,
    failure_reason,
    retry_schedule,
)

NOW = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
CONFIG = EngineConfig()  # production: 4 tries, 1 s before the first retry


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


# -- the errors PTB raises ----------------------------------------------------------------------


@dataclass(frozen=True)
class Http:
    """An answer of the Bot API: a JSON error, or any other body (an HTML page from a proxy)."""

    status: int
    description: str = ""
    parameters: dict[str, Any] | None = None
    raw: bytes | None = None

    def body(self) -> bytes:
        if self.raw is not None:
            return self.raw
        answer: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.parameters:
            answer["parameters"] = self.parameters
        return json.dumps(answer).encode()


class _Answering(BaseRequest):
    def __init__(self, answer: Http) -> None:
        self.answer = answer

    @property
    def read_timeout(self) -> float | None:
        return None

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        return self.answer.status, self.answer.body()


async def raised_by(answer: Http) -> Exception:
    """The exception python-telegram-bot raises for ``answer`` to a sendMessage."""
    with warnings.catch_warnings():  # PTB's RetryAfter warns about itself when it is created
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        try:
            await _Answering(answer).post("https://api.telegram.org/bot1:x/sendMessage")
        except Exception as exc:
            return exc
    raise AssertionError(f"{answer} raised nothing")


def quietly(make: Callable[[], Exception]) -> Exception:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        return make()


HTML_502 = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
LONG = "Internal Server Error: " + "x" * 500
Cause = Delivered | Http | Exception


# -- the decision table -------------------------------------------------------------------------

# (cause, tries made before this one, decision); with CONFIG unless the row names another.
TABLE = [
    pytest.param(Delivered(501), 0, Final("sent", 1, message_id=501), id="delivered"),
    pytest.param(Delivered(502), 2, Final("sent", 3, message_id=502), id="delivered-on-retry"),
    pytest.param(
        Http(403, "Forbidden: bot was blocked by the user"),
        0,
        Final("blocked", 1, reason="Forbidden: bot was blocked by the user"),
        id="403-blocked",
    ),
    pytest.param(
        Http(403, "Forbidden: user is deactivated"),
        1,
        Final("blocked", 2, reason="Forbidden: user is deactivated"),
        id="403-deactivated-after-a-retry",
    ),
    pytest.param(
        Http(400, "Bad Request: chat not found"),
        0,
        Final("failed", 1, reason="Chat not found"),
        id="400-chat-not-found",
    ),
    pytest.param(
        Http(400, "Bad Request: can't parse entities: unexpected end tag"),
        0,
        Final("failed", 1, reason="Can't parse entities: unexpected end tag"),
        id="400-never-retried",
    ),
    pytest.param(
        Http(429, "Too Many Requests: retry after 3", {"retry_after": 3}),
        2,
        Pause(3.0, 2, at(3)),
        id="429-pauses-same-attempts",
    ),
    pytest.param(
        Http(429, "Too Many Requests: retry after 35", {"retry_after": 35}),
        0,
        Pause(35.0, 0, at(35)),
        id="429-long",
    ),
    pytest.param(TimedOut(), 0, Retry(1, at(1), "Timed out"), id="timeout-1s"),
    pytest.param(
        NetworkError("aiohttp.ClientConnectorError: connection refused"),
        1,
        Retry(2, at(2), "aiohttp.ClientConnectorError: connection refused"),
        id="network-2s",
    ),
    pytest.param(Http(502, "Bad Gateway"), 2, Retry(3, at(4), "Bad Gateway"), id="502-4s"),
    pytest.param(
        Http(502, "Bad Gateway"), 3, Final("failed", 4, reason="Bad Gateway"), id="502-last-try"
    ),
    pytest.param(
        Http(500, "Internal Server Error"),
        0,
        Retry(1, at(1), "Internal Server Error"),
        id="500-retried",
    ),
    pytest.param(
        Http(502, raw=HTML_502),
        0,
        Retry(1, at(1), f"Bad Gateway (502). Parsing the server response {HTML_502!r} failed"),
        id="502-html-page",
    ),
    pytest.param(
        Http(504, "Gateway Timeout"),
        3,
        Final("failed", 4, reason="Gateway Timeout"),
        id="504-last-try",
    ),
    pytest.param(TimedOut(), 3, Final("failed", 4, reason="Timed out"), id="timeout-last-try"),
    pytest.param(
        Http(401, "Unauthorized"), 2, StopEngine(2, "Unauthorized"), id="401-stops-the-engine"
    ),
    pytest.param(Http(404, "Not Found"), 0, StopEngine(0, "Not Found"), id="404-stops-the-engine"),
    pytest.param(
        Http(409, "Conflict: terminated by other getUpdates request"),
        0,
        Final("failed", 1, reason="Conflict: terminated by other getUpdates request"),
        id="409-failed",
    ),
    pytest.param(
        ChatMigrated(-100123),
        0,
        Final("failed", 1, reason="Group migrated to supergroup. New chat id: -100123"),
        id="migrated-failed",
    ),
    pytest.param(
        TelegramError("Invalid server response"),
        0,
        Final("failed", 1, reason="Invalid server response"),
        id="other-telegram-error-failed",
    ),
    pytest.param(RuntimeError("boom"), 0, Retry(1, at(1), "RuntimeError"), id="unforeseen-retry"),
    pytest.param(
        KeyError("message_id"),
        3,
        Final("failed", 4, reason="KeyError"),
        id="unforeseen-last-try",
    ),
    pytest.param(
        Http(500, LONG), 3, Final("failed", 4, reason=LONG[:200]), id="long-reason-bounded"
    ),
]


@pytest.mark.parametrize(("cause", "attempts", "expected"), TABLE)
async def test_decision_table(cause: Cause, attempts: int, expected: Decision) -> None:
    result = await raised_by(cause) if isinstance(cause, Http) else cause
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no PTB deprecation warning from the policy
        assert decide(result, attempts=attempts, config=CONFIG, now=NOW) == expected


@pytest.mark.parametrize(
    ("config", "attempts", "expected"),
    [
        (EngineConfig(backoff=0.5, max_attempts=2), 0, Retry(1, at(0.5), "Bad Gateway")),
        (
            EngineConfig(backoff=0.5, max_attempts=2),
            1,
            Final("failed", 2, reason="Bad Gateway"),
        ),
        (EngineConfig(max_attempts=1), 0, Final("failed", 1, reason="Bad Gateway")),
        (EngineConfig(backoff=0.0), 0, Retry(1, NOW, "Bad Gateway")),
        (EngineConfig(max_attempts=6), 4, Retry(5, at(16), "Bad Gateway")),
    ],
    ids=["half-second", "half-second-last", "no-retries", "no-backoff", "six-tries"],
)
async def test_the_config_sets_tries_and_backoff(
    config: EngineConfig, attempts: int, expected: Decision
) -> None:
    bad_gateway = await raised_by(Http(502, "Bad Gateway"))
    assert decide(bad_gateway, attempts=attempts, config=config, now=NOW) == expected


def test_backoff_schedule() -> None:
    assert retry_schedule(CONFIG) == [1.0, 2.0, 4.0]
    assert retry_schedule(EngineConfig(max_attempts=6)) == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert retry_schedule(EngineConfig(backoff=0.25)) == [0.25, 0.5, 1.0]
    assert retry_schedule(EngineConfig(max_attempts=1)) == []
    assert backoff_delay(1, EngineConfig(backoff=-1.0)) == 0.0


def test_a_failing_recipient_walks_the_schedule_then_fails() -> None:
    attempts, now, waits = 0, NOW, []
    error = NetworkError("Bad Gateway")
    while True:
        decision = decide(error, attempts=attempts, config=CONFIG, now=now)
        if not isinstance(decision, Retry):
            break
        waits.append((decision.retry_at - now).total_seconds())
        attempts, now = decision.attempts, decision.retry_at
    assert waits == [1.0, 2.0, 4.0]
    assert decision == Final("failed", 4, reason="Bad Gateway")


def test_429s_do_not_use_up_the_tries() -> None:
    too_many = quietly(lambda: RetryAfter(2))
    decisions = [decide(too_many, attempts=3, config=CONFIG, now=NOW) for _ in range(10)]
    assert decisions == [Pause(2.0, 3, at(2))] * 10


def test_failure_reason() -> None:
    assert failure_reason(NetworkError("Bad Gateway")) == "Bad Gateway"
    assert failure_reason(TelegramError("")) == "TelegramError"  # no description: the type
    assert failure_reason(ValueError("a secret token in a message")) == "ValueError"
    assert len(failure_reason(NetworkError("y" * 1000))) == 200
