"""What a Telegram API error means, defined once for handlers and the delivery engine."""

from __future__ import annotations

import warnings
from datetime import timedelta

from telegram.error import RetryAfter
from telegram.warnings import PTBDeprecationWarning


def retry_after_seconds(exc: RetryAfter) -> float:
    """The wait a 429 names, in seconds (PTB 22 returns int or timedelta, by an env switch)."""
    with warnings.catch_warnings():  # PTB 22 warns that retry_after will become a timedelta
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value: float | timedelta = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def describe(exc: BaseException) -> str:
    """A log field for an error: its type and Telegram's description, no spaces, bounded."""
    return f"{type(exc).__name__}:{getattr(exc, 'message', '')!s}".replace(" ", "_")[:120]
