"""Which updates the bot works on, in which order, and how many at once.

Why not PTB's own scheduling: with ``concurrent_updates=N``, PTB's update fetcher takes each
update off ``Application.update_queue`` and *creates a task for it at once*; only inside that
task does it wait for the update processor's semaphore (``BaseUpdateProcessor.process_update``).
A flood therefore becomes an unbounded number of tasks, served first come first served: a
patient's press waits behind every update of a spamming account. A custom
``BaseUpdateProcessor`` cannot help, because its ``do_process_update`` runs inside that task.

So :class:`UpdateScheduler` *is* the ``update_queue`` (``ApplicationBuilder.update_queue``).
The updater puts every update it polls into it, and it decides right there, before any task or
database work:

1. Admission: a token bucket per user (``USER_UPDATE_RATE``/s, bursts of
   ``USER_UPDATE_BURST``). Over it, the update is dropped, and the user counts as *flooding*
   for ``flooding_cooldown`` seconds; a flooding user's messages are dropped too (their button
   presses still work, unless more than half the waiting room is taken: then everything of a
   flooding user is dropped, so that the others get the capacity). Dropped updates go to
   ``on_drop`` (``telegram_side/shedding.py``), which still answers a dropped button press and
   tells the user, at most once a minute, to slow down.
2. Waiting: one queue per user in a :class:`~bot.core.flood.FairQueue`, bounded. A newer press
   on a message replaces an older navigation press on it that still waits (the latest screen
   wins); a newer screen command (/start, /help, /language) an older one.
3. Handing out: PTB's fetcher calls :meth:`get`, which returns an update only when fewer than
   ``max_in_flight`` are being processed, in round-robin order across users, one update per
   user at a time (a user's updates are handled in order, never two at once). A user whose
   chat cannot get a reply yet (``reply_delay``: one a second) is passed over until it can,
   so no update slot sits waiting for a chat's turn, and a newer screen can still replace a
   waiting one. A button press that waited longer than Telegram's answer window is shed.

:class:`FairUpdateProcessor` (the ``concurrent_updates`` processor) tells the scheduler when an
update is finished. PTB calls ``task_done`` for every item it took and ``join`` at shutdown;
both keep their asyncio.Queue meaning.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

from bot.config import Settings
from bot.core import callbacks
from bot.core.cache import BoundedCache
from bot.core.flood import DropReason, Entry, FairQueue, KeyedRate

__all__ = ["FairUpdateProcessor", "FloodLimits", "SchedulerStats", "UpdateScheduler"]

#: What ``on_drop`` is called with: an update that will not be processed, and why.
DropHandler = Callable[[Update, DropReason], None]

#: Telegram lets a bot answer a button press for about 15 s; a press that waited longer than
#: this is shed (a little less, so that the shedder's empty answer still arrives in time).
PRESS_ANSWER_WINDOW = 14.0

#: Commands whose only effect is a screen: a newer one replaces an older one still waiting.
SCREEN_COMMANDS = frozenset({"start", "help", "language"})
#: Buttons whose only effect is a screen (navigation); any later press on the same message
#: replaces them while they wait. Actions (subscribe, toggles, a wizard's Confirm) are kept.
NAVIGATION = (
    callbacks.Home,
    callbacks.LanguageMenu,
    callbacks.ShowTopic,
    callbacks.ShowTerms,
    callbacks.Invalid,  # forged or out of date: answered with the main menu
)


@dataclass(frozen=True)
class FloodLimits:
    """The scheduler's bounds; see the module docstring."""

    user_rate: float = 3.0
    user_burst: int = 5
    max_in_flight: int = 64
    max_waiting: int = 1000
    max_per_user: int = 8
    flooding_cooldown: float = 10.0
    press_window: float = PRESS_ANSWER_WINDOW
    users_kept: int = 50_000

    @classmethod
    def from_settings(cls, settings: Settings) -> FloodLimits:
        return cls(
            user_rate=settings.user_update_rate,
            user_burst=settings.user_update_burst,
            max_in_flight=settings.max_concurrent_updates,
            max_waiting=settings.max_waiting_updates,
        )


