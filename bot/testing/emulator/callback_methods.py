"""The Bot API method on callback queries: answerCallbackQuery.

A query can be answered once, within ``callback_query_timeout`` seconds of the press; a second
or late answer gets Telegram's "query is too old". The answer is kept on the :class:`Press`.
"""

from __future__ import annotations

import time

from bot.testing.emulator.error_answers import QUERY_TOO_OLD, APIError
from bot.testing.emulator.telegram_world import Handler, Params, TelegramWorld

__all__ = ["HANDLERS"]


def answer_callback_query(world: TelegramWorld, params: Params) -> object:
    press = world.queries.get(params["callback_query_id"])
    now = time.perf_counter()
    if press is None or press.answered or now - press.queued_at > world.callback_query_timeout:
        if press is not None:
            press.answers += 1
        raise APIError(400, QUERY_TOO_OLD)
    press.answers += 1
    press.answered_at = now
    press.answer_text = params.get("text")
    press.show_alert = bool(params.get("show_alert", False))
    press.url = params.get("url")
    return True


HANDLERS: dict[str, Handler] = {"answerCallbackQuery": answer_callback_query}
