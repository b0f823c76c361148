"""Logging for every command: one ``key=value`` line per event, the token never shown."""

from __future__ import annotations

import logging


class RedactToken(logging.Filter):
    """Belt and braces: no log record may carry the bot token, whoever logs it."""

    def __init__(self, token: str | None) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        if self.token:
            message = record.getMessage()
            if self.token in message:
                record.msg = message.replace(self.token, "<token>")
                record.args = None
        return True


def setup_logging(level: str, token: str | None) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(
        logging.Formatter("%(asctime)s level=%(levelname)s logger=%(name)s %(message)s")
    )
    handler.addFilter(RedactToken(token))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request URL at INFO, and the URL contains the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    # Alembic logs its plugins and context at INFO on every start; the storage logs each
    # applied revision itself (event=storage_revision_applied).
    logging.getLogger("alembic").setLevel(logging.WARNING)
