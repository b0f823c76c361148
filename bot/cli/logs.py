"""Logging for every command: one ``key=value`` line per event, the token never shown."""

from __future__ import annotations

import logging
import re
from typing import TextIO

from bot.core.redaction import redact, register_secret

FORMAT = "%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"

# Libraries that write what we must not log, and the least level they may log at:
# httpx logs every request URL at INFO (the URL holds the token); python-telegram-bot logs each
# request's parameters and each update (chat and user ids, what patients typed) at DEBUG;
# aiosqlite logs statements at DEBUG; Alembic logs its plugins and context at INFO on every
# start (the storage logs each applied revision itself, event=storage_revision_applied).
QUIET_LOGGERS = {
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "telegram": logging.INFO,
    "aiosqlite": logging.INFO,
    "alembic": logging.WARNING,
}


# PostgreSQL names the values of a violated key in its error ("DETAIL: Key (user_id)=(42)
# already exists."), which a logged traceback would carry; the engine hides statement
# parameters itself (storage/connection.py: hide_parameters).
_KEY_DETAIL = re.compile(r"Key \(([^)]*)\)=\([^)]*\)")


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then cuts the token from the whole line: the message, the arguments,
    and the traceback of ``exc_info`` (an exception message may quote a request URL); and the
    values PostgreSQL quotes from a violated key."""

    def format(self, record: logging.LogRecord) -> str:
        return _KEY_DETAIL.sub(r"Key (\1)=(…)", redact(super().format(record)))


def setup_logging(level: str, token: str | None, stream: TextIO | None = None) -> None:
    """Every record goes through one handler whose formatter redacts the token."""
    register_secret(token)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter(FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    threshold = logging.getLevelName(level)
    for name, least in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(max(least, threshold))
