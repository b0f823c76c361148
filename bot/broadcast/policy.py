"""What the answer to one broadcast send means: the engine's decisions, as pure functions.

:func:`decide` maps the result of one ``sendMessage`` (the message id, or the exception PTB
raised), the number of tries made before it, the retry settings and the time to a
:data:`Decision`:

=============================================  ===============================================
result                                          decision
=============================================  ===============================================
delivered                                       ``Final("sent")`` with the message id
403 :class:`~telegram.error.Forbidden`          ``Final("blocked")`` (the subscription ends)
400 :class:`~telegram.error.BadRequest`         ``Final("failed")`` with Telegram's description
429 :class:`~telegram.error.RetryAfter`         :class:`Pause`: bulk sends wait ``retry_after``;
                                                the recipient is due again then, and the try
                                                does not count
``ReadTimedOut`` (sent, no answer in time)      ``Final("in_doubt")``: Telegram may have
                                                delivered it, so it is never sent again
5xx, other :class:`~telegram.error.TimedOut`    :class:`Retry` after 1, 2, 4 … s (``backoff``
(no connection in time: it never left), other   doubling), ``Final("failed")`` once
:class:`~telegram.error.NetworkError`, anything ``max_attempts`` tries were made
not a ``TelegramError``
401/404 :class:`~telegram.error.InvalidToken`   :class:`StopEngine`: no send can succeed; the
                                                recipient is due again, the try does not count
any other ``TelegramError`` (409, migrated…)    ``Final("failed")``
=============================================  ===============================================

No I/O and no clock here: the engine sends, asks :func:`decide`, and acts on the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from bot.storage.broadcasts import REASON_MAX_LENGTH
from bot.telegram_side.api_errors import ReadTimedOut, retry_after_seconds

#: The reason stored with an ``in_doubt`` recipient whose answer timed out.
NO_ANSWER = "No answer in time: may have been delivered"


class RetrySettings(Protocol):
    """What :func:`decide` reads from the engine's configuration."""

    @property
    def max_attempts(self) -> int:
        """Tries per recipient, the first one included."""

    @property
    def backoff(self) -> float:
        """Seconds before the first retry; doubles for each later one."""


@dataclass(frozen=True)
class Delivered:
    """Telegram accepted the message."""

    message_id: int


@dataclass(frozen=True)
class Final:
    """The recipient is done: ``sent``, ``blocked``, ``failed`` or ``in_doubt``."""

    state: Literal["sent", "blocked", "failed", "in_doubt"]
    attempts: int
    message_id: int | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Retry:
    """Back to ``pending``, due again at ``retry_at``; this try counted."""

    attempts: int
    retry_at: datetime
    reason: str


@dataclass(frozen=True)
class Pause:
    """429: no bulk send for ``seconds``; the recipient is due again then, the try not counted."""

    seconds: float
    attempts: int
    retry_at: datetime


@dataclass(frozen=True)
class StopEngine:
    """The token is refused: stop delivering; the recipient stays due, the try not counted."""

    attempts: int
    reason: str


Decision = Final | Retry | Pause | StopEngine


def decide(
    result: Delivered | Exception, *, attempts: int, config: RetrySettings, now: datetime
) -> Decision:
    """The decision for one try; ``attempts`` is the number of tries made before this one."""
    tried = attempts + 1
    if isinstance(result, Delivered):
        return Final("sent", tried, message_id=result.message_id)
    reason = failure_reason(result)
    # Order matters: BadRequest and TimedOut are NetworkErrors in PTB.
    if isinstance(result, ReadTimedOut):
        return Final("in_doubt", tried, reason=NO_ANSWER)
    if isinstance(result, RetryAfter):
        seconds = retry_after_seconds(result)
        return Pause(seconds, attempts, now + timedelta(seconds=seconds))
    if isinstance(result, Forbidden):
        return Final("blocked", tried, reason=reason)
    if isinstance(result, InvalidToken):
        return StopEngine(attempts, reason)
    if isinstance(result, BadRequest):
        return Final("failed", tried, reason=reason)
    retriable = isinstance(result, NetworkError) or not isinstance(result, TelegramError)
    if retriable and tried < config.max_attempts:
        delay = backoff_delay(tried, config)
        return Retry(tried, now + timedelta(seconds=delay), reason)
    return Final("failed", tried, reason=reason)


def backoff_delay(tried: int, config: RetrySettings) -> float:
    """Seconds between the ``tried``-th failed try and the next: backoff × 2^(tried-1)."""
    return max(config.backoff * 2.0 ** (tried - 1), 0.0)


def retry_schedule(config: RetrySettings) -> list[float]:
    """Every wait a recipient can go through: ``[1, 2, 4]`` for 4 tries and a 1 s backoff."""
    return [backoff_delay(tried, config) for tried in range(1, config.max_attempts)]


def failure_reason(exc: BaseException) -> str:
    """Telegram's description of the error, else the exception's type; at most 200 characters."""
    message = exc.message if isinstance(exc, TelegramError) else ""
    return (message or type(exc).__name__)[:REASON_MAX_LENGTH]
