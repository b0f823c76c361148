"""The queue of updates waiting for the bot, and Telegram's long polling over it.

With a webhook set, ``webhook_delivery`` takes the updates from here instead, and removes each
once the webhook answered 2xx.

Updates stay queued until a ``getUpdates`` offset confirms them. A poll waits up to its timeout
for an update; a newer poll ends a waiting one with 409 Conflict, as Telegram does when two bot
instances poll. ``allowed_updates`` sticks until a later poll names other types.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from bot.testing.emulator.error_answers import CONFLICT, APIError

__all__ = ["UpdateQueue"]

# Update types delivered when getUpdates never named any (Telegram's default).
_DEFAULT_EXCLUDED_UPDATES = frozenset(
    {"chat_member", "message_reaction", "message_reaction_count"}
)


class UpdateQueue:
    """Updates ``{"update_id": n, kind: payload}`` in order, served by long polling."""

    def __init__(self) -> None:
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 1
        self._allowed: frozenset[str] | None = None
        self._signal = asyncio.Event()
        self._poll_generation = 0
        self._closed = False

    def open(self) -> None:
        """Ready for polls in the running event loop (events made earlier may belong to none)."""
        self._closed = False
        self._signal = asyncio.Event()

    def close(self) -> None:
        """Answer every waiting and later poll at once."""
        self._closed = True
        self._signal.set()

    def put(self, kind: str, payload: dict[str, Any]) -> int:
        """Queue an update ``{"update_id": ..., kind: payload}``; returns its update_id."""
        update_id = self._next_update_id
        self._next_update_id += 1
        self._updates.append({"update_id": update_id, kind: payload})
        self._wake()
        return update_id

    def __len__(self) -> int:
        return len(self._updates)

    @property
    def allowed(self) -> frozenset[str] | None:
        """The update types the bot's last getUpdates asked for (None: Telegram's default)."""
        return self._allowed

    def clear(self) -> None:
        self._updates.clear()
        self._wake()

    def set_allowed(self, allowed: list[Any]) -> None:
        """The update types to deliver from now on (getUpdates' and setWebhook's
        ``allowed_updates``; an empty list means Telegram's default)."""
        self._allowed = frozenset(str(a) for a in allowed) if allowed else None
        self._wake()

    # -- the webhook sender's view: deliverable updates, removed once delivered --------------

    @property
    def changed(self) -> asyncio.Event:
        """Set at the next change (an update queued or removed, a setting changed)."""
        return self._signal

    def deliverable(self) -> list[dict[str, Any]]:
        """The updates waiting, oldest first, without the types not asked for (dropped)."""
        self._updates = [u for u in self._updates if self._deliverable(u)]
        return list(self._updates)

    def remove(self, update_id: int) -> None:
        """The update was delivered (the webhook answered 2xx)."""
        self._updates = [u for u in self._updates if u["update_id"] != update_id]
        self._wake()

    def wake(self) -> None:
        """Tell whoever waits for a change (a setting of the webhook changed)."""
        self._wake()

    def _wake(self) -> None:
        signal, self._signal = self._signal, asyncio.Event()
        signal.set()

    def _deliverable(self, update: dict[str, Any]) -> bool:
        kind = next(k for k in update if k != "update_id")
        if self._allowed is None:
            return kind not in _DEFAULT_EXCLUDED_UPDATES
        return kind in self._allowed

    def _confirm(self, offset: int | None) -> None:
        """Drop what ``offset`` confirms (a negative offset keeps only the last -offset)."""
        if offset is None:
            return
        if offset < 0:
            self._updates = self._updates[offset:]
        else:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]

    async def poll(
        self,
        *,
        offset: int | None,
        limit: int,
        wait_seconds: int,
        allowed: list[Any] | None,
        client_gone: Callable[[], bool],
    ) -> list[dict[str, Any]]:
        """The updates for one ``getUpdates``, waiting up to ``wait_seconds`` for one.

        Raises 409 Conflict when a newer poll starts meanwhile, unless ``client_gone()`` says
        nobody is listening for this one any more.
        """
        self._poll_generation += 1
        generation = self._poll_generation
        self._wake()  # a newer getUpdates ends an older one that is still waiting
        self._confirm(offset)
        if allowed is not None:
            self.set_allowed(allowed)

        deadline = time.perf_counter() + wait_seconds
        while True:
            self._updates = [u for u in self._updates if self._deliverable(u)]
            if self._updates or self._closed:
                return self._updates[:limit]
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return []
            signal = self._signal
            try:
                await asyncio.wait_for(signal.wait(), remaining)
            except TimeoutError:
                return []
            if generation != self._poll_generation:
                if client_gone():
                    return []  # the client gave up on this poll already (e.g. on shutdown)
                raise APIError(409, CONFLICT)
