"""The Telegram side: wiring, the per-update context, handlers, transport, hot reload.

Importing it opts this process into python-telegram-bot 23's durations now
(``PTB_TIMEDELTA``): PTB 22 otherwise raises a deprecation warning inside ``RetryAfter``'s own
constructor on every 429, and ``api_errors.retry_after_seconds`` reads both forms anyway.
"""

import os

os.environ.setdefault("PTB_TIMEDELTA", "true")
