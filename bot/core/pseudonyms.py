"""User ids in logs are pseudonyms: a keyed hash, never the id in clear.

With a tumour-therapy bot, "this Telegram user talks to it" is health data, and log files are
copied, shipped and kept far more casually than the database. Every log line that names a user
writes :func:`log_ref` of the id (HMAC-SHA256 with ``LOG_ID_KEY``, truncated to 16 hex
digits): lines about one user can still be followed, and nobody without the key can tell whose
they are. Without ``LOG_ID_KEY`` the key is random per process (lines from different runs or
replicas then cannot be joined); set the same key everywhere to follow a user across them.

:func:`user_tag` binds a button to one user (the /forget confirmation) with the same key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

_key: bytes = secrets.token_bytes(32)


def use_key(key: str | None) -> None:
    """Use ``LOG_ID_KEY`` (None keeps this process's random key)."""
    global _key  # noqa: PLW0603 - one key per process, set once at start
    if key:
        _key = key.encode("utf-8")


def _mac(message: str) -> str:
    return hmac.new(_key, message.encode("utf-8"), hashlib.sha256).hexdigest()


def log_ref(user_id: int | None) -> str:
    """What a log line writes for a user id: 16 hex digits, or ``-`` for none."""
    if user_id is None:
        return "-"
    return _mac(f"log:{user_id}")[:16]


def user_tag(purpose: str, user_id: int, length: int = 8) -> str:
    """A short tag that only ``user_id`` can present back for ``purpose`` (hex)."""
    return _mac(f"{purpose}:{user_id}")[:length]
