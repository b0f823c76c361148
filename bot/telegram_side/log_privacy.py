"""Keep what patients type out of the logs, whoever logs it.

python-telegram-bot logs every update it processes ("Processing update …") and every Bot API
answer (``getUpdates`` returns the messages patients typed) at DEBUG. With ``LOG_LEVEL=DEBUG``
that would write patients' words into the log. So PTB's DEBUG records are dropped where they
are made, by a filter on each ``telegram…`` logger, whatever level the root logger has; its
INFO and higher records (start, stop, errors) still pass. Our own log lines never carry text.
"""

from __future__ import annotations

import logging


class _DropDebug(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


_DROP_DEBUG = _DropDebug()


def keep_patient_text_out_of_logs() -> None:
    """Filter every ``telegram`` logger that exists (call it after PTB built the app)."""
    for name in list(logging.root.manager.loggerDict):
        if name == "telegram" or name.startswith("telegram."):
            logger = logging.getLogger(name)
            if _DROP_DEBUG not in logger.filters:
                logger.addFilter(_DROP_DEBUG)
