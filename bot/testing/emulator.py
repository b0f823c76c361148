"""A Bot API emulator that speaks real HTTP on 127.0.0.1.

python-telegram-bot is pointed at it with ``base_url`` (``Bot(token, base_url=emu.base_url)``),
so the real request encoding, error mapping and retries are exercised. The emulator answers the
way Telegram does, with Telegram's error descriptions, and keeps what a user would see: per
private chat, the messages with edits applied. Simulated users (:mod:`bot.testing.sim_user`) type
text and press buttons through long polling (``getUpdates``).

Every request is checked against the emulator's own method table (:mod:`bot.testing.methods`)
and, when a spec file is configured (``spec_path`` or ``$BOT_API_SPEC``), against Telegram's
machine-readable Bot API table; what does not fit lands in :attr:`BotAPIEmulator.violations`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import math
import os
import re
import socket
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from aiohttp import web

from bot.core.limits import MAX_CALLBACK_DATA_BYTES, MAX_INLINE_BUTTONS
from bot.core.telegram_html import TelegramHTMLError, validate_message_text
from bot.testing.methods import METHODS, MethodSpec, SpecChecker, decode_params
from bot.testing.sim_user import SimUser

__all__ = [
    "BotAPIEmulator",
    "Chat",
    "ChatMessage",
    "EmulatorStats",
    "Fault",
    "MessageVersion",
    "Press",
    "RateLimits",
    "RecordedRequest",
    "Violation",
]

_LOGGER = logging.getLogger(__name__)

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
BLOCKED = "Forbidden: bot was blocked by the user"
CHAT_NOT_FOUND = "Bad Request: chat not found"
CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)

_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_BUTTON_ACTIONS = frozenset(
    {
        "url",
        "callback_data",
        "web_app",
        "login_url",
        "switch_inline_query",
        "switch_inline_query_current_chat",
        "switch_inline_query_chosen_chat",
        "copy_text",
        "callback_game",
        "pay",
    }
)
# Update types delivered when getUpdates never named any (Telegram's default).
_DEFAULT_EXCLUDED_UPDATES = frozenset(
    {"chat_member", "message_reaction", "message_reaction_count"}
)
_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")


class APIError(Exception):
    """A Bot API error answer: HTTP status, description and optional response parameters."""

    def __init__(
        self, status: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


def _bad_request(description: str) -> APIError:
    return APIError(400, "Bad Request: " + description)


@dataclass
class RateLimits:
    """Telegram's flood limits for message-creating methods, as token buckets.

    About 30 messages per second across all chats (bursts up to one second's worth), one message
    per second in a private chat with short bursts of ``per_chat_burst`` tolerated, and up to
    ``paid_per_second`` for requests with ``allow_paid_broadcast=True``, which skip the global
    bucket (but not the per-chat one).
    """

    global_per_second: float = 30.0
    per_chat_per_second: float = 1.0
    per_chat_burst: int = 3
    paid_per_second: float = 1000.0


class _Bucket:
    def __init__(self, rate: float, capacity: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, capacity)
        self.tokens = self.capacity
        self.stamp = time.perf_counter()

    def wait_time(self, now: float) -> float:
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self) -> None:
        self.tokens -= 1


@dataclass
class Fault:
    """An injected failure; see :meth:`BotAPIEmulator.inject_fault`."""

    kind: Literal["server_error", "timeout"]
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


@dataclass(frozen=True)
class MessageVersion:
    """An earlier state of an edited message."""

    text: str
    html: str
    entities: tuple[dict[str, Any], ...]
    reply_markup: dict[str, Any] | None
    replaced_at: float


@dataclass
class ChatMessage:
    """A message as the user sees it, edits applied; ``html`` is the text as the bot sent it."""

    message_id: int
    from_bot: bool
    text: str
    date: int
    html: str = ""
    parse_mode: str | None = None
    entities: tuple[dict[str, Any], ...] = ()
    reply_markup: dict[str, Any] | None = None
    edit_date: int | None = None
    history: list[MessageVersion] = field(default_factory=list)
    deleted: bool = False
    created: float = field(default_factory=time.perf_counter)

    @property
    def edit_count(self) -> int:
        return len(self.history)

    def buttons(self) -> list[list[str]]:
        """Labels of the inline keyboard, row by row."""
        return [[str(b.get("text", "")) for b in row] for row in self.inline_keyboard()]

    def inline_keyboard(self) -> list[list[dict[str, Any]]]:
        if not self.reply_markup:
            return []
        rows = self.reply_markup.get("inline_keyboard") or []
        return [list(row) for row in rows]

    def __str__(self) -> str:
        who = "bot" if self.from_bot else "user"
        lines = [f"[{self.message_id}] {who}: {self.text}"]
        if self.edit_count:
            lines[0] += f"  (edited {self.edit_count}x)"
        lines += ["    " + " | ".join(f"[{label}]" for label in row) for row in self.buttons()]
        return "\n".join(lines)


@dataclass
class Press:
    """A callback query sent by a simulated user, and the bot's answer once it comes."""

    id: str
    chat_id: int
    message_id: int
    data: str
    label: str | None
    queued_at: float
    answered_at: float | None = None
    answer_text: str | None = None
    show_alert: bool = False
    url: str | None = None
    answers: int = 0

    @property
    def answered(self) -> bool:
        return self.answered_at is not None

    # The result of SimUser.press() reads as "the answer".
    @property
    def text(self) -> str | None:
        return self.answer_text


@dataclass
class Chat:
    """A private chat between the bot and one simulated user."""

    id: int
    first_name: str
    username: str | None
    language_code: str | None
    messages: list[ChatMessage] = field(default_factory=list)
    blocked: bool = False
    outputs: int = 0  # bot messages, edits and deletions, for "has the bot answered"
    last_activity: float = 0.0  # perf_counter of the last bot request concerning this chat
    menu_button: dict[str, Any] | None = None
    _next_message_id: int = 1
    _activity: asyncio.Event = field(default_factory=asyncio.Event)

    def touch(self) -> None:
        self.last_activity = time.perf_counter()
        self._activity.set()
        self._activity = asyncio.Event()

    def add(self, message: ChatMessage) -> ChatMessage:
        self.messages.append(message)
        return message

    def next_message_id(self) -> int:
        message_id = self._next_message_id
        self._next_message_id += 1
        return message_id

    def get(self, message_id: int) -> ChatMessage | None:
        for message in self.messages:
            if message.message_id == message_id and not message.deleted:
                return message
        return None

    def json(self) -> dict[str, Any]:
        result: dict[str, Any] = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.username:
            result["username"] = self.username
        return result

    def user_json(self) -> dict[str, Any]:
        result: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.username:
            result["username"] = self.username
        if self.language_code:
            result["language_code"] = self.language_code
        return result


def _now() -> int:
    return int(time.time())


class BotAPIEmulator:
    """The Bot API over HTTP, inside the caller's event loop.

    ``async with BotAPIEmulator() as emu: bot = telegram.Bot(emu.token, base_url=emu.base_url)``
    """

    def __init__(
        self,
        *,
        token: str = "123456:TEST-token",  # noqa: S107 - the fake token the emulator accepts
        bot_id: int = 123456,
        bot_username: str = "interventional_test_bot",
        spec_path: str | Path | None = None,
        rate_limits: RateLimits | None = None,
        callback_query_timeout: float = 15.0,
    ) -> None:
        self._token = token
        self.bot_id = bot_id
        self.bot_username = bot_username
        if spec_path is None and os.environ.get("BOT_API_SPEC"):
            spec_path = os.environ["BOT_API_SPEC"]
        self.spec_path = Path(spec_path) if spec_path is not None else None
        self._spec = SpecChecker(self.spec_path) if self.spec_path is not None else None
        self.rate_limits = rate_limits
        self.callback_query_timeout = callback_query_timeout

        self.requests: list[RecordedRequest] = []
        self.violations: list[Violation] = []
        self.stats = EmulatorStats()
        self.chats: dict[int, Chat] = {}
        self._users: dict[int, SimUser] = {}
        self.faults: list[Fault] = []
        self.queries: dict[str, Press] = {}
        self._commands: dict[tuple[str, int | None, int | None, str], list[dict[str, Any]]] = {}
        self.default_menu_button: dict[str, Any] | None = None

        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 1
        self._allowed_updates: frozenset[str] | None = None
        self._update_signal = asyncio.Event()
        self._poll_generation = 0
        self._query_ids = itertools.count(4_180_000_000_000_000_001)

        self._global_bucket: _Bucket | None = None
        self._paid_bucket: _Bucket | None = None
        self._chat_buckets: dict[int, _Bucket] = {}
        if rate_limits is not None:
            self._global_bucket = _Bucket(
                rate_limits.global_per_second, rate_limits.global_per_second
            )
            self._paid_bucket = _Bucket(rate_limits.paid_per_second, rate_limits.paid_per_second)

        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._closing = asyncio.Event()

    # ---------------------------------------------------------------- lifecycle

    @property
    def token(self) -> str:
        return self._token

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the emulator is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """The ``base_url`` for python-telegram-bot, which appends the token and method."""
        return f"http://127.0.0.1:{self.port}/bot"

    async def start(self) -> None:
        # Events made in __init__ may belong to no loop yet; make them here, in the caller's loop.
        self._closing = asyncio.Event()
        self._update_signal = asyncio.Event()
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._port = int(sock.getsockname()[1])
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        self._closing.set()
        self._update_signal.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> BotAPIEmulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # ---------------------------------------------------------------- public helpers for tests

    @property
    def errors(self) -> list[RecordedRequest]:
        """The requests answered with an error (requests still in flight are not counted)."""
        return [r for r in self.requests if r.status not in (0, 200)]

    def user(
        self,
        user_id: int,
        *,
        first_name: str = "Pat",
        language_code: str | None = "en",
        username: str | None = None,
    ) -> SimUser:
        """A simulated user with a private chat with the bot (made on first use; the same
        SimUser is returned for the same ``user_id`` later)."""
        user = self._users.get(user_id)
        if user is None:
            chat = Chat(user_id, first_name, username, language_code)
            self.chats[user_id] = chat
            user = self._users[user_id] = SimUser(self, chat)
        return user

    def chat(self, chat_id: int) -> Chat:
        return self.chats[chat_id]

    def bot_messages(self, chat_id: int) -> list[ChatMessage]:
        """Every message the bot created in a chat (deleted ones too): counts deliveries."""
        chat = self.chats.get(chat_id)
        return [] if chat is None else [m for m in chat.messages if m.from_bot]

    def block_bot(self, user_id: int) -> None:
        """The user blocks the bot: sends fail with 403 and the bot gets ``my_chat_member``."""
        self._set_blocked(user_id, blocked=True)

    def unblock_bot(self, user_id: int) -> None:
        self._set_blocked(user_id, blocked=False)

    def commands(
        self,
        scope_type: str = "default",
        language_code: str = "",
        *,
        chat_id: int | None = None,
        user_id: int | None = None,
    ) -> list[dict[str, Any]]:
        """The bot commands set for a scope and language, as ``[{command, description}]``."""
        return list(self._commands.get((scope_type, chat_id, user_id, language_code), []))

    def inject_fault(
        self,
        kind: Literal["server_error", "timeout"],
        *,
        method: str | None = None,
        count: int = 1,
        chat_id: int | None = None,
        delay: float = 5.0,
        executed: bool = False,
        status: int = 502,
    ) -> Fault:
        """Make the next ``count`` matching requests fail.

        "server_error" answers ``status`` (500 or 502) with a Telegram-like body; "timeout"
        holds the answer for ``delay`` seconds, long enough for the client to give up.
        ``executed`` says whether the method is performed anyway before the failure, as a real
        in-flight request may well be.
        """
        fault = Fault(kind, method, count, chat_id, delay, executed, status)
        self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        self.faults.clear()

    def first_request_after(
        self, method: str, chat_id: int | None, t: float
    ) -> RecordedRequest | None:
        """The first ``method`` request for ``chat_id`` (None: any chat) arriving at or after t."""
        wanted = method.lower()
        for request in self.requests:
            if (
                request.time >= t
                and request.method.lower() == wanted
                and (chat_id is None or request.chat_id == chat_id)
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

    def queue_update(self, kind: str, payload: dict[str, Any]) -> int:
        """Queue an update ``{"update_id": ..., kind: payload}``; returns its update_id."""
        update_id = self._next_update_id
        self._next_update_id += 1
        self._updates.append({"update_id": update_id, kind: payload})
        signal, self._update_signal = self._update_signal, asyncio.Event()
        signal.set()
        return update_id

    @property
    def pending_updates(self) -> int:
        return len(self._updates)

    # ---------------------------------------------------------------- used by SimUser

    def _bot_user_json(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Interventional Test Bot",
            "username": self.bot_username,
        }

    def _message_json(self, chat: Chat, message: ChatMessage) -> dict[str, Any]:
        result: dict[str, Any] = {
            "message_id": message.message_id,
            "date": message.date,
            "chat": chat.json(),
            "from": self._bot_user_json() if message.from_bot else chat.user_json(),
            "text": message.text,
        }
        if message.entities:
            result["entities"] = list(message.entities)
        if message.reply_markup is not None:
            result["reply_markup"] = message.reply_markup
        if message.edit_date is not None:
            result["edit_date"] = message.edit_date
        return result

    def _user_message(self, chat: Chat, text: str) -> ChatMessage:
        entities: tuple[dict[str, Any], ...] = ()
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            length = len(command.encode("utf-16-le")) // 2
            entities = ({"type": "bot_command", "offset": 0, "length": length},)
        message = chat.add(
            ChatMessage(chat.next_message_id(), False, text, _now(), html=text, entities=entities)
        )
        self.queue_update("message", self._message_json(chat, message))
        return message

    def _callback_query(
        self, chat: Chat, message: ChatMessage, data: str, label: str | None
    ) -> Press:
        press = Press(
            id=str(next(self._query_ids)),
            chat_id=chat.id,
            message_id=message.message_id,
            data=data,
            label=label,
            queued_at=time.perf_counter(),
        )
        self.queries[press.id] = press
        self.queue_update(
            "callback_query",
            {
                "id": press.id,
                "from": chat.user_json(),
                "message": self._message_json(chat, message),
                "chat_instance": str(chat.id * 7 + 1),
                "data": data,
            },
        )
        return press

    async def _wait_for_bot(
        self,
        chat: Chat,
        ready: Callable[[], bool],
        *,
        limit: float,
        settle: float,
        what: str,
        since: float,
    ) -> None:
        """Wait until ``ready()`` and then no bot request for ``chat`` for ``settle`` seconds."""
        deadline = time.perf_counter() + limit
        while True:
            now = time.perf_counter()
            is_ready = ready()
            if is_ready:
                quiet = now - chat.last_activity
                if quiet >= settle or now >= deadline + limit:
                    return
                wait = settle - quiet
            else:
                if now >= deadline:
                    raise AssertionError(self._timeout_report(chat, what, limit, since))
                wait = deadline - now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(chat._activity.wait(), wait)

    def _timeout_report(self, chat: Chat, what: str, timeout: float, since: float) -> str:
        lines = [f"{what}: the bot did not answer within {timeout:g} s", "transcript:"]
        lines += [f"  {m}".replace("\n", "\n  ") for m in chat.messages if not m.deleted]
        failed = [r for r in self.errors if r.chat_id in (chat.id, None) and r.time >= since]
        if failed:
            lines.append("failed requests meanwhile:")
            lines += [f"  {r.method} -> {r.status} {r.description}" for r in failed]
        if self.violations:
            lines.append("violations:")
            lines += [f"  [{v.layer}] {v.message}" for v in self.violations]
        return "\n".join(lines)

    # ---------------------------------------------------------------- HTTP

    async def _not_found(self, request: web.Request) -> web.Response:
        return self._json(404, {"ok": False, "error_code": 404, "description": "Not Found"})

    @staticmethod
    def _json(status: int, body: Mapping[str, Any]) -> web.Response:
        return web.Response(
            status=status,
            text=json.dumps(body, ensure_ascii=False),
            content_type="application/json",
        )

    async def _read_params(self, request: web.Request) -> dict[str, object]:
        raw: dict[str, object] = dict(request.query)
        if request.method != "POST" or not request.can_read_body:
            return raw
        content_type = request.content_type
        if content_type == "application/json":
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("the JSON body is not an object")
            raw.update(body)
        elif content_type in {"application/x-www-form-urlencoded", "multipart/form-data"}:
            form = await request.post()
            for key, value in form.items():
                raw[key] = value if isinstance(value, str) else getattr(value, "filename", "")
        return raw

    def _finish(
        self,
        record: RecordedRequest,
        status: int,
        description: str | None = None,
        result: object = None,
        parameters: dict[str, Any] | None = None,
    ) -> web.Response:
        record.status = status
        record.description = description
        record.finished = time.perf_counter()
        if status == 200:
            self.stats.ok += 1
        elif status == 429:
            self.stats.too_many_requests += 1
        elif status >= 500:
            self.stats.server_errors += 1
        else:
            self.stats.client_errors += 1
        if record.chat_id is not None and record.chat_id in self.chats:
            self.chats[record.chat_id].touch()
        if status == 200:
            return self._json(200, {"ok": True, "result": result})
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if parameters:
            body["parameters"] = parameters
        return self._json(status, body)

    def _violate(self, method: str, layer: Literal["table", "spec"], message: str) -> None:
        _LOGGER.warning("bot_api_violation layer=%s %s", layer, message)
        self.violations.append(Violation(method, layer, message))

    async def _handle(self, request: web.Request) -> web.Response:
        arrived = time.perf_counter()
        self.stats.requests += 1
        method_name = request.match_info["method"]
        record = RecordedRequest(method=method_name, params={}, time=arrived)
        self.requests.append(record)
        if request.match_info["token"] != self._token:
            return self._finish(record, 401, "Unauthorized")
        try:
            raw = await self._read_params(request)
        except ValueError as exc:
            return self._finish(record, 400, f"Bad Request: can't parse request body: {exc}")
        record.params = dict(raw)
        if self._spec is not None:
            for problem in self._spec.check(method_name, list(raw)):
                self._violate(method_name, "spec", problem)
        spec = METHODS.get(method_name.lower())
        if spec is None:
            self._violate(method_name, "table", f"{method_name}: not in the emulator's table")
            return self._finish(record, 404, "Not Found")
        record.method = spec.name
        self.stats.by_method[spec.name] += 1
        params, problems = decode_params(spec, raw)
        for problem in problems:
            self._violate(spec.name, "table", problem)
        record.params = params
        chat_id = params.get("chat_id")
        record.chat_id = chat_id if isinstance(chat_id, int) else None
        if spec.name == "answerCallbackQuery":
            query = self.queries.get(str(params.get("callback_query_id")))
            record.chat_id = query.chat_id if query is not None else None
        if record.chat_id is not None and record.chat_id in self.chats:
            self.chats[record.chat_id].touch()
        if problems:
            return self._finish(record, 400, "Bad Request: " + problems[0])

        fault = next((f for f in self.faults if f.matches(spec.name, record.chat_id)), None)
        if fault is not None:
            fault.count -= 1
            return await self._apply_fault(fault, record, spec, params)

        if spec.name == "sendMessage" and self.rate_limits is not None:
            retry_after = self._rate_limit(
                record.chat_id, bool(params.get("allow_paid_broadcast"))
            )
            if retry_after:
                return self._finish(
                    record,
                    429,
                    f"Too Many Requests: retry after {retry_after}",
                    parameters={"retry_after": retry_after},
                )
        try:
            result = await self._execute(spec, params, request)
        except APIError as exc:
            return self._finish(record, exc.status, exc.description, parameters=exc.parameters)
        return self._finish(record, 200, result=result)

    async def _apply_fault(
        self, fault: Fault, record: RecordedRequest, spec: MethodSpec, params: dict[str, Any]
    ) -> web.Response:
        result: object = None
        executed_ok = False
        if fault.executed:
            try:
                result = await self._execute(spec, params)
                executed_ok = True
            except APIError:
                pass
        if fault.kind == "server_error":
            status = fault.status
            phrase = "Bad Gateway" if status == 502 else "Internal Server Error"
            return self._finish(record, status, phrase)
        self.stats.timeouts += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), fault.delay)
        if executed_ok:
            return self._finish(record, 200, result=result)
        return self._finish(record, 504, "Gateway Timeout")

    def _rate_limit(self, chat_id: int | None, paid: bool) -> int:
        """Seconds to wait (0 when the message may go now); takes the tokens when it may."""
        limits = self.rate_limits
        assert limits is not None
        assert self._global_bucket is not None
        assert self._paid_bucket is not None
        now = time.perf_counter()
        buckets = [self._paid_bucket if paid else self._global_bucket]
        if chat_id is not None:
            bucket = self._chat_buckets.get(chat_id)
            if bucket is None:
                bucket = _Bucket(limits.per_chat_per_second, limits.per_chat_burst)
                self._chat_buckets[chat_id] = bucket
            buckets.append(bucket)
        wait = max(b.wait_time(now) for b in buckets)
        if wait > 0:
            return max(1, math.ceil(wait))
        for b in buckets:
            b.take()
        return 0

    # ---------------------------------------------------------------- methods

    async def _execute(
        self, spec: MethodSpec, params: dict[str, Any], request: web.Request | None = None
    ) -> object:
        if spec.name == "getUpdates":
            return await self._get_updates(params, request)
        handler = getattr(self, "_m_" + spec.name)
        result: object = await handler(params)
        return result

    async def _m_getMe(self, params: dict[str, Any]) -> object:
        return {
            **self._bot_user_json(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _m_logOut(self, params: dict[str, Any]) -> object:
        return True

    async def _m_close(self, params: dict[str, Any]) -> object:
        return True

    async def _m_deleteWebhook(self, params: dict[str, Any]) -> object:
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _m_getWebhookInfo(self, params: dict[str, Any]) -> object:
        return {"url": "", "has_custom_certificate": False, "pending_update_count": 0}

    def _deliverable(self, update: dict[str, Any]) -> bool:
        kind = next(k for k in update if k != "update_id")
        if self._allowed_updates is None:
            return kind not in _DEFAULT_EXCLUDED_UPDATES
        return kind in self._allowed_updates

    async def _get_updates(self, params: dict[str, Any], request: web.Request | None) -> object:
        self._poll_generation += 1
        generation = self._poll_generation
        # A newer getUpdates ends an older one that is still waiting (409 for the older one).
        self._update_signal.set()
        self._update_signal = asyncio.Event()

        offset = params.get("offset")
        if offset is not None:
            if offset < 0:
                self._updates = self._updates[offset:]
            else:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = max(int(params.get("timeout") or 0), 0)
        allowed = params.get("allowed_updates")
        if allowed is not None:
            self._allowed_updates = frozenset(str(a) for a in allowed) if allowed else None

        deadline = time.perf_counter() + timeout
        while True:
            self._updates = [u for u in self._updates if self._deliverable(u)]
            if self._updates or self._closing.is_set():
                return self._updates[:limit]
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return []
            signal = self._update_signal
            try:
                await asyncio.wait_for(signal.wait(), remaining)
            except TimeoutError:
                return []
            if generation != self._poll_generation:
                transport = request.transport if request is not None else None
                if transport is None or transport.is_closing():
                    return []  # the client gave up on this poll already (e.g. on shutdown)
                raise APIError(409, CONFLICT)

    def _require_chat(self, chat_id: object) -> Chat:
        chat = self.chats.get(chat_id) if isinstance(chat_id, int) else None
        if chat is None:
            raise _bad_request("chat not found")
        return chat

    @staticmethod
    def _check_text(text: object, parse_mode: object) -> tuple[str, tuple[dict[str, Any], ...]]:
        try:
            parsed = validate_message_text(
                str(text or ""), str(parse_mode) if parse_mode is not None else None
            )
        except TelegramHTMLError as exc:
            raise _bad_request(exc.description) from exc
        return parsed.text, tuple(parsed.entity_dicts())

    @staticmethod
    def _check_inline_markup(markup: object) -> dict[str, Any] | None:
        """An inline keyboard to keep on the message; None for other (or no) markup."""
        if not isinstance(markup, dict) or "inline_keyboard" not in markup:
            return None
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise _bad_request(
                'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays'
            )
        if sum(len(row) for row in rows) > MAX_INLINE_BUTTONS:
            raise _bad_request("reply markup is too long")
        for row in rows:
            for button in row:
                if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                    raise _bad_request(
                        'can\'t parse inline keyboard button: Field "text" must be of type String'
                    )
                if "callback_data" in button:
                    data = button["callback_data"]
                    size = len(str(data).encode("utf-8"))
                    if not isinstance(data, str) or not 1 <= size <= MAX_CALLBACK_DATA_BYTES:
                        raise _bad_request("BUTTON_DATA_INVALID")
                elif not _BUTTON_ACTIONS & button.keys():
                    raise _bad_request(
                        "can't parse inline keyboard button: "
                        "Text buttons are unallowed in the inline keyboard"
                    )
        return markup

    async def _m_sendMessage(self, params: dict[str, Any]) -> object:
        chat = self._require_chat(params["chat_id"])
        text, entities = self._check_text(params.get("text"), params.get("parse_mode"))
        if params.get("parse_mode") is None and params.get("entities"):
            entities = tuple(params["entities"])
        markup = self._check_inline_markup(params.get("reply_markup"))
        if chat.blocked:
            raise APIError(403, BLOCKED)
        message = chat.add(
            ChatMessage(
                chat.next_message_id(),
                True,
                text,
                _now(),
                html=str(params["text"]),
                parse_mode=params.get("parse_mode"),
                entities=entities,
                reply_markup=markup,
            )
        )
        chat.outputs += 1
        self.stats.messages_sent += 1
        return self._message_json(chat, message)

    def _message_to_edit(self, params: dict[str, Any]) -> tuple[Chat, ChatMessage]:
        if params.get("inline_message_id") is not None:
            raise _bad_request("inline messages are not supported by the emulator")
        if params.get("chat_id") is None or params.get("message_id") is None:
            raise _bad_request("message identifier is not specified")
        chat = self._require_chat(params["chat_id"])
        message = chat.get(int(params["message_id"]))
        if message is None:
            raise _bad_request("message to edit not found")
        if not message.from_bot:
            raise _bad_request("message can't be edited")
        return chat, message

    def _apply_edit(
        self,
        chat: Chat,
        message: ChatMessage,
        *,
        text: str,
        html: str,
        parse_mode: str | None,
        entities: tuple[dict[str, Any], ...],
        markup: dict[str, Any] | None,
    ) -> object:
        if (
            text == message.text
            and entities == message.entities
            and markup == message.reply_markup
        ):
            raise _bad_request(NOT_MODIFIED.removeprefix("Bad Request: "))
        if chat.blocked:
            raise APIError(403, BLOCKED)
        message.history.append(
            MessageVersion(
                message.text,
                message.html,
                message.entities,
                message.reply_markup,
                time.perf_counter(),
            )
        )
        message.text, message.html, message.parse_mode = text, html, parse_mode
        message.entities, message.reply_markup = entities, markup
        message.edit_date = _now()
        chat.outputs += 1
        self.stats.edits += 1
        return self._message_json(chat, message)

    async def _m_editMessageText(self, params: dict[str, Any]) -> object:
        chat, message = self._message_to_edit(params)
        text, entities = self._check_text(params.get("text"), params.get("parse_mode"))
        if params.get("parse_mode") is None and params.get("entities"):
            entities = tuple(params["entities"])
        markup = self._check_inline_markup(params.get("reply_markup"))
        return self._apply_edit(
            chat,
            message,
            text=text,
            html=str(params.get("text")),
            parse_mode=params.get("parse_mode"),
            entities=entities,
            markup=markup,
        )

    async def _m_editMessageReplyMarkup(self, params: dict[str, Any]) -> object:
        chat, message = self._message_to_edit(params)
        markup = self._check_inline_markup(params.get("reply_markup"))
        return self._apply_edit(
            chat,
            message,
            text=message.text,
            html=message.html,
            parse_mode=message.parse_mode,
            entities=message.entities,
            markup=markup,
        )

    async def _m_deleteMessage(self, params: dict[str, Any]) -> object:
        chat = self._require_chat(params["chat_id"])
        message = chat.get(params["message_id"])
        if message is None:
            raise _bad_request("message to delete not found")
        message.deleted = True
        chat.outputs += 1
        return True

    async def _m_answerCallbackQuery(self, params: dict[str, Any]) -> object:
        press = self.queries.get(params["callback_query_id"])
        now = time.perf_counter()
        if press is None or press.answered or now - press.queued_at > self.callback_query_timeout:
            if press is not None:
                press.answers += 1
            raise APIError(400, QUERY_TOO_OLD)
        press.answers += 1
        press.answered_at = now
        press.answer_text = params.get("text")
        press.show_alert = bool(params.get("show_alert", False))
        press.url = params.get("url")
        return True

    @staticmethod
    def _scope_key(scope: object) -> tuple[str, int | None, int | None]:
        if not isinstance(scope, dict):
            return ("default", None, None)
        chat_id = scope.get("chat_id")
        user_id = scope.get("user_id")
        return (
            str(scope.get("type", "default")),
            int(chat_id) if chat_id is not None else None,
            int(user_id) if user_id is not None else None,
        )

    def _commands_key(self, params: dict[str, Any]) -> tuple[str, int | None, int | None, str]:
        language_code = str(params.get("language_code") or "")
        if language_code and not re.fullmatch(r"[a-z]{2}", language_code):
            raise _bad_request("LANG_CODE_INVALID")
        return (*self._scope_key(params.get("scope")), language_code)

    async def _m_setMyCommands(self, params: dict[str, Any]) -> object:
        key = self._commands_key(params)
        commands = params["commands"]
        if len(commands) > 100:
            raise _bad_request("too many commands")
        stored = []
        for command in commands:
            if not isinstance(command, dict):
                raise _bad_request("can't parse BotCommand: object expected")
            for required in ("command", "description"):
                if required not in command:
                    raise _bad_request(f"can't parse BotCommand: Can't find field \"{required}\"")
            name = str(command.get("command", "")).removeprefix("/")
            description = str(command.get("description", ""))
            if not _COMMAND_RE.fullmatch(name):
                raise _bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(description.strip()) <= 256:
                raise _bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
            stored.append({"command": name, "description": description})
        if stored:
            self._commands[key] = stored
        else:
            self._commands.pop(key, None)
        return True

    async def _m_getMyCommands(self, params: dict[str, Any]) -> object:
        return list(self._commands.get(self._commands_key(params), []))

    async def _m_deleteMyCommands(self, params: dict[str, Any]) -> object:
        self._commands.pop(self._commands_key(params), None)
        return True

    async def _m_sendChatAction(self, params: dict[str, Any]) -> object:
        chat = self._require_chat(params["chat_id"])
        if params["action"] not in _CHAT_ACTIONS:
            raise _bad_request("wrong parameter action in request")
        if chat.blocked:
            raise APIError(403, BLOCKED)
        return True

    async def _m_setChatMenuButton(self, params: dict[str, Any]) -> object:
        button = params.get("menu_button") or {"type": "default"}
        if params.get("chat_id") is None:
            self.default_menu_button = button
        else:
            self._require_chat(params["chat_id"]).menu_button = button
        return True

    async def _m_getChat(self, params: dict[str, Any]) -> object:
        chat = self._require_chat(params["chat_id"])
        return {
            **chat.json(),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": True,
                "limited_gifts": True,
                "unique_gifts": True,
                "premium_subscription": True,
                "gifts_from_channels": True,
            },
        }

    # ---------------------------------------------------------------- blocking

    def _set_blocked(self, user_id: int, *, blocked: bool) -> None:
        chat = self.chats.get(user_id)
        if chat is None:
            raise KeyError(f"no simulated user {user_id}; make one with emulator.user()")
        if chat.blocked == blocked:
            return
        chat.blocked = blocked
        old, new = ("member", "kicked") if blocked else ("kicked", "member")

        def member(status: str) -> dict[str, Any]:
            result: dict[str, Any] = {"status": status, "user": self._bot_user_json()}
            if status == "kicked":
                result["until_date"] = 0
            return result

        self.queue_update(
            "my_chat_member",
            {
                "chat": chat.json(),
                "from": chat.user_json(),
                "date": _now(),
                "old_chat_member": member(old),
                "new_chat_member": member(new),
            },
        )
