"""The emulator's HTTP side: an aiohttp server on 127.0.0.1 that answers as api.telegram.org.

A request to ``/bot<token>/<method>`` is recorded, its parameters are read from the query
string, a form or a JSON body, checked against the method tables (:mod:`method_table`, and
Telegram's ``api.json`` when given), passed through injected faults and flood control, and run
(:mod:`method_dispatch`). The answer is Telegram's envelope: ``{"ok": true, "result": ...}``
or ``{"ok": false, "error_code": ..., "description": ..., "parameters": ...}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from bot.testing.emulator.error_answers import (
    GATEWAY_TIMEOUT,
    NOT_FOUND,
    UNAUTHORIZED,
    APIError,
    too_many_requests,
)
from bot.testing.emulator.fault_injection import Fault, take_fault
from bot.testing.emulator.flood_control import LIMITED_METHODS, FloodControl
from bot.testing.emulator.method_dispatch import execute
from bot.testing.emulator.method_table import METHODS, MethodSpec, SpecChecker, decode_params
from bot.testing.emulator.request_log import RecordedRequest, RequestLog
from bot.testing.emulator.telegram_world import Params, TelegramWorld
from bot.testing.emulator.webhook_state import Described

__all__ = ["BotAPIServer"]


def _json(status: int, body: Mapping[str, Any]) -> web.Response:
    return web.Response(
        status=status, text=json.dumps(body, ensure_ascii=False), content_type="application/json"
    )


async def _read_params(request: web.Request) -> dict[str, object]:
    """The raw parameters, every encoding python-telegram-bot (or another client) may use."""
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


async def _not_found(request: web.Request) -> web.Response:
    return _json(404, {"ok": False, "error_code": 404, "description": NOT_FOUND})


class BotAPIServer:
    """Serves ``world`` over HTTP, recording every request in ``log``."""

    def __init__(
        self,
        *,
        token: str,
        world: TelegramWorld,
        log: RequestLog,
        flood: FloodControl,
        faults: list[Fault],
        spec: SpecChecker | None,
    ) -> None:
        self._token = token
        self._world = world
        self._log = log
        self._flood = flood
        self._faults = faults
        self._spec = spec
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()

    async def start(self) -> int:
        """Listen on a free port of 127.0.0.1; returns the port."""
        # Events made in __init__ may belong to no loop yet; make them here, in the caller's loop.
        self._closing = asyncio.Event()
        self._world.updates.open()
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("*", "/{tail:.*}", _not_found)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
        await web.SockSite(self._runner, sock).start()
        return port

    async def stop(self) -> None:
        """Answer waiting polls and held requests at once, then close the server."""
        self._closing.set()
        self._world.updates.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ---------------------------------------------------------------- one request

    async def _handle(self, request: web.Request) -> web.Response:
        method_name = request.match_info["method"]
        record = self._log.arrived(method_name)
        if request.match_info["token"] != self._token:
            return self._finish(record, 401, UNAUTHORIZED)
        try:
            raw = await _read_params(request)
        except ValueError as exc:
            return self._finish(record, 400, f"Bad Request: can't parse request body: {exc}")
        record.params = dict(raw)
        spec = self._look_up(method_name, raw)
        if spec is None:
            return self._finish(record, 404, NOT_FOUND)
        params, problems = self._decode(record, spec, raw)
        if problems:
            return self._finish(record, 400, "Bad Request: " + problems[0])

        def client_gone() -> bool:
            transport = request.transport
            return transport is None or transport.is_closing()

        try:
            result = await self._run(record, spec.name, params, client_gone)
        except APIError as exc:
            return self._finish(record, exc.status, exc.description, parameters=exc.parameters)
        if isinstance(result, Described):  # e.g. setWebhook's "Webhook is already set"
            return self._finish(record, 200, result.description, result=result.result)
        return self._finish(record, 200, result=result)

    def _look_up(self, method_name: str, raw: Mapping[str, object]) -> MethodSpec | None:
        """The method's entry in our table; what does not fit either table is a violation."""
        if self._spec is not None:
            for problem in self._spec.check(method_name, list(raw)):
                self._log.violate(method_name, "spec", problem)
        spec = METHODS.get(method_name.lower())
        if spec is None:
            self._log.violate(method_name, "table", f"{method_name}: not in the emulator's table")
        return spec

    def _decode(
        self, record: RecordedRequest, spec: MethodSpec, raw: Mapping[str, object]
    ) -> tuple[Params, list[str]]:
        """Decode by the table, and note on the record which chat the request concerns."""
        record.method = spec.name
        self._log.stats.by_method[spec.name] += 1
        params, problems = decode_params(spec, raw)
        for problem in problems:
            self._log.violate(spec.name, "table", problem)
        record.params = params
        chat_id = params.get("chat_id")
        record.chat_id = chat_id if isinstance(chat_id, int) else None
        if spec.name == "answerCallbackQuery":
            query = self._world.queries.get(str(params.get("callback_query_id")))
            record.chat_id = query.chat_id if query is not None else None
        self._touch(record.chat_id)
        return params, problems

    async def _run(
        self,
        record: RecordedRequest,
        method: str,
        params: Params,
        client_gone: Callable[[], bool],
    ) -> object:
        """The method's result, unless an injected fault or flood control answers instead."""
        fault = take_fault(self._faults, method, record.chat_id)
        if fault is not None:
            return await self._fail(fault, method, params)
        if method in LIMITED_METHODS:
            paid = bool(params.get("allow_paid_broadcast"))
            retry_after = self._flood.retry_after(record.chat_id, paid=paid)
            if retry_after:
                raise too_many_requests(retry_after)
        return await execute(self._world, method, params, client_gone)

    async def _fail(self, fault: Fault, method: str, params: Params) -> object:
        """Carry out ``fault``: a 5xx, or an answer held for ``fault.delay`` seconds."""
        result: object = None
        executed_ok = False
        if fault.executed:
            with contextlib.suppress(APIError):
                result = await execute(self._world, method, params)
                executed_ok = True
        if fault.kind == "server_error":
            raise APIError(fault.status, fault.description)
        self._log.stats.timeouts += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), fault.delay)
        if executed_ok:
            return result
        raise APIError(504, GATEWAY_TIMEOUT)

    def _touch(self, chat_id: int | None) -> None:
        if chat_id is not None and chat_id in self._world.chats:
            self._world.chats[chat_id].touch()

    def _finish(
        self,
        record: RecordedRequest,
        status: int,
        description: str | None = None,
        result: object = None,
        parameters: dict[str, Any] | None = None,
    ) -> web.Response:
        """Record the answer and send it in Telegram's envelope."""
        self._log.answered(record, status, description)
        self._touch(record.chat_id)
        if status == 200:
            answer: dict[str, Any] = {"ok": True, "result": result}
            if description is not None:
                answer["description"] = description
            return _json(200, answer)
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if parameters:
            body["parameters"] = parameters
        return _json(status, body)