@dataclass
class SchedulerStats:
    """Counters, for tests, benchmarks and the shed summary."""

    admitted: int = 0
    handed_out: int = 0
    dropped: int = 0
    most_waiting: int = 0
    most_in_flight: int = 0


def update_key(update: Update) -> int:
    """Whose update it is: the user, else the chat (a channel post), else nobody (0)."""
    if update.effective_user is not None:
        return update.effective_user.id
    if update.effective_chat is not None:
        return update.effective_chat.id
    return 0


def _coalescing(update: Update) -> tuple[Hashable | None, bool]:
    """(slot, replaceable) of an update: what it shows, and whether a newer one makes it moot."""
    query = update.callback_query
    if query is not None:
        message = query.message
        slot = (
            ("message", message.chat.id, message.message_id)
            if message is not None
            else ("inline", query.inline_message_id)
        )
        return slot, isinstance(callbacks.decode(query.data), NAVIGATION)
    message = update.message
    text = message.text if message is not None else None
    if text and text.startswith("/"):
        command = text[1:].split(maxsplit=1)[0].split("@", 1)[0].lower() if len(text) > 1 else ""
        if command in SCREEN_COMMANDS:
            return "screen_command", True
    return None, False


class UpdateScheduler(asyncio.Queue[object]):
    """PTB's ``update_queue``, bounded and fair; see the module docstring.

    Items that are not updates (PTB's stop signal) are handed out only once no update waits,
    so stopping still finishes the updates already accepted.
    """

    def __init__(
        self,
        limits: FloodLimits | None = None,
        *,
        on_drop: DropHandler | None = None,
        on_press: Callable[[int, int], None] | None = None,
        reply_delay: Callable[[int], float] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.limits = limits = limits or FloodLimits()
        #: Told about every update that will not be processed (see telegram_side/shedding.py).
        self.on_drop = on_drop
        #: Told (chat id, message id) of every accepted press (the latest-screen rule of
        #: reply_pacing.py).
        self.on_press = on_press
        #: Seconds until a reply to a chat may go (reply_pacing.py): a user whose private chat
        #: must wait is taken later, rather than hold an update slot while waiting.
        self.reply_delay = reply_delay
        self.stats = SchedulerStats()
        self._clock = clock
        self._rate: KeyedRate[int] = KeyedRate(
            limits.user_rate, limits.user_burst, maxsize=limits.users_kept, clock=clock
        )
        self._flooding: BoundedCache[int, bool] = BoundedCache(
            maxsize=limits.users_kept, ttl=limits.flooding_cooldown, clock=clock
        )
        self._fair: FairQueue[int, Update] = FairQueue(
            max_in_flight=limits.max_in_flight,
            max_waiting=limits.max_waiting,
            max_per_key=limits.max_per_user,
        )
        self._control: deque[object] = deque()
        self._unfinished = 0
        self._all_done = asyncio.Event()
        self._all_done.set()
        self._changed = asyncio.Event()

    # -- what the updater calls ---------------------------------------------------------------

    async def put(self, item: object) -> None:
        self.put_nowait(item)

    def put_nowait(self, item: object) -> None:
        if not isinstance(item, Update):
            self._control.append(item)
            self._accepted()
            return
        key = update_key(item)
        if not self._rate.try_take(key):
            self._flooding.set(key, True)
            self._drop(item, "rate")
            return
        if self._flooding.get(key) and (item.message is not None or self._overloaded):
            self._drop(item, "flooding")
            return
        now = self._clock()
        slot, replaceable = _coalescing(item)
        query = item.callback_query
        expires = now + self.limits.press_window if query is not None else None
        self._accepted()
        self.stats.admitted += 1
        entry = Entry(item, key, now, slot, replaceable, expires)
        kept = True
        for old, reason in self._fair.offer(entry):
            kept = kept and old is not entry
            self._finished_one()
            self._drop(old.item, reason)
        self.stats.most_waiting = max(self.stats.most_waiting, self._fair.waiting)
        if kept and query is not None and query.message is not None and self.on_press:
            self.on_press(query.message.chat.id, query.message.message_id)

    # -- what PTB's update fetcher calls --------------------------------------------------------

    async def get(self) -> object:
        while True:
            item, retry_in = self._next()
            if item is not None:
                return item
            self._changed.clear()
            if retry_in is None:
                await self._changed.wait()
            else:  # only users whose chat must wait a moment: look again then
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), retry_in)

    def get_nowait(self) -> object:
        """Any waiting item, regardless of the bounds: PTB calls it only to drop what is left
        when it stops."""
        if self._control:
            return self._control.popleft()
        entry = self._fair.drain()
        if entry is None:
            raise asyncio.QueueEmpty
        return entry.item

    def task_done(self) -> None:
        self._finished_one()

    async def join(self) -> None:
        await self._all_done.wait()

    def qsize(self) -> int:
        return self._fair.waiting + len(self._control)

    def empty(self) -> bool:
        return self.qsize() == 0

    def full(self) -> bool:
        return False

    # -- what the processor calls ---------------------------------------------------------------

    def finished(self, update: object) -> None:
        """``update`` was processed (or failed): its user may have their next turn."""
        if isinstance(update, Update):
            self._fair.done(update_key(update))
            self._changed.set()

    async def settle(self, within: float) -> int:
        """Before PTB's ``Application.stop``: give the updates already accepted ``within``
        seconds to be handed out, then drop what still waits (returns how many).

        PTB's ``stop`` would hand out whatever waits, creating tasks for it while the
        application no longer runs (which PTB warns about), for as long as a backlog takes.
        """
        deadline = self._clock() + within
        while self._fair.waiting and self._clock() < deadline:
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), deadline - self._clock())
        dropped = 0
        while (entry := self._fair.drain()) is not None:
            dropped += 1
            self._finished_one()
            self._drop(entry.item, "shutdown")
        return dropped

    @property
    def waiting(self) -> int:
        return self._fair.waiting

    @property
    def _overloaded(self) -> bool:
        """More than half the waiting room taken: flooding users are turned away entirely."""
        return self._fair.waiting * 2 >= self.limits.max_waiting

    @property
    def in_flight(self) -> int:
        return self._fair.in_flight

    # -- internals --------------------------------------------------------------------------

    def _next(self) -> tuple[object | None, float | None]:
        """The next item to hand out, or None and how soon to look again (None: when told)."""
        entry, shed, retry_in = self._fair.take(self._clock(), self.reply_delay)
        for old, reason in shed:
            self._finished_one()
            self._drop(old.item, reason)
        if entry is not None:
            self.stats.handed_out += 1
            self.stats.most_in_flight = max(self.stats.most_in_flight, self._fair.in_flight)
            return entry.item, None
        if self._fair.waiting == 0 and self._control:
            return self._control.popleft(), None
        return None, retry_in

    def _accepted(self) -> None:
        self._unfinished += 1
        self._all_done.clear()
        self._changed.set()

    def _finished_one(self) -> None:
        if self._unfinished <= 0:
            raise ValueError("task_done() called too many times")
        self._unfinished -= 1
        if self._unfinished == 0:
            self._all_done.set()

    def _drop(self, update: Update, reason: DropReason) -> None:
        self.stats.dropped += 1
        if self.on_drop is not None:
            self.on_drop(update, reason)


class FairUpdateProcessor(BaseUpdateProcessor):
    """PTB's ``concurrent_updates``: runs what the scheduler hands out, and says when it ends.

    The semaphore PTB puts around it never makes anyone wait: the scheduler hands out at most
    ``max_in_flight`` updates at a time, the semaphore's size.
    """

    def __init__(self, scheduler: UpdateScheduler) -> None:
        super().__init__(max(2, scheduler.limits.max_in_flight))  # 1 would make PTB serial
        self.scheduler = scheduler

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        try:
            await coroutine
        finally:
            self.scheduler.finished(update)

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""
