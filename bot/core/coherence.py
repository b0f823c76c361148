"""Whether a process may trust its per-user caches, and which entries other processes changed.

Several replicas share one database; each keeps per-user caches (saved language, subscribed or
not). A change made through one replica must be seen by every replica at the user's next
update, so each replica is told of every change (PostgreSQL ``NOTIFY``, see
``telegram_side/replica_sync.py``) and drops that user here. This module is the pure part:

- :meth:`Coherence.changed` drops one user from every tracked cache;
- a read that started before a change to its user must not fill the cache with what it read
  (it may be the old value): take a :meth:`~Coherence.ticket` before reading and cache only if
  :meth:`~Coherence.fresh` says no change to that user (and no clear) came in between;
- while the notifications may be missed (the listening connection is lost), the caches are not
  :attr:`~Coherence.trusted`: reads go to the database. When listening again, everything cached
  is dropped (a notification may have been missed), then trusted again.

A single process (SQLite) has no other writer to hear from: ``Coherence()`` is trusted and
never told anything; its caches are written through by the handlers, as before.
"""

from __future__ import annotations

from collections import deque
from typing import Protocol


class Droppable(Protocol):
    """A cache keyed by user id (``BoundedCache`` is one)."""

    def pop(self, key: int) -> None: ...

    def clear(self) -> None: ...


#: Changes remembered for :meth:`Coherence.fresh`; a read older than that many changes is
#: simply not cached.
RECENT_CHANGES = 4096


class Coherence:
    """Shared by every per-user cache of a process."""

    def __init__(self, *, shared: bool = False, recent: int = RECENT_CHANGES) -> None:
        """``shared``: other processes write the same users (replicas on PostgreSQL); the
        caches start untrusted until :meth:`trust` (the listener is connected)."""
        self.shared = shared
        self.trusted = not shared
        self._caches: list[Droppable] = []
        self._epoch = 0
        self._cleared_at = 0
        self._recent: deque[tuple[int, int]] = deque(maxlen=recent)

    def track(self, cache: Droppable) -> None:
        self._caches.append(cache)

    def ticket(self) -> int:
        """Take before a database read whose result may be cached."""
        return self._epoch

    def fresh(self, ticket: int, user_id: int) -> bool:
        """Nothing changed ``user_id`` and nothing was cleared since ``ticket`` was taken."""
        if ticket == self._epoch:
            return True
        if ticket < self._cleared_at:
            return False
        if not self._recent or self._recent[0][0] > ticket + 1:
            return False  # changes after the ticket were forgotten: cannot tell
        for epoch, changed in reversed(self._recent):
            if epoch <= ticket:
                break
            if changed == user_id:
                return False
        return True

    def changed(self, user_id: int) -> None:
        """Another process (or this one) changed what is stored about ``user_id``."""
        self._epoch += 1
        self._recent.append((self._epoch, user_id))
        for cache in self._caches:
            cache.pop(user_id)

    def distrust(self) -> None:
        """Changes may go unheard from now on: reads go to the database. What is cached stays,
        only as the answer while the database itself cannot be reached."""
        self.trusted = False

    def trust(self) -> None:
        """Changes are heard again: drop everything (some may have been missed), then trust."""
        self._epoch += 1
        self._cleared_at = self._epoch
        self._recent.clear()
        for cache in self._caches:
            cache.clear()
        self.trusted = True
