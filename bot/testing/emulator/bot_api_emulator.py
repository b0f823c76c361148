"""The emulator as tests use it: start it, make users, read what the bot did, inject trouble.

:class:`BotAPIEmulator` puts the parts together: the state behind the Bot API
(:mod:`telegram_world`), the HTTP server (:mod:`http_endpoint`), the request log, flood control
and injected faults. To simulated users it offers a small public interface
(:meth:`~BotAPIEmulator.deliver_text`, :meth:`~BotAPIEmulator.deliver_press`,
:meth:`~BotAPIEmulator.wait_for_bot`), which is all :class:`SimUser` uses.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from bot.testing.emulator.chat_model import BotIdentity, Chat, ChatMessage, Press
from bot.testing.emulator.fault_injection import Fault, FaultKind
from bot.testing.emulator.flood_control import FloodControl, RateLimits, TokenBucket
from bot.testing.emulator.http_endpoint import BotAPIServer
from bot.testing.emulator.method_table import SpecChecker
from bot.testing.emulator.request_log import EmulatorStats, RecordedRequest, RequestLog, Violation
from bot.testing.emulator.sim_user import SimUser
from bot.testing.emulator.telegram_world import TelegramWorld
from bot.testing.emulator.user_actions import (
    add_bot_to_group,
    edit_text,
    post_in_channel,
    press_button,
    send_group_text,
    send_text,
    set_blocked,
    wait_for_bot,
)
from bot.testing.emulator.webhook_delivery import WebhookSender
from bot.testing.emulator.webhook_state import WebhookState

__all__ = ["BotAPIEmulator"]


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
        if spec_path is None and os.environ.get("BOT_API_SPEC"):
            spec_path = os.environ["BOT_API_SPEC"]
        self.spec_path = Path(spec_path) if spec_path is not None else None
        self._log = RequestLog()
        self._world = TelegramWorld(
            BotIdentity(bot_id, bot_username),
            self._log.stats,
            callback_query_timeout=callback_query_timeout,
        )
        self._users: dict[int, SimUser] = {}
        self._flood = FloodControl(rate_limits)
        #: Injected faults, in the order they are tried; see :meth:`inject_fault`.
        self.faults: list[Fault] = []
        self._server = BotAPIServer(
            token=token,
            world=self._world,
            log=self._log,
            flood=self._flood,
            faults=self.faults,
            spec=SpecChecker(self.spec_path) if self.spec_path is not None else None,
        )
        self._port: int | None = None
        #: Posts updates to the webhook while one is set; ``webhooks.route`` says where to
        #: (see :meth:`route_webhook`), ``webhooks.deliveries`` what came of each post.
        self.webhooks = WebhookSender(self._world)

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
        self._port = await self._server.start()
        await self.webhooks.start()

    async def stop(self) -> None:
        await self.webhooks.stop()
        await self._server.stop()

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

    # ---------------------------------------------------------------- settings and state

    @property
    def bot_id(self) -> int:
        return self._world.bot.id

    @property
    def bot_username(self) -> str:
        return self._world.bot.username

    @property
    def rate_limits(self) -> RateLimits | None:
        """Flood limits for sending, or None for none; setting new ones refills the buckets."""
        return self._flood.limits

    @rate_limits.setter
    def rate_limits(self, limits: RateLimits | None) -> None:
        self._flood.limits = limits

    @property
    def _global_bucket(self) -> TokenBucket | None:
        # Kept for tests/test_broadcast.py, which tunes the global bucket in place.
        return self._flood.global_bucket

    @property
    def callback_query_timeout(self) -> float:
        """Seconds after a press within which the bot may answer its callback query."""
        return self._world.callback_query_timeout

    @callback_query_timeout.setter
    def callback_query_timeout(self, seconds: float) -> None:
        self._world.callback_query_timeout = seconds

    @property
    def chats(self) -> dict[int, Chat]:
        return self._world.chats

    @property
    def queries(self) -> dict[str, Press]:
        """Every callback query sent, by id."""
        return self._world.queries

    @property
    def default_menu_button(self) -> dict[str, Any] | None:
        return self._world.default_menu_button

    # ---------------------------------------------------------------- what the bot did

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request, in arrival order (a benchmark may replace the list to keep none)."""
        return self._log.requests

    @requests.setter
    def requests(self, requests: list[RecordedRequest]) -> None:
        self._log.requests = requests

    @property
    def violations(self) -> list[Violation]:
        return self._log.violations

    @property
    def stats(self) -> EmulatorStats:
        return self._log.stats

    @property
    def errors(self) -> list[RecordedRequest]:
        """The requests answered with an error (requests still in flight are not counted)."""
        return self._log.errors

    def first_request_after(
        self, method: str, chat_id: int | None, t: float
    ) -> RecordedRequest | None:
        """The first ``method`` request for ``chat_id`` (None: any chat) arriving at or after t."""
        return self._log.first_request_after(method, chat_id, t)

    def requests_for(
        self, method: str | None = None, chat_id: int | None = None
    ) -> list[RecordedRequest]:
        return self._log.requests_for(method, chat_id)

    def chat(self, chat_id: int) -> Chat:
        return self._world.chats[chat_id]

    def bot_messages(self, chat_id: int) -> list[ChatMessage]:
        """Every message the bot created in a chat (deleted ones too): counts deliveries."""
        chat = self._world.chats.get(chat_id)
        return [] if chat is None else [m for m in chat.messages if m.from_bot]

    def commands(
        self,
        scope_type: str = "default",
        language_code: str = "",
        *,
        chat_id: int | None = None,
        user_id: int | None = None,
    ) -> list[dict[str, Any]]:
        """The bot commands set for a scope and language, as ``[{command, description}]``."""
        return list(self._world.commands.get((scope_type, chat_id, user_id, language_code), []))

    @property
    def webhook(self) -> WebhookState | None:
        """The webhook the bot set (URL, secret token, max_connections), None while polling."""
        return self._world.webhook

    def route_webhook(self, origin: str | None) -> None:
        """Post webhook updates to ``origin`` (``http://127.0.0.1:PORT``), keeping the webhook
        URL's path: the TLS-terminating proxy that Telegram reaches through DNS."""
        self.webhooks.route = origin
        self._world.updates.wake()

    @property
    def pending_updates(self) -> int:
        return len(self._world.updates)

    @property
    def allowed_updates(self) -> frozenset[str] | None:
        """The update types the bot asked getUpdates for (None: it never named any)."""
        return self._world.updates.allowed

    # ---------------------------------------------------------------- trouble

    def inject_fault(
        self,
        kind: FaultKind,
        *,
        method: str | None = None,
        count: int = 1,
        chat_id: int | None = None,
        delay: float = 5.0,
        executed: bool = False,
        status: int = 502,
        answer: str | None = None,
    ) -> Fault:
        """Make the next ``count`` matching requests fail.

        "server_error" answers ``status`` (500 or 502, or any other error status with
        ``answer`` as its description) with a Telegram-like body; "timeout"
        holds the answer for ``delay`` seconds, long enough for the client to give up.
        ``executed`` says whether the method is performed anyway before the failure, as a real
        in-flight request may well be.
        """
        fault = Fault(kind, method, count, chat_id, delay, executed, status, answer)
        self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        self.faults.clear()

    # ---------------------------------------------------------------- users

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
            self._world.chats[user_id] = chat
            user = self._users[user_id] = SimUser(self, chat)
        return user

    def group(self, chat_id: int, *, title: str = "Ward 3", kind: str = "group") -> Chat:
        """A group (or ``kind`` "supergroup" or "channel") chat; ``chat_id`` is negative."""
        chat = self._world.chats.get(chat_id)
        if chat is None:
            chat = Chat(chat_id, title, None, None, kind=kind, title=title)
            self._world.chats[chat_id] = chat
        return chat

    def deliver_group_text(self, chat_id: int, user_id: int, text: str) -> ChatMessage:
        """User ``user_id`` (made with :meth:`user`) writes ``text`` in group ``chat_id``."""
        return send_group_text(
            self._world, self._world.chats[chat_id], self._user_chat(user_id), text
        )

    def deliver_channel_post(self, chat_id: int, text: str) -> ChatMessage:
        return post_in_channel(self._world, self._world.chats[chat_id], text)

    def add_to_group(self, chat_id: int, by_user_id: int) -> None:
        """User ``by_user_id`` adds the bot to group ``chat_id``."""
        add_bot_to_group(self._world, self._world.chats[chat_id], self._user_chat(by_user_id))

    def deliver_edit(self, user_id: int, message_id: int, text: str) -> None:
        """The user edits their message ``message_id`` to ``text``."""
        chat = self._user_chat(user_id)
        message = chat.get(message_id)
        if message is None or message.from_bot:
            raise KeyError(f"no message {message_id} of user {user_id}")
        edit_text(self._world, chat, message, text)

    def _user_chat(self, user_id: int) -> Chat:
        chat = self._world.chats.get(user_id)
        if chat is None:
            raise KeyError(f"no simulated user {user_id}; make one with emulator.user()")
        return chat

    def block_bot(self, user_id: int) -> None:
        """The user blocks the bot: sends fail with 403 and the bot gets ``my_chat_member``."""
        set_blocked(self._world, self._user_chat(user_id), blocked=True)

    def unblock_bot(self, user_id: int) -> None:
        set_blocked(self._world, self._user_chat(user_id), blocked=False)

    def queue_update(self, kind: str, payload: dict[str, Any]) -> int:
        """Queue an update ``{"update_id": ..., kind: payload}``; returns its update_id."""
        return self._world.updates.put(kind, payload)

    def deliver_text(self, user_id: int, text: str) -> ChatMessage:
        """The user sends ``text`` (a leading /command gets its entity); the bot gets it next
        time it polls. Returns the message as it stands in the chat."""
        return send_text(self._world, self._user_chat(user_id), text)

    def deliver_press(
        self, user_id: int, message_id: int, data: str, *, label: str | None = None
    ) -> Press:
        """The user presses a button with callback ``data`` (any, even one the message does not
        carry) on message ``message_id``; the returned :class:`Press` gets the bot's answer."""
        chat = self._user_chat(user_id)
        message = chat.get(message_id)
        if message is None:
            raise KeyError(f"no message {message_id} in the chat with user {user_id}")
        return press_button(self._world, chat, message, data, label)

    async def wait_for_bot(
        self,
        user_id: int,
        ready: Callable[[], bool],
        *,
        within: float,
        settle: float,
        what: str,
        since: float,
    ) -> None:
        """Wait until ``ready()`` and then no bot request for the chat for ``settle`` seconds.

        Raises AssertionError, with the transcript and the failed requests since ``since``
        (a perf_counter), when ``ready()`` is not true ``within`` seconds; ``what`` names the
        awaited action in that message.
        """
        await wait_for_bot(
            self._user_chat(user_id),
            ready,
            within=within,
            settle=settle,
            what=what,
            since=since,
            log=self._log,
        )
