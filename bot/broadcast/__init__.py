"""Broadcasts to subscribers: drafts and validation, queueing, the delivery engine, reports.

- ``draft.py``: :class:`BroadcastDraft`, :func:`validate_draft`, :func:`queue_broadcast`;
- ``file.py``: the YAML broadcast file of ``interventional-bot broadcast create``;
- ``engine.py``: :class:`BroadcastEngine`, run inside ``interventional-bot run``;
- ``policy.py``: what each answer to a send means (sent, blocked, failed, retry, pause, stop);
- ``clock.py``: the engine's time and waits; ``pacing.py``: the send pace;
- ``progress.py``: progress and report texts.
"""

from bot.broadcast.draft import (
    BroadcastDraft,
    choose_text,
    queue_broadcast,
    validate_draft,
)
from bot.broadcast.progress import format_progress
from bot.storage import BroadcastSummary

__all__ = [
    "BroadcastDraft",
    "BroadcastSummary",
    "choose_text",
    "format_progress",
    "queue_broadcast",
    "validate_draft",
]
