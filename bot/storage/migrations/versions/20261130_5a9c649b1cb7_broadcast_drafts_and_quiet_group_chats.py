"""broadcast drafts and quiet group chats

Revision ID: 5a9c649b1cb7
Revises: a39e2e38ff6f
Create Date: 2026-11-30 04:10:26.438484

Two new tables, nothing else changes (autogenerate output, reviewed):

- ``broadcast_drafts``: the admin's /broadcast wizard keeps its draft in the database instead
  of one process's memory, and Confirm/Cancel name the draft's id;
- ``quiet_chats``: group chats already told that the bot works in private chats only;

and an index on ``broadcast_recipients.user_id``, for /mydata, /forget and the retention job.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "5a9c649b1cb7"
down_revision: str | tuple[str, ...] | None = "a39e2e38ff6f"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None


def upgrade() -> None:
    op.create_table(
        "broadcast_drafts",
        sa.Column("draft_id", sa.String(length=12), autoincrement=False, nullable=False),
        sa.Column("admin_id", sa.BigInteger(), nullable=False),
        sa.Column("locales", sa.Text(), nullable=False),
        sa.Column("texts", sa.Text(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("draft_id"),
    )
    with op.batch_alter_table("broadcast_drafts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_broadcast_drafts_admin_id"), ["admin_id"], unique=False
        )

    op.create_table(
        "quiet_chats",
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("noted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("chat_id"),
    )
    with op.batch_alter_table("broadcast_recipients", schema=None) as batch_op:
        batch_op.create_index("ix_broadcast_recipients_user_id", ["user_id"], unique=False)


def downgrade() -> None:
    # Open drafts and the list of told groups are lost; nothing else is touched.
    with op.batch_alter_table("broadcast_recipients", schema=None) as batch_op:
        batch_op.drop_index("ix_broadcast_recipients_user_id")
    op.drop_table("quiet_chats")
    with op.batch_alter_table("broadcast_drafts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_broadcast_drafts_admin_id"))

    op.drop_table("broadcast_drafts")
