"""topic votes and daily counts

Revision ID: 2ab340268a82
Revises: 5a9c649b1cb7
Create Date: 2026-11-30 05:00:49.263504

Two new tables, nothing else changes (autogenerate output, reviewed):

- ``topic_votes``: each user's current answer to "Was this helpful?" per topic (changeable;
  shown by /mydata, erased with the user);
- ``daily_counts``: statistics without text, ``(day, metric, key) -> count``; no user id.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "2ab340268a82"
down_revision: str | tuple[str, ...] | None = "5a9c649b1cb7"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None


def upgrade() -> None:
    op.create_table(
        "daily_counts",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("metric", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "metric", "key"),
    )
    op.create_table(
        "topic_votes",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("topic_id", sa.String(length=32), nullable=False),
        sa.Column("helpful", sa.Boolean(), nullable=False),
        sa.Column("voted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "topic_id"),
    )


def downgrade() -> None:
    # The answers and the statistics are lost; nothing else is touched.
    op.drop_table("topic_votes")
    op.drop_table("daily_counts")
