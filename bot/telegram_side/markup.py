"""The core's keyboards as PTB objects: the one place a ``Keyboard`` becomes a markup."""

from __future__ import annotations

import functools

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.core.render import Keyboard


@functools.lru_cache(maxsize=1024)
def to_markup(keyboard: Keyboard) -> InlineKeyboardMarkup:
    """Cached: a menu has a few dozen distinct keyboards, and PTB objects are immutable."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b.label, callback_data=b.data) for b in row] for row in keyboard]
    )
