"""Storage fixtures, registered from tests/conftest.py with ``pytest_plugins``.

Every test that takes ``storage_url`` (or ``storage``) runs twice: on a fresh SQLite file in
``tmp_path``, and on PostgreSQL when ``TEST_DATABASE_URL`` is set (CI sets it to
``postgresql://postgres@127.0.0.1:5432/test``). Without it only SQLite runs, and the report
header of the run says so (``storage backends: …``).

The PostgreSQL server is shared by every run on the machine, so each test gets a schema of its
own (``test_<random>``), named in the URL as ``?schema=…`` and dropped at teardown. Because the
schema travels inside the URL, ``storage_url`` can be handed to anything that takes a
``DATABASE_URL`` (the CLI in a subprocess, ``Settings``) and it stays isolated.

Fixtures:

- ``storage_url``: a database URL string (param ids ``sqlite`` / ``postgresql``).
- ``storage``: an opened, migrated :class:`~bot.storage.Storage` on ``storage_url``.
- ``storage_factory``: ``await storage_factory()`` opens another Storage on the same database
  and schema (a second process, or the bot after a restart); closed at teardown.

:func:`write_revision` writes an Alembic revision into a directory, for tests that add one on
top of head with ``Storage.apply_migrations(extra_versions=[directory])``.
"""

from __future__ import annotations

import os
import secrets
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from bot.storage import Storage, open_storage, parse_database_url

TEST_DATABASE_URL_ENV = "TEST_DATABASE_URL"

StorageFactory = Callable[[], Awaitable[Storage]]


def postgres_base_url() -> str | None:
    """The PostgreSQL URL to test against, or ``None`` when PostgreSQL tests are off."""
    return os.environ.get(TEST_DATABASE_URL_ENV) or None


def fresh_schema_name() -> str:
    return f"test_{secrets.token_hex(6)}"


def with_schema(base_url: str, schema: str) -> str:
    """``base_url`` with ``?schema=`` set (replacing any schema it already names)."""
    target = parse_database_url(base_url, schema=schema)
    return target.url.update_query_dict({"schema": schema}).render_as_string(hide_password=False)


async def drop_schema(base_url: str, schema: str) -> None:
    target = parse_database_url(base_url)
    engine = create_async_engine(target.url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await engine.dispose()


def write_revision(
    directory: Path, *, revision: str, down_revision: str, title: str, upgrade: str
) -> Path:
    """An Alembic revision file: ``upgrade`` is the body of ``upgrade()`` (uses ``op``, ``sa``)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{revision}_{title.replace(' ', '_')}.py"
    body = textwrap.indent(textwrap.dedent(upgrade).strip(), "    ")
    path.write_text(
        f'"""{title}"""\n\n'
        "import sqlalchemy as sa\n"
        "from alembic import op\n\n"
        f"revision = {revision!r}\n"
        f"down_revision = {down_revision!r}\n"
        "branch_labels = None\n"
        "depends_on = None\n\n\n"
        f"def upgrade():\n{body}\n\n\n"
        "def downgrade():\n    pass\n",
        encoding="utf-8",
    )
    return path


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def _backends() -> list[str]:
    return ["sqlite", "postgresql"] if postgres_base_url() else ["sqlite"]


def pytest_report_header() -> str:
    base = postgres_base_url()
    if base is None:
        return f"storage backends: sqlite only ({TEST_DATABASE_URL_ENV} is not set)"
    return f"storage backends: sqlite, postgresql {parse_database_url(base).display}"


@pytest.fixture(params=_backends())
async def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "bot.db")
        return
    base = postgres_base_url()
    assert base is not None
    schema = fresh_schema_name()
    try:
        yield with_schema(base, schema)
    finally:
        await drop_schema(base, schema)


@pytest.fixture
async def storage(storage_url: str) -> AsyncIterator[Storage]:
    async with await open_storage(storage_url) as opened:
        yield opened


@pytest.fixture
async def storage_factory(storage_url: str) -> AsyncIterator[StorageFactory]:
    opened: list[Storage] = []

    async def open_again() -> Storage:
        again = await open_storage(storage_url)
        opened.append(again)
        return again

    yield open_again
    for again in opened:
        await again.close()


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL schema's URL, dropped afterwards, for what only PostgreSQL has
    (several processes on one database, LISTEN/NOTIFY, SKIP LOCKED); the test is skipped
    without TEST_DATABASE_URL (.ci/run sets it)."""
    base = postgres_base_url()
    if base is None:
        pytest.skip(f"{TEST_DATABASE_URL_ENV} is not set: this test needs PostgreSQL")
    schema = fresh_schema_name()
    try:
        yield with_schema(base, schema)
    finally:
        await drop_schema(base, schema)


@pytest.fixture
async def postgres_storage(postgres_url: str) -> AsyncIterator[Storage]:
    """A storage on PostgreSQL in a fresh schema (see ``postgres_url``)."""
    async with await open_storage(postgres_url) as opened:
        yield opened
