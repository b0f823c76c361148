"""``setWebhook`` at start, so that several replicas starting together all succeed.

Telegram answers the same settings again with "Webhook is already set" (python-telegram-bot
returns True: success) and more than about one ``setWebhook`` a second with 429. So each
replica calls ``setWebhook``; on a 429 it waits the ``retry_after`` and looks at
``getWebhookInfo``: when another replica has set the same URL, allowed updates and
``max_connections`` meanwhile, it is done, else it tries again.

Why ``setWebhook`` first and not ``getWebhookInfo``: ``getWebhookInfo`` does not show the secret
token. A replica that skipped ``setWebhook`` because the URL matched would leave an old secret
in place after ``WEBHOOK_SECRET`` was changed, and then refuse every update with 403. One
``setWebhook`` per start costs nothing; only replicas that collide (the 429) trust the info,
as they are the same deployment starting at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from telegram import Bot, WebhookInfo
from telegram.error import BadRequest, NetworkError, RetryAfter

from bot.config import ConfigError, WebhookSettings
from bot.telegram_side.api_errors import retry_after_seconds

__all__ = ["GIVE_UP_AFTER", "register_webhook", "same_settings"]

log = logging.getLogger(__name__)

#: Seconds of network failures (Telegram unreachable) after which the start fails.
GIVE_UP_AFTER = 60.0
_MAX_BACKOFF = 8.0

Sleep = Callable[[float], Awaitable[None]]


def same_settings(info: WebhookInfo, hook: WebhookSettings, allowed: Sequence[str]) -> bool:
    """Whether Telegram's webhook is ``hook`` in everything ``getWebhookInfo`` shows."""
    return (
        info.url == hook.url
        and set(info.allowed_updates or ()) == set(allowed)
        and info.max_connections == hook.max_connections
        and not info.has_custom_certificate
    )


async def register_webhook(
    bot: Bot,
    hook: WebhookSettings,
    allowed: Sequence[str],
    *,
    sleep: Sleep = asyncio.sleep,
    give_up_after: float = GIVE_UP_AFTER,
) -> str:
    """Make Telegram post to ``hook``; returns "set" or "set by another replica".

    Raises :class:`ConfigError` (``WEBHOOK_URL``, one line) when Telegram refuses the URL (a
    host it cannot resolve, a certificate it does not trust) or cannot be reached for
    ``give_up_after`` seconds.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + give_up_after
    backoff = 1.0
    while True:
        try:
            await bot.set_webhook(
                url=hook.url,
                secret_token=hook.secret,
                allowed_updates=list(allowed),
                max_connections=hook.max_connections,
            )
            log.info("event=webhook_set max_connections=%d", hook.max_connections)
            return "set"
        except RetryAfter as exc:
            wait = retry_after_seconds(exc)
            log.info("event=webhook_set_retry reason=429 retry_after=%g", wait)
            await sleep(wait)
        except BadRequest as exc:  # before NetworkError: PTB's BadRequest is one
            raise ConfigError("WEBHOOK_URL", f"Telegram refused it: {exc.message}") from None
        except NetworkError as exc:
            if loop.time() + backoff > deadline:
                raise ConfigError(
                    "WEBHOOK_URL", f"could not set the webhook for {give_up_after:g} s: {exc}"
                ) from None
            log.warning("event=webhook_set_retry reason=%s", type(exc).__name__)
            await sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF)
            continue
        if await _set_meanwhile(bot, hook, allowed):
            log.info("event=webhook_already_set by=another_replica")
            return "set by another replica"


async def _set_meanwhile(bot: Bot, hook: WebhookSettings, allowed: Sequence[str]) -> bool:
    """After a 429: whether the webhook already is ours (set by a replica starting with us)."""
    try:
        info = await bot.get_webhook_info()
    except (NetworkError, RetryAfter):  # setWebhook again decides
        return False
    return same_settings(info, hook, allowed)
