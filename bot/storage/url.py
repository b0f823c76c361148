"""Parsing of ``DATABASE_URL`` into a SQLAlchemy async URL.

Accepted forms::

    sqlite:///relative/path.db          (three slashes: relative to the working directory)
    sqlite:////absolute/path.db         (four slashes: absolute)
    sqlite:///:memory:                  (tests only: one shared connection)
    postgresql://user[:password]@host[:port]/db[?schema=name]
    postgres://...                      (Heroku-style alias)
    postgresql+asyncpg://...            (explicit driver)

The ``schema`` query parameter (PostgreSQL only) puts every table in that schema; it is how
tests give each run a private schema on a shared server without a second setting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from bot.storage.errors import StorageConfigError

DEFAULT_DATABASE_URL = "sqlite:///data/bot.db"

Backend = Literal["sqlite", "postgresql"]

_SQLITE_DRIVERS = frozenset({"sqlite", "sqlite+aiosqlite"})
_POSTGRES_DRIVERS = frozenset({"postgresql", "postgres", "postgresql+asyncpg", "postgres+asyncpg"})
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_EXPECTED = "expected sqlite:///path/to/file.db or postgresql://user@host:port/dbname"


@dataclass(frozen=True, slots=True)
class DatabaseTarget:
    """A parsed, validated database URL, ready for ``create_async_engine``."""

    url: URL
    backend: Backend
    schema: str | None
    #: Where the data lives, safe to print: ``host:port/db`` or the SQLite path. No password.
    display: str

    @property
    def is_memory(self) -> bool:
        """True for an in-memory SQLite database (lost when the storage is closed)."""
        return self.backend == "sqlite" and _sqlite_is_memory(self.url)


def parse_database_url(raw: str, *, schema: str | None = None) -> DatabaseTarget:
    """Validate ``raw`` and translate it to the async driver of its backend.

    ``schema`` (PostgreSQL only) overrides a ``?schema=`` query parameter in the URL.
    Raises :class:`StorageConfigError` with a one-line message that never repeats a password.
    """
    text = raw.strip()
    if not text:
        raise StorageConfigError(f"database URL is empty; {_EXPECTED}")
    if "://" not in text:
        raise StorageConfigError(f"database URL is not a URL; {_EXPECTED}")
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):
        # The message of make_url may quote the URL, password included: do not chain it.
        raise StorageConfigError(f"database URL cannot be parsed; {_EXPECTED}") from None

    driver = url.drivername.lower()
    if driver in _SQLITE_DRIVERS:
        return _sqlite_target(url, schema)
    if driver in _POSTGRES_DRIVERS:
        return _postgres_target(url, schema)
    scheme = driver.split("+", 1)[0]
    if scheme in {"sqlite", "postgresql", "postgres"}:
        raise StorageConfigError(
            f"database driver {driver!r} is not supported; use {scheme}:// "
            f"(the bot picks {'aiosqlite' if scheme == 'sqlite' else 'asyncpg'} itself)"
        )
    raise StorageConfigError(f"database URL scheme {scheme!r} is not supported; {_EXPECTED}")


def _sqlite_target(url: URL, schema: str | None) -> DatabaseTarget:
    if url.host or url.username or url.password or url.port:
        raise StorageConfigError(
            "SQLite database URL must not name a host or user; "
            "use sqlite:///relative/path.db or sqlite:////absolute/path.db"
        )
    if schema is not None or "schema" in url.query:
        raise StorageConfigError("a database schema can only be chosen with PostgreSQL")
    url = url.set(drivername="sqlite+aiosqlite")
    if _sqlite_is_memory(url):
        return DatabaseTarget(url=url, backend="sqlite", schema=None, display="sqlite :memory:")
    return DatabaseTarget(url=url, backend="sqlite", schema=None, display=f"sqlite {url.database}")


def _sqlite_is_memory(url: URL) -> bool:
    database = url.database or ""
    return database in {"", ":memory:"} or url.query.get("mode") == "memory"


def _postgres_target(url: URL, schema: str | None) -> DatabaseTarget:
    from_query = url.query.get("schema")
    if isinstance(from_query, tuple):
        raise StorageConfigError("database URL gives the schema parameter more than once")
    chosen = schema if schema is not None else from_query
    if chosen is not None and not _SCHEMA_NAME.fullmatch(chosen):
        raise StorageConfigError(
            f"database schema name {chosen!r} is not valid: use 1-63 lowercase letters, "
            "digits or underscores, not starting with a digit"
        )
    url = url.difference_update_query(["schema"]).set(drivername="postgresql+asyncpg")
    return DatabaseTarget(
        url=url,
        backend="postgresql",
        schema=chosen,
        display=postgres_display(url, chosen),
    )


def postgres_display(url: URL, schema: str | None = None) -> str:
    """``host:port/db[ schema s]`` for messages and logs; never the user's password."""
    where = f"{url.host or 'localhost'}:{url.port or 5432}/{url.database or url.username or ''}"
    return f"{where} schema {schema}" if schema else where
