"""The Bot API's error answers: an exception carrying one, and the descriptions Telegram uses.

A method implementation raises :class:`APIError`; the HTTP endpoint turns it into Telegram's
``{"ok": false, "error_code": ..., "description": ...}`` body. The descriptions are Telegram's
own, word for word, because python-telegram-bot maps them to its exceptions by their text.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BAD_GATEWAY",
    "BLOCKED",
    "CHAT_NOT_FOUND",
    "CONFLICT",
    "GATEWAY_TIMEOUT",
    "INTERNAL_SERVER_ERROR",
    "NOT_FOUND",
    "NOT_MODIFIED",
    "QUERY_TOO_OLD",
    "UNAUTHORIZED",
    "APIError",
    "bad_request",
    "blocked",
    "too_many_requests",
]

BAD_REQUEST_PREFIX = "Bad Request: "

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
CHAT_NOT_FOUND = "Bad Request: chat not found"
BLOCKED = "Forbidden: bot was blocked by the user"
CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
UNAUTHORIZED = "Unauthorized"
NOT_FOUND = "Not Found"
INTERNAL_SERVER_ERROR = "Internal Server Error"
BAD_GATEWAY = "Bad Gateway"
GATEWAY_TIMEOUT = "Gateway Timeout"


class APIError(Exception):
    """A Bot API error answer: HTTP status, description and optional response parameters."""

    def __init__(
        self, status: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


def bad_request(description: str) -> APIError:
    """A 400 answer; ``description`` is what follows Telegram's "Bad Request: "."""
    return APIError(400, BAD_REQUEST_PREFIX + description.removeprefix(BAD_REQUEST_PREFIX))


def blocked() -> APIError:
    """The 403 answer to anything sent to a user who blocked the bot."""
    return APIError(403, BLOCKED)


def too_many_requests(retry_after: int) -> APIError:
    """The 429 flood-control answer, with ``retry_after`` in the response parameters."""
    return APIError(
        429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
    )
