"""Bot API methods on the command menu: setMyCommands, getMyCommands, deleteMyCommands.

Command lists are kept per scope and language, and checked as Telegram checks them (names of
1-32 lower-case letters, digits and underscores; descriptions of 1-256 characters).
"""

from __future__ import annotations

import re

from bot.testing.emulator.error_answers import bad_request
from bot.testing.emulator.telegram_world import CommandsKey, Handler, Params, TelegramWorld

__all__ = ["HANDLERS"]

_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
_LANGUAGE_RE = re.compile(r"[a-z]{2}")


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


def _commands_key(params: Params) -> CommandsKey:
    language_code = str(params.get("language_code") or "")
    if language_code and not _LANGUAGE_RE.fullmatch(language_code):
        raise bad_request("LANG_CODE_INVALID")
    return (*_scope_key(params.get("scope")), language_code)


def _check_command(command: object) -> dict[str, str]:
    if not isinstance(command, dict):
        raise bad_request("can't parse BotCommand: object expected")
    for required in ("command", "description"):
        if required not in command:
            raise bad_request(f"can't parse BotCommand: Can't find field \"{required}\"")
    name = str(command.get("command", "")).removeprefix("/")
    description = str(command.get("description", ""))
    if not _COMMAND_RE.fullmatch(name):
        raise bad_request("BOT_COMMAND_INVALID")
    if not 1 <= len(description.strip()) <= 256:
        raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
    return {"command": name, "description": description}


def set_my_commands(world: TelegramWorld, params: Params) -> object:
    key = _commands_key(params)
    commands = params["commands"]
    if len(commands) > 100:
        raise bad_request("too many commands")
    stored = [_check_command(command) for command in commands]
    if stored:
        world.commands[key] = stored
    else:
        world.commands.pop(key, None)
    return True


def get_my_commands(world: TelegramWorld, params: Params) -> object:
    return list(world.commands.get(_commands_key(params), []))


def delete_my_commands(world: TelegramWorld, params: Params) -> object:
    world.commands.pop(_commands_key(params), None)
    return True


HANDLERS: dict[str, Handler] = {
    "setMyCommands": set_my_commands,
    "getMyCommands": get_my_commands,
    "deleteMyCommands": delete_my_commands,
}
