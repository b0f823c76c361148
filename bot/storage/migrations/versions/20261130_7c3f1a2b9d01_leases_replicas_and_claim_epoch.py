"""leases replicas and claim epoch

Revision ID: 7c3f1a2b9d01
Revises: 2ab340268a82
Create Date: 2026-11-30 07:12:45.504629

Several replicas on one database (issue 10, part 3); autogenerate output, reviewed:

- ``leases``: which process delivers broadcasts (and, on PostgreSQL, polls), until when, and
  the epoch that fences out an old holder;
- ``replicas``: each running process and its recent interactive send rate, which the
  broadcast holder subtracts from Telegram's per-bot limit;
- ``broadcast_recipients.claim_epoch``: the lease epoch a row was claimed under (NULL for rows
  written before: recovery treats them as a gone holder's, as it always did).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "7c3f1a2b9d01"
down_revision: str | tuple[str, ...] | None = "2ab340268a82"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "replicas",
        sa.Column("replica_id", sa.String(length=128), nullable=False),
        sa.Column("interactive_rate", sa.Float(), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("replica_id"),
    )
    with op.batch_alter_table("broadcast_recipients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claim_epoch", sa.Integer(), nullable=True))


def downgrade() -> None:
    # Only the coordination state is lost; recipients keep their states.
    # ALTER … DROP COLUMN on both backends (SQLite 3.35+): batch mode would copy the table.
    op.execute("ALTER TABLE broadcast_recipients DROP COLUMN claim_epoch")

    op.drop_table("replicas")
    op.drop_table("leases")
