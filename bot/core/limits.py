"""Telegram's limits that the bot designs for, defined once.

The core may not import python-telegram-bot (``check`` and ``i18n`` run without it), so the
values are written here and ``tests/test_layers.py`` pins each one to the constant PTB
publishes in ``telegram.constants``: a PTB release that changes a limit fails that test.
"""

from __future__ import annotations

#: Longest message text, counted after entity parsing (``MessageLimit.MAX_TEXT_LENGTH``).
MAX_MESSAGE_LENGTH = 4096
#: ``callback_data`` of an inline button, in UTF-8 bytes
#: (``InlineKeyboardButtonLimit.MAX_CALLBACK_DATA``).
MAX_CALLBACK_DATA_BYTES = 64
#: Buttons in one inline keyboard (``InlineKeyboardMarkupLimit.TOTAL_BUTTON_NUMBER``).
MAX_INLINE_BUTTONS = 100
#: A deep-link ``start`` payload (``MessageLimit.DEEP_LINK_LENGTH``), of ``A-Za-z0-9_-``.
MAX_DEEP_LINK_LENGTH = 64
#: Seconds within which a callback query must be answered (Telegram gives about 15).
CALLBACK_ANSWER_WINDOW = 15.0
#: Messages a second a bot may send across all chats, and to one private chat.
BULK_MESSAGES_PER_SECOND = 30.0
PER_CHAT_MESSAGES_PER_SECOND = 1.0
#: With ``allow_paid_broadcast``: messages a second across all chats.
PAID_BROADCAST_MESSAGES_PER_SECOND = 1000.0

#: Bot API methods that create a message, and so count against the bot's messages a second
#: and the chat's one a second (the broadcast engine's pacer and the replies' pacing).
MESSAGE_METHODS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendVideo",
        "sendAudio",
        "sendVoice",
        "sendAnimation",
        "sendSticker",
        "sendMediaGroup",
        "sendLocation",
        "sendContact",
        "copyMessage",
        "forwardMessage",
    }
)
