"""Errors a person can cause when pointing the bot at a database.

Every message is one line, names the place (the URL's host:port or the file path) and never
contains a password, so the CLI can print ``str(error)`` and exit with code 2.
"""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError


class StorageError(Exception):
    """Base class: anything the storage layer reports as one line instead of a traceback."""


class StorageConfigError(StorageError):
    """The database URL (or the schema name) is malformed or names an unsupported backend."""


class StorageUnavailableError(StorageError):
    """The database was configured correctly but cannot be reached or opened."""


class StorageSchemaError(StorageError):
    """The database schema cannot be brought to the version this code expects.

    Raised when the database was migrated by a newer release (its Alembic revision is unknown
    here), when a database of a release before Alembic is not at the version this one adopts,
    or when applying a migration fails.
    """


#: What a database call raises when the database is unreachable, stuck or refuses: SQLAlchemy's
#: errors (the drivers' errors arrive wrapped in them), and OSError, which includes
#: ConnectionError and TimeoutError. Callers that must keep serving catch exactly these.
DATABASE_ERRORS: tuple[type[BaseException], ...] = (SQLAlchemyError, OSError, StorageError)
