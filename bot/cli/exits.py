"""Exit codes of every command, defined once."""

from __future__ import annotations

#: Done; nothing wrong.
EXIT_OK = 0
#: The command ran and found problems (check errors, a bad broadcast file, no such id).
EXIT_PROBLEMS = 1
#: The command could not run: a bad setting, argument or file (one line says which).
EXIT_USAGE = 2
#: Stopped with Ctrl-C.
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """A wrong argument or an unreadable file; ``str()`` is one line. Exit code 2."""
