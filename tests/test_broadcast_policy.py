"""The delivery engine's decisions and clock, without a network, a database or the wall clock.

The errors in the table are the ones python-telegram-bot raises: each HTTP answer goes through
PTB's own error mapping (``BaseRequest.post``), so a 502 is the ``NetworkError`` PTB makes of
it, not one written by hand.
"""

from __future__ import annotations

import asyncio
import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from telegram.error import (
    ChatMigrated,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import BaseRequest, RequestData
from telegram.warnings import PTBDeprecationWarning

from bot.broadcast.clock import SystemClock, wait_event
from bot.broadcast.engine import BroadcastEngine, EngineConfig
from bot.broadcast.pacing import Pacer
from bot.broadcast.policy import (
    NO_ANSWER,
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
from bot.config import PROJECT_ROOT
from bot.core.i18n import Catalogs
from bot.telegram_side.api_errors import ReadTimedOut
from bot.telegram_side.transport import AiohttpRequest
from tests.clocks import FastClock, SteppedClock

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
        except Exception as exc:  # noqa: BLE001 - collect whatever PTB raises for the answer
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
    # The request left and its answer was lost: Telegram may have delivered it.
    pytest.param(ReadTimedOut(), 0, Final("in_doubt", 1, reason=NO_ANSWER), id="read-timeout"),
    pytest.param(
        ReadTimedOut(), 2, Final("in_doubt", 3, reason=NO_ANSWER), id="read-timeout-on-retry"
    ),
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


async def test_the_transport_tells_a_lost_answer_from_a_request_that_never_left() -> None:
    """AiohttpRequest against a real server that holds its answer: a read timeout is
    ReadTimedOut (in doubt); no free connection in time is a plain TimedOut (retried)."""
    release = asyncio.Event()
    second = asyncio.Event()
    arrived: list[str] = []

    async def slow(request: web.Request) -> web.Response:
        arrived.append(request.path)
        if len(arrived) == 2:
            second.set()
        await release.wait()
        return web.json_response({"ok": True, "result": True})

    app = web.Application()
    app.router.add_post("/{tail:.*}", slow)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    transport = AiohttpRequest(
        connection_pool_size=1, read_timeout=0.3, connect_timeout=0.3, pool_timeout=0.3
    )
    await transport.initialize()
    url = f"http://127.0.0.1:{port}/bot1:x/sendMessage"
    try:
        # The request reached the server (it is counted there); its answer did not come.
        with pytest.raises(ReadTimedOut):
            await transport.do_request(url, "POST", read_timeout=0.3)
        assert arrived == ["/bot1:x/sendMessage"]
        # One connection, held by a slow request: the next one never gets to leave.
        held = asyncio.create_task(transport.do_request(url, "POST", read_timeout=5))
        await asyncio.wait_for(second.wait(), 5)
        with pytest.raises(TimedOut) as raised:
            await transport.do_request(url, "POST", pool_timeout=0.2)
        assert not isinstance(raised.value, ReadTimedOut)
        assert len(arrived) == 2
        release.set()
        assert (await held)[0] == 200
    finally:
        release.set()
        await transport.shutdown()
        await runner.cleanup()
    decision = decide(ReadTimedOut(), attempts=0, config=CONFIG, now=NOW)
    assert decision == Final("in_doubt", 1, reason=NO_ANSWER)
    assert isinstance(decide(TimedOut(), attempts=0, config=CONFIG, now=NOW), Retry)


def test_failure_reason() -> None:
    assert failure_reason(NetworkError("Bad Gateway")) == "Bad Gateway"
    assert failure_reason(TelegramError("")) == "TelegramError"  # no description: the type
    assert failure_reason(ValueError("a secret token in a message")) == "ValueError"
    assert len(failure_reason(NetworkError("y" * 1000))) == 200


# -- clocks -------------------------------------------------------------------------------------


async def test_system_clock() -> None:
    clock = SystemClock()
    now = clock.now()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)
    before = clock.monotonic()
    await clock.sleep(0.01)
    assert clock.monotonic() - before >= 0.009
    event = asyncio.Event()
    assert not await wait_event(clock, event, 0.01)
    asyncio.get_running_loop().call_later(0.01, event.set)
    assert await wait_event(clock, event, 5)


async def test_stepped_clock_sleeps_take_no_time() -> None:
    clock = SteppedClock()
    began = time.monotonic()
    await clock.sleep(3600)
    assert clock.monotonic() == 4600.0 and clock.now() == NOW + timedelta(hours=1)
    event = asyncio.Event()
    assert not await wait_event(clock, event, 30)  # times out at once, 30 s later
    assert clock.monotonic() == 4630.0
    event.set()
    assert await wait_event(clock, event, 30)
    assert clock.monotonic() == 4630.0
    assert time.monotonic() - began < 1


async def test_fast_clock_runs_fast_and_jumps() -> None:
    clock = FastClock(speed=100)
    began, virtual = time.monotonic(), clock.monotonic()
    await clock.sleep(2.0)  # 20 ms of wall clock
    assert clock.monotonic() - virtual >= 2.0
    assert time.monotonic() - began < 1.0

    sleeper = asyncio.create_task(clock.sleep(3600))
    await asyncio.sleep(0.01)
    assert not sleeper.done()
    start = clock.now()
    clock.advance(3600)
    await asyncio.wait_for(sleeper, 1.0)  # woken by the jump, not by an hour
    assert clock.now() - start >= timedelta(hours=1)

    event = asyncio.Event()
    waiting = asyncio.create_task(wait_event(clock, event, 600))
    await asyncio.sleep(0.01)
    clock.advance(600)
    assert await asyncio.wait_for(waiting, 1.0) is False


# -- pace and per-chat spacing on the clock -----------------------------------------------------


async def test_pacer_gives_interactive_messages_priority_and_honours_pauses() -> None:
    clock = SteppedClock(monotonic=100.0)
    pacer = Pacer(10.0, clock=clock)
    assert await pacer.acquire()  # slot at 100.0, no wait
    assert clock.sleeps == []
    pacer.take_now()  # an interactive reply takes the next slot (100.1) without waiting
    pacer.take_now()  # and another (100.2)
    # The next bulk slot is 100.3: within max_wait from 100.0 it is not granted.
    assert not await pacer.acquire(max_wait=0.25)
    assert clock.monotonic() == pytest.approx(100.25)
    assert await pacer.acquire(max_wait=0.25)  # 100.3, after a 0.05 s wait
    assert clock.monotonic() == pytest.approx(100.3)
    assert await pacer.acquire()  # the pace: 100.4
    assert clock.monotonic() == pytest.approx(100.4)
    pacer.pause(5)
    assert pacer.paused_for == pytest.approx(5)
    assert not await pacer.acquire(max_wait=1.0)  # paused until 105.4
    assert clock.monotonic() == pytest.approx(101.4)
    assert await pacer.acquire(max_wait=5.0)
    assert clock.monotonic() == pytest.approx(105.4)
    assert pacer.pauses == 1 and pacer.interactive_slots == 2


async def test_a_pause_during_the_wait_voids_the_slot() -> None:
    clock = SteppedClock(monotonic=0.0)
    pacer = Pacer(1.0, clock=clock)
    assert await pacer.acquire()
    real_sleep = clock.sleep

    async def sleep_and_get_a_429(seconds: float) -> None:
        await real_sleep(seconds)
        if len(clock.sleeps) == 1:
            pacer.pause(10)  # another send's 429 arrives while this one waits for its slot

    clock.sleep = sleep_and_get_a_429  # type: ignore[method-assign]
    assert await pacer.acquire(max_wait=20)
    assert clock.monotonic() == pytest.approx(11.0)  # not at 1.0: after the pause


def engine_on(clock: SteppedClock, **config: Any) -> BroadcastEngine:
    """An engine that is never started: its per-chat spacing and waits, on ``clock``."""
    return BroadcastEngine(
        None,  # type: ignore[arg-type]  # no storage: nothing here reaches it
        Catalogs.load(PROJECT_ROOT / "locales", ["en"]),
        token="1:x",
        base_url="http://127.0.0.1:9/bot",
        default_locale="en",
        config=EngineConfig(**config),
        clock=clock,
    )


async def test_one_message_a_second_per_chat_bulk_or_interactive() -> None:
    clock = SteppedClock(monotonic=50.0)
    engine = engine_on(clock)
    await engine.wait_for_chat(1)
    await engine.wait_for_chat(2)  # another chat: no wait
    assert clock.sleeps == []
    await engine.wait_for_chat(1)
    assert clock.sleeps == [1.0]
    clock.advance(0.4)
    engine.note_interactive("sendMessage", 3, 200, None)  # the bot answered chat 3
    engine.note_interactive("answerCallbackQuery", 4, 200, None)  # not a message
    clock.advance(0.25)
    await engine.wait_for_chat(3)
    assert clock.sleeps[-1] == pytest.approx(0.75)
    await engine.wait_for_chat(4)
    assert len(clock.sleeps) == 2
    clock.advance(5)
    await engine.wait_for_chat(1)  # long enough ago
    assert len(clock.sleeps) == 2
    assert engine.pacer.interactive_slots == 1


async def test_only_a_global_interactive_429_pauses_both_paces() -> None:
    clock = SteppedClock()
    engine = engine_on(clock)
    # One chat over its 1/s (a patient tapping fast): bulk sending goes on.
    engine.note_interactive("sendMessage", 3, 429, 7.0)
    assert engine.pacer.paused_for == 0.0 and engine.paid_pacer.paused_for == 0.0
    # Several chats at once (the transport's RateLimitWatch says so): the bot is over 30/s.
    engine.note_interactive("sendMessage", 5, 429, 7.0, True)
    assert engine.pacer.paused_for == 7.0 and engine.paid_pacer.paused_for == 7.0


async def test_idle_waits_on_the_clock_and_wakes_early() -> None:
    clock = SteppedClock()
    engine = engine_on(clock)
    assert not engine.stopping and engine.delivering is None
    await engine.idle(30)
    assert clock.sleeps == [30]

    fast = FastClock(speed=1)
    engine = engine_on(fast)  # type: ignore[arg-type]
    idling = asyncio.create_task(engine.idle(600))
    await asyncio.sleep(0.01)
    engine.wake()
    await asyncio.wait_for(idling, 1.0)
