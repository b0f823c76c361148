"""Bot API methods on the bot and its chats: getMe, getChat, sendChatAction, setChatMenuButton."""

from __future__ import annotations

from bot.testing.emulator.error_answers import bad_request, blocked
from bot.testing.emulator.telegram_world import Handler, Params, TelegramWorld

__all__ = ["HANDLERS"]

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


def get_me(world: TelegramWorld, params: Params) -> object:
    return {
        **world.bot.json(),
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


def get_chat(world: TelegramWorld, params: Params) -> object:
    chat = world.require_chat(params["chat_id"])
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


def send_chat_action(world: TelegramWorld, params: Params) -> object:
    chat = world.require_chat(params["chat_id"])
    if params["action"] not in _CHAT_ACTIONS:
        raise bad_request("wrong parameter action in request")
    if chat.blocked:
        raise blocked()
    return True


def set_chat_menu_button(world: TelegramWorld, params: Params) -> object:
    button = params.get("menu_button") or {"type": "default"}
    if params.get("chat_id") is None:
        world.default_menu_button = button
    else:
        world.require_chat(params["chat_id"]).menu_button = button
    return True


HANDLERS: dict[str, Handler] = {
    "getMe": get_me,
    "getChat": get_chat,
    "sendChatAction": send_chat_action,
    "setChatMenuButton": set_chat_menu_button,
}
