"""What a Telegram API error means, defined once for handlers and the delivery engine."""

from __future__ import annotations

import warnings
from datetime import timedelta

from telegram.error import RetryAfter, TimedOut
from telegram.warnings import PTBDeprecationWarning


class ReadTimedOut(TimedOut):
    """The request was sent but its answer did not come in time: it may have been carried out.

    Raised by ``transport.AiohttpRequest`` instead of a plain :class:`~telegram.error.TimedOut`
    once the request has left (the read timeout, or the total one after connecting). A plain
    ``TimedOut`` from it means the request never left (no connection in time): safe to retry.
    The broadcast engine never resends after this one (the recipient ends ``in_doubt``).
    """

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or "Timed out waiting for the answer")


def retry_after_seconds(exc: RetryAfter) -> float:
    """The wait a 429 names, in seconds (PTB 22 returns int or timedelta, by an env switch)."""
    with warnings.catch_warnings():  # PTB 22 warns that retry_after will become a timedelta
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value: float | timedelta = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def describe(exc: BaseException) -> str:
    """A log field for an error: its type and Telegram's description, no spaces, bounded."""
    return f"{type(exc).__name__}:{getattr(exc, 'message', '')!s}".replace(" ", "_")[:120]
