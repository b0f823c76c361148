"""notify replicas of user changes

Revision ID: 9e5f3c4d1f23
Revises: 7c3f1a2b9d01
Create Date: 2026-11-30 07:30:00

PostgreSQL only (SQLite serves one process; nothing changes there). Triggers send
``NOTIFY bot_users, '<schema>:<user_id>'`` whenever what a replica caches about a user may have
changed: the saved language (``users.locale``), the subscription (any change, interests
included), or erasure (a deleted row). A trigger notifies inside the writing transaction, so
the notification is delivered exactly when the change commits, and every write path is
covered: the bot's handlers, the delivery engine marking a recipient blocked, the retention
job, the CLI, and any path added later. ``touch_user`` (every update) updates only
``last_seen`` and notifies nothing. See ``storage/notifications.py`` and
``telegram_side/replica_sync.py``.
"""

from __future__ import annotations

from alembic import op

revision: str = "9e5f3c4d1f23"
down_revision: str | tuple[str, ...] | None = "7c3f1a2b9d01"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None

# NEW is NULL in a DELETE trigger: read OLD there (an IF, so NEW.user_id is never evaluated).
_FUNCTION = """
CREATE OR REPLACE FUNCTION bot_notify_user_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    changed bigint;
BEGIN
    IF TG_OP = 'DELETE' THEN
        changed := OLD.user_id;
    ELSE
        changed := NEW.user_id;
    END IF;
    PERFORM pg_notify('bot_users', TG_TABLE_SCHEMA || ':' || changed::text);
    RETURN NULL;
END
$$
"""

_TRIGGERS = (
    "CREATE TRIGGER users_locale_changed AFTER UPDATE OF locale ON users FOR EACH ROW "
    "WHEN (OLD.locale IS DISTINCT FROM NEW.locale) "
    "EXECUTE FUNCTION bot_notify_user_changed()",
    "CREATE TRIGGER users_erased AFTER DELETE ON users FOR EACH ROW "
    "EXECUTE FUNCTION bot_notify_user_changed()",
    "CREATE TRIGGER subscriptions_changed AFTER INSERT OR UPDATE OR DELETE ON subscriptions "
    "FOR EACH ROW EXECUTE FUNCTION bot_notify_user_changed()",
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_FUNCTION)
    for statement in _TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS subscriptions_changed ON subscriptions")
    op.execute("DROP TRIGGER IF EXISTS users_erased ON users")
    op.execute("DROP TRIGGER IF EXISTS users_locale_changed ON users")
    op.execute("DROP FUNCTION IF EXISTS bot_notify_user_changed()")
