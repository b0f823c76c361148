"""The emulator's table of the Bot API methods the bot and its tests call; parameter decoding.

Each parameter has a name, a type and a required flag, as in Telegram's documentation. Requests
arrive with every value as a string (query string, form data: python-telegram-bot JSON-encodes
every non-string value) or typed (a JSON body); :func:`decode_params` turns them into Python
values by the declared type and reports what does not fit.

A second, optional layer checks requests against Telegram's machine-readable method table
(``api.json``), see :class:`SpecChecker`.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "METHODS",
    "MethodSpec",
    "Param",
    "ParamType",
    "SpecChecker",
    "decode_params",
    "decode_value",
]


class ParamType(enum.Enum):
    INTEGER = "Integer"
    STRING = "String"
    BOOLEAN = "Boolean"
    FLOAT = "Float"
    INTEGER_OR_STRING = "Integer or String"
    OBJECT = "JSON object"
    ARRAY = "JSON array"


@dataclass(frozen=True)
class Param:
    name: str
    type: ParamType
    required: bool = False


@dataclass(frozen=True)
class MethodSpec:
    name: str
    params: tuple[Param, ...] = ()

    def param(self, name: str) -> Param | None:
        for param in self.params:
            if param.name == name:
                return param
        return None


_I, _S, _B = ParamType.INTEGER, ParamType.STRING, ParamType.BOOLEAN
_IS, _O, _A = ParamType.INTEGER_OR_STRING, ParamType.OBJECT, ParamType.ARRAY


def _m(name: str, *params: tuple[str, ParamType] | tuple[str, ParamType, bool]) -> MethodSpec:
    return MethodSpec(name, tuple(Param(*p) for p in params))


_TABLE = (
    _m("getMe"),
    _m("getUpdates", ("offset", _I), ("limit", _I), ("timeout", _I), ("allowed_updates", _A)),
    _m("deleteWebhook", ("drop_pending_updates", _B)),
    _m(
        "setWebhook",
        ("url", _S, True),
        ("certificate", _S),
        ("ip_address", _S),
        ("max_connections", _I),
        ("allowed_updates", _A),
        ("drop_pending_updates", _B),
        ("secret_token", _S),
    ),
    _m("getWebhookInfo"),
    _m(
        "sendMessage",
        ("business_connection_id", _S),
        ("chat_id", _IS, True),
        ("message_thread_id", _I),
        ("direct_messages_topic_id", _I),
        ("text", _S, True),
        ("parse_mode", _S),
        ("entities", _A),
        ("link_preview_options", _O),
        ("disable_notification", _B),
        ("protect_content", _B),
        ("allow_paid_broadcast", _B),
        ("message_effect_id", _S),
        ("suggested_post_parameters", _O),
        ("reply_parameters", _O),
        ("reply_markup", _O),
    ),
    _m(
        "editMessageText",
        ("business_connection_id", _S),
        ("chat_id", _IS),
        ("message_id", _I),
        ("inline_message_id", _S),
        # Required unless a rich message is sent; the bot always sends text.
        ("text", _S, True),
        ("parse_mode", _S),
        ("entities", _A),
        ("link_preview_options", _O),
        ("reply_markup", _O),
    ),
    _m(
        "editMessageReplyMarkup",
        ("business_connection_id", _S),
        ("chat_id", _IS),
        ("message_id", _I),
        ("inline_message_id", _S),
        ("reply_markup", _O),
    ),
    _m("deleteMessage", ("chat_id", _IS, True), ("message_id", _I, True)),
    _m(
        "answerCallbackQuery",
        ("callback_query_id", _S, True),
        ("text", _S),
        ("show_alert", _B),
        ("url", _S),
        ("cache_time", _I),
    ),
    _m("setMyCommands", ("commands", _A, True), ("scope", _O), ("language_code", _S)),
    _m("getMyCommands", ("scope", _O), ("language_code", _S)),
    _m("deleteMyCommands", ("scope", _O), ("language_code", _S)),
    _m(
        "sendChatAction",
        ("business_connection_id", _S),
        ("chat_id", _IS, True),
        ("message_thread_id", _I),
        ("action", _S, True),
    ),
    _m("setChatMenuButton", ("chat_id", _I), ("menu_button", _O)),
    _m("getChat", ("chat_id", _IS, True)),
)

#: The methods the bot calls, by lower-case name (Telegram's method names are case-insensitive).
METHODS: dict[str, MethodSpec] = {spec.name.lower(): spec for spec in _TABLE}

_INT_RE = re.compile(r"-?\d+")
_FLOAT_RE = re.compile(r"-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


class _WrongType(ValueError):
    pass


def decode_value(value: object, type_: ParamType) -> Any:
    """``value`` as ``type_``; raise ValueError when it is not one."""
    return _DECODERS[type_](value)


def _decode_string(value: object) -> str:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value)
    raise _WrongType


def _decode_int_or_string(value: object) -> int | str:
    if isinstance(value, str) and not _INT_RE.fullmatch(value.strip()):
        return value
    return _decode_int(value)


def _decode_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false", "1", "0"}:
        return value.strip().lower() in {"true", "1"}
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise _WrongType


def _decode_float(value: object) -> float:
    if isinstance(value, bool):
        raise _WrongType
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and _FLOAT_RE.fullmatch(value.strip()):
        return float(value)
    raise _WrongType


def _decode_json(expected: type[dict[str, Any]] | type[list[Any]]) -> Callable[[object], Any]:
    """An object or array, given as JSON text (form fields) or already decoded (JSON body)."""

    def decode(value: object) -> Any:
        decoded = value
        if isinstance(value, str):
            try:
                decoded = json.loads(value)
            except ValueError as exc:
                raise _WrongType from exc
        if not isinstance(decoded, expected):
            raise _WrongType
        return decoded

    return decode


def _decode_int(value: object) -> int:
    if isinstance(value, bool):
        raise _WrongType
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        stripped = value.strip()
        if _INT_RE.fullmatch(stripped):
            return int(stripped)
        if _FLOAT_RE.fullmatch(stripped) and float(stripped).is_integer():
            return int(float(stripped))
    raise _WrongType


_DECODERS: dict[ParamType, Callable[[object], Any]] = {
    ParamType.STRING: _decode_string,
    ParamType.INTEGER: _decode_int,
    ParamType.INTEGER_OR_STRING: _decode_int_or_string,
    ParamType.BOOLEAN: _decode_bool,
    ParamType.FLOAT: _decode_float,
    ParamType.OBJECT: _decode_json(dict),
    ParamType.ARRAY: _decode_json(list),
}


def decode_params(spec: MethodSpec, raw: Mapping[str, object]) -> tuple[dict[str, Any], list[str]]:
    """Decode ``raw`` by ``spec``: (values, problems); each problem is one readable sentence."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    for name, value in raw.items():
        param = spec.param(name)
        if param is None:
            problems.append(f'{spec.name}: unknown parameter "{name}"')
            continue
        try:
            values[name] = decode_value(value, param.type)
        except ValueError:
            shown = value if len(repr(value)) <= 60 else repr(value)[:57] + "..."
            problems.append(
                f'{spec.name}: parameter "{name}" must be {param.type.value}, got {shown!r}'
            )
    for param in spec.params:
        if param.required and param.name not in raw:
            problems.append(f'{spec.name}: required parameter "{param.name}" is missing')
    return values, problems


class SpecChecker:
    """Checks a request against Telegram's machine-readable Bot API table (``api.json``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        data = json.loads(self.path.read_text(encoding="utf-8"))
        self._methods: dict[str, tuple[str, dict[str, bool]]] = {}
        for name, method in data["methods"].items():
            fields = {f["name"]: bool(f.get("required")) for f in method.get("fields") or []}
            self._methods[name.lower()] = (name, fields)

    def check(self, method: str, param_names: list[str]) -> list[str]:
        """Problems with calling ``method`` with ``param_names``, as readable sentences."""
        found = self._methods.get(method.lower())
        if found is None:
            return [f"{method}: not a Bot API method ({self.path.name})"]
        name, fields = found
        problems = [
            f'{name}: parameter "{p}" is not in the Bot API ({self.path.name})'
            for p in param_names
            if p not in fields
        ]
        problems += [
            f'{name}: parameter "{f}" is required by the Bot API ({self.path.name})'
            for f, required in fields.items()
            if required and f not in param_names
        ]
        return problems
