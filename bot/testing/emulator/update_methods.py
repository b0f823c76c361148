"""Bot API methods on updates: getUpdates (long polling) and the webhook's three methods.

As Telegram does:

- ``setWebhook`` checks the URL (HTTPS, port 443, 80, 88 or 8443) and the secret token
  (1-256 of ``A-Za-z0-9_-``), answers "Webhook was set", or "Webhook is already set" for the same
  settings, and 429 (``retry_after`` 1) to a call less than a second after the last one;
  ``url=""`` removes the webhook;
- ``getWebhookInfo`` tells the URL, pending updates, ``max_connections``, ``allowed_updates``
  and the last delivery error, never the secret token;
- ``deleteWebhook`` answers "Webhook was deleted" or "Webhook is already deleted";
- ``getUpdates`` answers 409 while a webhook is set.

``allowed_updates`` is one setting shared by getUpdates and setWebhook (kept by the update
queue); ``drop_pending_updates`` empties the queue. Posting the updates to the webhook is
``webhook_delivery``'s job.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from bot.testing.emulator.error_answers import APIError, bad_request, too_many_requests
from bot.testing.emulator.telegram_world import Handler, Params, TelegramWorld
from bot.testing.emulator.webhook_state import Described, WebhookState

__all__ = ["HANDLERS", "WEBHOOK_CONFLICT", "get_updates"]

WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
_WEBHOOK_PORTS = (443, 80, 88, 8443)
_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
#: setWebhook more often than this draws a 429.
SET_WEBHOOK_INTERVAL = 1.0


async def get_updates(
    world: TelegramWorld, params: Params, client_gone: Callable[[], bool]
) -> object:
    """Long polling; ``client_gone()`` tells whether the HTTP client stopped listening."""
    if world.webhook is not None:
        raise APIError(409, WEBHOOK_CONFLICT)
    return await world.updates.poll(
        offset=params.get("offset"),
        limit=min(max(int(params.get("limit") or 100), 1), 100),
        wait_seconds=max(int(params.get("timeout") or 0), 0),
        allowed=params.get("allowed_updates"),
        client_gone=client_gone,
    )


def set_webhook(world: TelegramWorld, params: Params) -> object:
    url = str(params["url"])
    if not url:
        return delete_webhook(world, params)
    _check_url(url)
    secret = params.get("secret_token")
    if secret is not None and not _SECRET_RE.fullmatch(str(secret)):
        raise bad_request("secret token contains unallowed characters")
    now = time.perf_counter()
    if now - world.webhook_set_at < SET_WEBHOOK_INTERVAL:
        raise too_many_requests(1)
    world.webhook_set_at = now
    hook = WebhookState(
        url=url,
        secret_token=None if secret is None else str(secret),
        max_connections=min(max(int(params.get("max_connections") or 40), 1), 100),
    )
    allowed = params.get("allowed_updates")
    unchanged = (
        world.webhook is not None
        and world.webhook.same_as(hook)
        and (allowed is None or _as_allowed(allowed) == world.updates.allowed)
        and not params.get("drop_pending_updates")
    )
    if allowed is not None:
        world.updates.set_allowed(allowed)
    if params.get("drop_pending_updates"):
        world.updates.clear()
    if unchanged:
        return Described(True, "Webhook is already set")
    world.webhook = hook
    world.updates.wake()  # the sender posts to the new webhook
    return Described(True, "Webhook was set")


def _as_allowed(allowed: list[object]) -> frozenset[str] | None:
    return frozenset(str(a) for a in allowed) if allowed else None


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
    try:
        port = parts.port or 443
    except ValueError:
        port = 0
    if port not in _WEBHOOK_PORTS:
        raise bad_request("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")


def get_webhook_info(world: TelegramWorld, params: Params) -> object:
    pending = len(world.updates)
    if world.webhook is None:
        return {"url": "", "has_custom_certificate": False, "pending_update_count": pending}
    return world.webhook.info(pending, world.updates.allowed)


def delete_webhook(world: TelegramWorld, params: Params) -> object:
    if params.get("drop_pending_updates"):
        world.updates.clear()
    if world.webhook is None:
        return Described(True, "Webhook is already deleted")
    world.webhook = None
    return Described(True, "Webhook was deleted")


#: getUpdates is not here: it waits, so it is called on its own (see method_dispatch).
HANDLERS: dict[str, Handler] = {
    "setWebhook": set_webhook,
    "getWebhookInfo": get_webhook_info,
    "deleteWebhook": delete_webhook,
}
