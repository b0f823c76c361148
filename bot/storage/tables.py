"""Column types and the current table definitions: the one description of the schema.

Queries use these tables, and the migrations compare against them: to change the schema, edit
a table here and write the Alembic revision from the difference (see ``bot.storage.migrations``
for the command). A revision never imports this module, so what it creates stays fixed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from bot.core.times import as_utc, utc

#: A broadcast recipient's states, in their order (see ``broadcasts.py``).
RECIPIENT_STATES = ("pending", "sending", "sent", "blocked", "failed", "skipped", "in_doubt")

#: Longest locale tag the bot stores (``zh_Hans`` is 7; BCP 47 tags rarely exceed 35).
LOCALE_MAX_LENGTH = 35


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    PostgreSQL stores ``timestamptz``. SQLite has no time zones: the value is converted to UTC
    and stored without offset, and UTC is attached again when read, so callers always get an
    aware datetime. Naive datetimes are refused rather than guessed.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = utc(value)  # refuses a naive datetime rather than guessing its zone
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return as_utc(value)


#: Every table of the schema: what queries use and what the migrations must produce.
metadata = MetaData()

# Users. Deliberately minimal: no names, no message text (see DESIGN.md).
users = Table(
    "users",
    metadata,
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("locale", String(LOCALE_MAX_LENGTH), nullable=True),
    Column("first_seen", UTCDateTime(), nullable=False),
    Column("last_seen", UTCDateTime(), nullable=False),
)

# One row per user who ever subscribed: consent time, and how it ended.
subscriptions = Table(
    "subscriptions",
    metadata,
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("locale", String(LOCALE_MAX_LENGTH), nullable=False),
    Column("subscribed_at", UTCDateTime(), nullable=False),
    Column("unsubscribed_at", UTCDateTime(), nullable=True),
    Column("blocked_at", UTCDateTime(), nullable=True),
)

# The interests a subscriber picked, one row each (none: all the news). A broadcast's interest
# filter finds the subscribers of an interest through ``ix_subscription_interests_interest_id``
# (and a subscriber's own through the primary key); erasing the subscription removes them.
subscription_interests = Table(
    "subscription_interests",
    metadata,
    Column(
        "user_id",
        BigInteger,
        ForeignKey("subscriptions.user_id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("interest_id", String(32), primary_key=True),
)
Index("ix_subscription_interests_interest_id", subscription_interests.c.interest_id)

# A broadcast and its planned recipients (a snapshot taken when it is queued).
broadcasts = Table(
    "broadcasts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("status", String(16), nullable=False),  # scheduled, sending, done, cancelled
    Column("texts", Text, nullable=False),  # JSON {locale: Telegram HTML}
    Column("audience_locales", Text, nullable=True),  # JSON list; NULL: every locale
    Column("audience_interests", Text, nullable=True),  # JSON list; NULL: any interest
    Column("paid", Boolean, nullable=False),
    Column("created_by", BigInteger, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("send_at", UTCDateTime(), nullable=False),
    Column("started_at", UTCDateTime(), nullable=True),
    Column("finished_at", UTCDateTime(), nullable=True),
    Column("progress_chat_id", BigInteger, nullable=True),
    Column("progress_message_id", BigInteger, nullable=True),
    Column("total", Integer, nullable=False),
    # Recipients found "sending" after a crash and sent again (possible duplicates); shown as
    # BroadcastSummary.resent_after_crash (the name predates the in_doubt recipient state).
    Column("in_doubt", Integer, nullable=False),
    # How many recipients are in each state, kept in the same transaction as every change of a
    # recipient's state (``recipient_counts.py``), so progress never counts the recipients.
    *(
        Column(f"recipients_{state}", Integer, nullable=False, server_default=text("0"))
        for state in RECIPIENT_STATES
    ),
)

# No foreign key to ``broadcasts``: its check, one trigger call per row, took a third of the
# time to queue a million recipients; rows are only ever inserted for the broadcast inserted
# in the same transaction (``broadcasts._plan_recipients``), and broadcasts are never deleted.
broadcast_recipients = Table(
    "broadcast_recipients",
    metadata,
    Column("broadcast_id", Integer, primary_key=True, autoincrement=False),
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("locale", String(LOCALE_MAX_LENGTH), nullable=False),
    # pending, sending (the request may be in flight), sent, blocked, failed, skipped,
    # in_doubt (see storage/broadcasts.py)
    Column("state", String(8), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("retry_at", UTCDateTime(), nullable=True),
    Column("message_id", BigInteger, nullable=True),
    Column("reason", String(200), nullable=True),
    Column("updated_at", UTCDateTime(), nullable=True),
    # The epoch of the broadcast lease under which the row was claimed (``leases``): recovery
    # resets only rows ``sending`` under an older epoch (a holder that is gone), and results are
    # written only under the epoch that claimed them. NULL: claimed before the lease existed.
    Column("claim_epoch", Integer, nullable=True),
)
Index(
    "ix_broadcast_recipients_state",
    broadcast_recipients.c.broadcast_id,
    broadcast_recipients.c.state,
    broadcast_recipients.c.user_id,
)
# A user's rows across broadcasts: /mydata counts them, /forget and the retention job erase
# them (without it each of those would read every recipient row ever written).
Index("ix_broadcast_recipients_user_id", broadcast_recipients.c.user_id)

# An admin's broadcast in the making (the /broadcast wizard), kept here rather than in one
# process's memory so that any replica can take the admin's next step. One open draft per
# admin; Confirm and Cancel name the draft's id, so an older preview's buttons cannot act on a
# newer draft. A draft untouched for 30 minutes has expired (see ``drafts.py``).
broadcast_drafts = Table(
    "broadcast_drafts",
    metadata,
    Column("draft_id", String(12), primary_key=True, autoincrement=False),
    Column("admin_id", BigInteger, nullable=False, index=True),
    Column("locales", Text, nullable=False),  # JSON list, in the order the texts are asked
    Column("texts", Text, nullable=False),  # JSON {locale: Telegram HTML}
    Column("step", Integer, nullable=False),  # index into locales; len(locales): confirm
    Column("updated_at", UTCDateTime(), nullable=False),
)

# Group chats the bot has told, once, that it works in private chats only; it stays quiet
# there afterwards. Group ids only: no user is recorded.
quiet_chats = Table(
    "quiet_chats",
    metadata,
    Column("chat_id", BigInteger, primary_key=True, autoincrement=False),
    Column("noted_at", UTCDateTime(), nullable=False),
)

# "Was this helpful?" under a topic: each user's current answer per topic, changeable (one row
# per user and topic). /mydata shows them, erasure deletes them; the statistics never read
# these rows (they read ``daily_counts``).
topic_votes = Table(
    "topic_votes",
    metadata,
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("topic_id", String(32), primary_key=True),
    Column("helpful", Boolean, nullable=False),
    Column("voted_at", UTCDateTime(), nullable=False),
)

# Statistics without text (bot/core/daily_counts.py): how many times something happened on a
# day (UTC): a metric ("view", "deep_link", …) and its key (a topic, a source id), never who.
# The running bot adds to these rows in batches (upserts), every few seconds.
daily_counts = Table(
    "daily_counts",
    metadata,
    Column("day", Date, primary_key=True),
    Column("metric", String(32), primary_key=True),
    Column("key", String(80), primary_key=True),
    Column("count", BigInteger, nullable=False),
)

# Jobs only one process may do at a time (bot/broadcast/lease.py): ``broadcast`` (delivering
# broadcasts) and, on PostgreSQL, ``polling`` (getUpdates). The holder renews ``expires_at``
# every few seconds; another process takes an expired lease over and increments ``epoch``, which
# fences the old holder out of every write it would still make.
leases = Table(
    "leases",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("holder", String(128), nullable=False),  # host:pid:random, see lease.py
    Column("epoch", Integer, nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
)

# Every running process, with the rate of messages its interactive bot sent lately
# (bot/broadcast/replica_beat.py): the broadcast lease holder keeps bulk sends below Telegram's
# per-bot limit minus what the other replicas send. A row not seen for a while is gone.
replicas = Table(
    "replicas",
    metadata,
    Column("replica_id", String(128), primary_key=True),
    Column("interactive_rate", Float, nullable=False),  # messages per second, recent
    Column("seen_at", UTCDateTime(), nullable=False),
)
