"""The bot token never leaves the process as text: logs, stored reasons and admin messages.

Whoever learns the token controls the bot, and it travels inside every Bot API URL
(``…/bot<token>/sendMessage``), so any error text that quotes a URL carries it. Every place
that turns an error into lasting text passes it through :func:`redact`: the log formatter
(``cli/logs.py``, tracebacks included), the storage of failure reasons
(``Storage.record_outcomes``) and the progress and report texts sent to admins
(``broadcast/progress.py``).

The tokens in use are registered once (:func:`register_secret`: the command line registers
``BOT_TOKEN``, ``build_application`` the token it is given); anything shaped like a token from
@BotFather is cut too, registered or not.
"""

from __future__ import annotations

import re
from urllib.parse import quote

REDACTED = "<token>"
# A token from @BotFather: the bot's id, a colon, 35 characters (at least 30 to be safe).
_TOKEN_SHAPE = re.compile(r"\d{5,20}:[A-Za-z0-9_-]{30,}")
_secrets: set[str] = set()
# The registered secrets, in any letter case: python-telegram-bot capitalizes an error message
# it strips "Bad Request: " from, which lowercases a token quoted in it.
_registered: re.Pattern[str] | None = None


def register_secret(value: str | None) -> None:
    """Cut ``value`` (and its URL-encoded form) from every text :func:`redact` sees."""
    global _registered  # noqa: PLW0603 - one registry per process, filled at start
    if not value or len(value) < 6:  # a value this short would cut ordinary words
        return
    _secrets.update((value, quote(value, safe="")))
    longest_first = sorted(_secrets, key=len, reverse=True)
    _registered = re.compile("|".join(map(re.escape, longest_first)), re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` without any registered secret or token-shaped string."""
    if _registered is not None:
        text = _registered.sub(REDACTED, text)
    return _TOKEN_SHAPE.sub(REDACTED, text)
