"""What Telegram keeps about a bot's webhook, and a success answer that carries a description.

Plain data, shared by the method implementations (``update_methods``), the state behind the
API (``telegram_world``) and the sender that posts updates (``webhook_delivery``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Described", "WebhookState"]


@dataclass(frozen=True)
class Described:
    """A successful result with Telegram's ``description`` beside it, as setWebhook and
    deleteWebhook answer (``{"ok": true, "result": true, "description": "Webhook was set"}``)."""

    result: object
    description: str


@dataclass
class WebhookState:
    """The webhook set with ``setWebhook``; the sender notes its last failure here."""

    url: str
    secret_token: str | None
    max_connections: int
    last_error_date: int | None = None
    last_error_message: str | None = None

    def same_as(self, other: WebhookState) -> bool:
        return (self.url, self.secret_token, self.max_connections) == (
            other.url,
            other.secret_token,
            other.max_connections,
        )

    def info(self, pending: int, allowed: frozenset[str] | None) -> dict[str, Any]:
        """``getWebhookInfo``'s result (Telegram leaves out the optional fields it lacks)."""
        info: dict[str, Any] = {
            "url": self.url,
            "has_custom_certificate": False,
            "pending_update_count": pending,
            "max_connections": self.max_connections,
        }
        if allowed is not None:
            info["allowed_updates"] = sorted(allowed)
        if self.last_error_date is not None:
            info["last_error_date"] = self.last_error_date
            info["last_error_message"] = self.last_error_message
        return info
