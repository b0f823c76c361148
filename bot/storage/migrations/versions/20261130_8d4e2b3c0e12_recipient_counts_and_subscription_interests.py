"""recipient counts and subscription interests

Revision ID: 8d4e2b3c0e12
Revises: 9e5f3c4d1f23
Create Date: 2026-11-30 07:30:00.000000

For a million subscribers (issue 10, part 6):

- ``broadcasts.recipients_<state>``: how many recipients are in each state, kept by every
  statement that changes a state, so progress reads one row instead of grouping every
  recipient. Existing broadcasts get their counts from their rows here.
- ``subscription_interests(user_id, interest_id)`` replaces ``subscriptions.interests`` (a
  ",a,b," string matched with LIKE, which no index serves): one row per picked interest,
  indexed by interest, removed with the subscription. Existing values are copied.
- ``broadcast_recipients`` loses its foreign key to ``broadcasts``: checking it (a trigger
  call per row) took a third of the time to queue a million recipients, and recipients are
  only inserted with their broadcast, in one transaction (broadcasts are never deleted).

Self-contained: it needs nothing of any other revision after ``2ab340268a82``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "8d4e2b3c0e12"
down_revision: str | tuple[str, ...] | None = "9e5f3c4d1f23"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None

# The unnamed foreign key of SQLite gets this name while batch mode rebuilds the table.
RECIPIENTS_FK = "fk_broadcast_recipients_broadcast_id_broadcasts"
NAMING = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}

# The recipient states as this revision knows them (a revision never imports tables.py).
STATES = ("pending", "sending", "sent", "blocked", "failed", "skipped", "in_doubt")


def upgrade() -> None:
    op.create_table(
        "subscription_interests",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("interest_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["subscriptions.user_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "interest_id"),
    )
    with op.batch_alter_table("subscription_interests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_subscription_interests_interest_id", ["interest_id"], unique=False
        )
    _copy_interests()
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_column("interests")

    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        for state in STATES:
            batch_op.add_column(
                sa.Column(
                    f"recipients_{state}",
                    sa.Integer(),
                    server_default=sa.text("0"),
                    nullable=False,
                )
            )
    counts = ", ".join(
        f"recipients_{state} = (SELECT count(*) FROM broadcast_recipients r"  # noqa: S608
        f" WHERE r.broadcast_id = broadcasts.id AND r.state = '{state}')"
        for state in STATES
    )
    op.execute(f"UPDATE broadcasts SET {counts}")  # noqa: S608 (constants only)
    _drop_recipients_foreign_key()


def _drop_recipients_foreign_key() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for fk in sa.inspect(bind).get_foreign_keys("broadcast_recipients"):
            if fk["referred_table"] == "broadcasts" and fk["name"]:
                op.drop_constraint(fk["name"], "broadcast_recipients", type_="foreignkey")
        return
    with op.batch_alter_table("broadcast_recipients", naming_convention=NAMING) as batch_op:
        batch_op.drop_constraint(RECIPIENTS_FK, type_="foreignkey")


def _copy_interests() -> None:
    """ ",a,b," -> rows (a) and (b); "" -> none."""
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(
            "INSERT INTO subscription_interests (user_id, interest_id)"
            " SELECT DISTINCT s.user_id, part"
            " FROM subscriptions s, unnest(string_to_array(s.interests, ',')) AS part"
            " WHERE part <> ''"
        )
        return
    rows = bind.execute(
        sa.text("SELECT user_id, interests FROM subscriptions WHERE interests <> ''")
    ).all()
    picked = sorted(
        {
            (int(user_id), part)
            for user_id, stored in rows
            for part in str(stored).split(",")
            if part
        }
    )
    if picked:
        bind.execute(
            sa.text("INSERT INTO subscription_interests (user_id, interest_id) VALUES (:u, :i)"),
            [{"u": u, "i": i} for u, i in picked],
        )


def downgrade() -> None:
    # The counts go (they can be counted again); interests go back into the string column.
    with op.batch_alter_table("broadcast_recipients", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "broadcast_recipients_broadcast_id_fkey",
            "broadcasts",
            ["broadcast_id"],
            ["id"],
            ondelete="CASCADE",
        )
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        for state in reversed(STATES):
            batch_op.drop_column(f"recipients_{state}")
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "interests", sa.String(length=1000), server_default=sa.text("''"), nullable=False
            )
        )
    joined = (
        "string_agg(i.interest_id, ',' ORDER BY i.interest_id)"
        if op.get_bind().dialect.name == "postgresql"
        else "group_concat(i.interest_id, ',')"
    )
    op.execute(
        "UPDATE subscriptions SET interests = ',' || ("  # noqa: S608
        f"SELECT {joined} FROM subscription_interests i"
        " WHERE i.user_id = subscriptions.user_id) || ','"
        " WHERE EXISTS (SELECT 1 FROM subscription_interests i"
        " WHERE i.user_id = subscriptions.user_id)"
    )
    with op.batch_alter_table("subscription_interests", schema=None) as batch_op:
        batch_op.drop_index("ix_subscription_interests_interest_id")
    op.drop_table("subscription_interests")
