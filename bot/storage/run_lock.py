"""One ``run`` per SQLite file: an OS lock on ``<file>.lock`` while the process lives.

Several processes on one SQLite file would both deliver broadcasts and both poll Telegram (two
``getUpdates`` conflict); SQLite is the single-process choice, PostgreSQL the one for replicas.
So ``run`` takes ``fcntl.flock`` on a sidecar file before it opens the database, and writes its
pid and host there. The kernel drops the lock when the process ends in any way (SIGKILL
included), so a crash never leaves a stale lock; a second ``run`` finds it taken and stops with
one line naming ``DATABASE_URL`` and the process that holds it (exit 2, as for every bad
setting). The file stays (deleting a lock file races with the next process taking it).
In-memory databases are private to their process and need no lock. Other commands (``broadcast
create``, ``stats``) do not take it: they may run beside ``run``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from pathlib import Path

from bot.storage.errors import StorageError
from bot.storage.url import parse_database_url

__all__ = ["DatabaseInUseError", "RunLock", "lock_for_run"]


class DatabaseInUseError(StorageError):
    """Another ``run`` holds the SQLite file."""


class RunLock:
    """The lock held; :meth:`release` (or the process's end) lets the next ``run`` start."""

    def __init__(self, fd: int, path: Path) -> None:
        self.fd: int | None = fd
        self.path = path

    def release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def lock_for_run(database_url: str) -> RunLock | None:
    """Take the run lock of a SQLite file (None for PostgreSQL and in-memory SQLite);
    :class:`DatabaseInUseError` when another process holds it."""
    target = parse_database_url(database_url)
    if target.backend != "sqlite" or target.is_memory:
        return None
    database = str(target.url.database)
    if database.startswith("file:"):
        database = database.removeprefix("file:").split("?", 1)[0]
    path = Path(database + ".lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise DatabaseInUseError(f"cannot open the lock file {path}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.read(fd, 300).decode("utf-8", "replace").split()
        os.close(fd)
        pid, host = [*holder, "?", "?"][:2]
        raise DatabaseInUseError(
            f"{target.display} is in use by another `interventional-bot run` (pid {pid} on "
            f"host {host}); one process per SQLite file: stop it first, or use PostgreSQL "
            "for several replicas"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
    return RunLock(fd, path)
