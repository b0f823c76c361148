"""Bot API methods on messages: send, edit (text or keyboard) and delete.

sendMessage, editMessageText, editMessageReplyMarkup and deleteMessage. Text is parsed as
Telegram parses it (:mod:`bot.core.telegram_html`), inline keyboards are checked against
Telegram's limits, and an edit keeps the message's earlier version.
"""

from __future__ import annotations

import time
from typing import Any

from bot.core.limits import MAX_CALLBACK_DATA_BYTES, MAX_INLINE_BUTTONS
from bot.core.telegram_html import TelegramHTMLError, validate_message_text
from bot.testing.emulator.chat_model import Chat, ChatMessage, MessageVersion, unix_time
from bot.testing.emulator.error_answers import NOT_MODIFIED, bad_request, blocked
from bot.testing.emulator.telegram_world import Handler, Params, TelegramWorld

__all__ = ["HANDLERS"]

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


def _check_text(params: Params) -> tuple[str, tuple[dict[str, Any], ...]]:
    """The visible text and its entities, as Telegram makes them of ``text``/``parse_mode``."""
    parse_mode = params.get("parse_mode")
    try:
        parsed = validate_message_text(
            str(params.get("text") or ""), str(parse_mode) if parse_mode is not None else None
        )
    except TelegramHTMLError as exc:
        raise bad_request(exc.description) from exc
    entities = tuple(parsed.entity_dicts())
    if parse_mode is None and params.get("entities"):
        entities = tuple(params["entities"])
    return parsed.text, entities


def _check_button(button: object) -> None:
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise bad_request(
            'can\'t parse inline keyboard button: Field "text" must be of type String'
        )
    if "callback_data" in button:
        data = button["callback_data"]
        size = len(str(data).encode("utf-8"))
        if not isinstance(data, str) or not 1 <= size <= MAX_CALLBACK_DATA_BYTES:
            raise bad_request("BUTTON_DATA_INVALID")
    elif not _BUTTON_ACTIONS & button.keys():
        raise bad_request(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )


def _check_inline_markup(markup: object) -> dict[str, Any] | None:
    """An inline keyboard to keep on the message; None for other (or no) markup."""
    if not isinstance(markup, dict) or "inline_keyboard" not in markup:
        return None
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request(
            'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays'
        )
    if sum(len(row) for row in rows) > MAX_INLINE_BUTTONS:
        raise bad_request("reply markup is too long")
    for row in rows:
        for button in row:
            _check_button(button)
    return markup


def send_message(world: TelegramWorld, params: Params) -> object:
    chat = world.require_chat(params["chat_id"])
    text, entities = _check_text(params)
    markup = _check_inline_markup(params.get("reply_markup"))
    if chat.blocked:
        raise blocked()
    message = chat.add(
        ChatMessage(
            chat.next_message_id(),
            True,
            text,
            unix_time(),
            html=str(params["text"]),
            parse_mode=params.get("parse_mode"),
            entities=entities,
            reply_markup=markup,
        )
    )
    chat.outputs += 1
    world.stats.messages_sent += 1
    return world.message_json(chat, message)


def _message_to_edit(world: TelegramWorld, params: Params) -> tuple[Chat, ChatMessage]:
    if params.get("inline_message_id") is not None:
        raise bad_request("inline messages are not supported by the emulator")
    if params.get("chat_id") is None or params.get("message_id") is None:
        raise bad_request("message identifier is not specified")
    chat = world.require_chat(params["chat_id"])
    message = chat.get(int(params["message_id"]))
    if message is None:
        raise bad_request("message to edit not found")
    if not message.from_bot:
        raise bad_request("message can't be edited")
    return chat, message


def _apply_edit(
    world: TelegramWorld,
    chat: Chat,
    message: ChatMessage,
    *,
    text: str,
    html: str,
    parse_mode: str | None,
    entities: tuple[dict[str, Any], ...],
    markup: dict[str, Any] | None,
) -> object:
    """Give ``message`` new content, keeping the old one in its history."""
    if (text, entities, markup) == (message.text, message.entities, message.reply_markup):
        raise bad_request(NOT_MODIFIED)
    if chat.blocked:
        raise blocked()
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
    message.edit_date = unix_time()
    chat.outputs += 1
    world.stats.edits += 1
    return world.message_json(chat, message)


def edit_message_text(world: TelegramWorld, params: Params) -> object:
    chat, message = _message_to_edit(world, params)
    text, entities = _check_text(params)
    return _apply_edit(
        world,
        chat,
        message,
        text=text,
        html=str(params.get("text")),
        parse_mode=params.get("parse_mode"),
        entities=entities,
        markup=_check_inline_markup(params.get("reply_markup")),
    )


def edit_message_reply_markup(world: TelegramWorld, params: Params) -> object:
    chat, message = _message_to_edit(world, params)
    return _apply_edit(
        world,
        chat,
        message,
        text=message.text,
        html=message.html,
        parse_mode=message.parse_mode,
        entities=message.entities,
        markup=_check_inline_markup(params.get("reply_markup")),
    )


def delete_message(world: TelegramWorld, params: Params) -> object:
    chat = world.require_chat(params["chat_id"])
    message = chat.get(params["message_id"])
    if message is None:
        raise bad_request("message to delete not found")
    message.deleted = True
    chat.outputs += 1
    return True


HANDLERS: dict[str, Handler] = {
    "sendMessage": send_message,
    "editMessageText": edit_message_text,
    "editMessageReplyMarkup": edit_message_reply_markup,
    "deleteMessage": delete_message,
}
