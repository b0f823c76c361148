"""PostgreSQL ``LISTEN``/``NOTIFY`` between replicas: the channels, sending, and a listener.

Channels (one database may hold several deployments in schemas of their own, so every payload
starts with the schema, ``current_schema()`` of the sender, and a listener ignores the others):

- ``bot_users``, ``<schema>:<user_id>``: what is stored about that user changed (language,
  subscription, erasure). Sent by triggers (migration ``9e5f3c4d1f23``) inside the writing
  transaction, so it is delivered when, and only if, the change commits.
- ``bot_reload``, ``<schema>:<origin>``: reload the content (an admin's /reload or SIGHUP on
  the replica ``origin``).
- ``bot_reloaded``, ``<schema>:<origin>:<replica>:<result>``: a replica's result of that reload.
- ``bot_lease``, ``<schema>:<name>``: the holder of that lease gave it up (a clean stop); the
  standbys try to take it now.
- ``bot_broadcasts``, ``<schema>:<id>``: a broadcast was queued (the CLI, or the wizard on any
  replica); the lease holder looks for due broadcasts now instead of at its next poll.

The listener is an asyncpg connection of its own, outside the pool (a pooled connection would
be pre-pinged, recycled and shared). On SQLite there is one process and nothing to send.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy import text

from bot.storage.connection import APPLICATION_NAME
from bot.storage.store import Storage

USERS_CHANNEL = "bot_users"
RELOAD_CHANNEL = "bot_reload"
RELOADED_CHANNEL = "bot_reloaded"
LEASE_CHANNEL = "bot_lease"
BROADCASTS_CHANNEL = "bot_broadcasts"

_NOTIFY = text("SELECT pg_notify(:channel, current_schema() || ':' || :payload)")
#: A listening connection's application_name: this prefix and its schema (PostgreSQL keeps
#: the first 63 characters), so that the replicas listening on a schema can be counted.
_LISTENER_PREFIX = "interventional-bot-listener:"
_COUNT_LISTENERS = text(
    "SELECT count(*) FROM pg_stat_activity "
    "WHERE application_name = left(:prefix || current_schema(), 63)"
)


def can_notify(storage: Storage) -> bool:
    """Whether ``storage`` is shared by processes that hear each other (PostgreSQL)."""
    return storage.backend == "postgresql"


async def count_listeners(storage: Storage) -> int:
    """How many replicas listen on ``storage``'s schema now (0 on SQLite)."""
    if not can_notify(storage):
        return 0
    async with storage.engine.connect() as conn:
        result = await conn.execute(_COUNT_LISTENERS, {"prefix": _LISTENER_PREFIX})
        return int(result.scalar_one())


async def notify(storage: Storage, channel: str, payload: str) -> None:
    """Send ``<schema>:<payload>`` on ``channel`` now (autocommit); nothing on SQLite."""
    if not can_notify(storage):
        return
    engine = storage.engine.execution_options(isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(_NOTIFY, {"channel": channel, "payload": payload})


@dataclass
class Listening:
    """An open listening connection; ``scope`` is its schema (payloads start with it)."""

    connection: Any  # asyncpg.Connection
    scope: str

    @property
    def server_pid(self) -> int:
        return int(self.connection.get_server_pid())

    async def ping(self, within: float) -> None:
        """Raises when the server does not answer within ``within`` seconds."""
        await self.connection.fetchval("SELECT 1", timeout=within)

    async def close(self) -> None:
        if not self.connection.is_closed():
            try:
                await self.connection.close(timeout=2)
            except Exception:  # noqa: BLE001 - closing a broken connection: nothing to save
                self.connection.terminate()


async def listen(
    storage: Storage,
    handlers: Mapping[str, Callable[[str], None]],
    on_lost: Callable[[], None],
    *,
    within: float,
) -> Listening:
    """Connect and ``LISTEN`` on every channel of ``handlers``; each gets the payload without
    its ``<schema>:`` (other schemas' notifications are dropped). ``on_lost`` is called once
    if the connection ends; ``within`` bounds connecting and each setup query. Raises what
    asyncpg or the network raise when it cannot."""
    url = storage.engine.url.set(drivername="postgresql")
    settings = {"application_name": APPLICATION_NAME}  # named after its schema below
    if storage.schema is not None:
        settings["search_path"] = storage.schema
    connection = await asyncpg.connect(
        url.render_as_string(hide_password=False), timeout=within, server_settings=settings
    )
    try:
        scope = str(await connection.fetchval("SELECT current_schema()", timeout=within))
        name = (_LISTENER_PREFIX + scope)[:63]
        await connection.execute("SELECT set_config('application_name', $1, false)", name)
        prefix = f"{scope}:"

        def route(handler: Callable[[str], None]) -> Callable[..., None]:
            def on_notification(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
                if payload.startswith(prefix):
                    handler(payload[len(prefix) :])

            return on_notification

        connection.add_termination_listener(lambda _conn: on_lost())
        for channel, handler in handlers.items():
            await connection.add_listener(channel, route(handler))
    except BaseException:
        connection.terminate()
        raise
    return Listening(connection, scope)
