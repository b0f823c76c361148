"""Storage: one interface, SQLite (embedded default) and PostgreSQL behind it.

Usage::

    storage = await open_storage(settings.database_url)   # connects, applies migrations
    record = await storage.touch_user(update.effective_user.id)
    ...
    await storage.close()

See ``store.py`` for the interface, ``migrations/`` for how the schema evolves and
``url.py`` for the accepted ``DATABASE_URL`` forms.
"""

from bot.storage.broadcasts import BroadcastSummary, Outcome, Recipient, SkipReason
from bot.storage.connection import DEFAULT_STATEMENT_TIMEOUT, DatabaseTimeouts
from bot.storage.deliveries import BROADCAST_LEASE, Claim
from bot.storage.drafts import DRAFT_TTL, Draft
from bot.storage.erasure import ERASED, DeliveryCounts, Erased
from bot.storage.errors import (
    DATABASE_ERRORS,
    StorageConfigError,
    StorageError,
    StorageSchemaError,
    StorageUnavailableError,
)
from bot.storage.leases import LeaseRow
from bot.storage.migrations import head_revision
from bot.storage.store import DEFAULT_CONNECT_TIMEOUT, Storage, UserRecord, open_storage
from bot.storage.subscriptions import Subscription
from bot.storage.url import DEFAULT_DATABASE_URL, DatabaseTarget, parse_database_url
from bot.storage.votes import TopicVote, VoteChange, VoteOutcome

__all__ = [
    "BROADCAST_LEASE",
    "DATABASE_ERRORS",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_DATABASE_URL",
    "DEFAULT_STATEMENT_TIMEOUT",
    "DRAFT_TTL",
    "ERASED",
    "BroadcastSummary",
    "Claim",
    "DatabaseTarget",
    "DatabaseTimeouts",
    "DeliveryCounts",
    "Draft",
    "Erased",
    "LeaseRow",
    "Outcome",
    "Recipient",
    "SkipReason",
    "Storage",
    "StorageConfigError",
    "StorageError",
    "StorageSchemaError",
    "StorageUnavailableError",
    "Subscription",
    "TopicVote",
    "UserRecord",
    "VoteChange",
    "VoteOutcome",
    "head_revision",
    "open_storage",
    "parse_database_url",
]
