"""How many typed messages the bot answered, and how: counts only, never the text.

One :class:`TypedCounts` lives on the running bot (``Runtime.typed_counts``), in memory.
Persistent daily statistics can read it with :meth:`TypedCounts.snapshot`, or take and reset
it with :meth:`TypedCounts.take` (both are plain dictionaries of integers).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TypedCounts:
    #: A topic was shown or offered.
    matched: int = 0
    #: No topic matched: the "not read by a person" note and the menu.
    unmatched: int = 0
    #: The urgent-care message was sent first (these are also counted as matched/unmatched).
    urgent: int = 0

    def record(self, *, matched: bool, urgent: bool) -> None:
        if matched:
            self.matched += 1
        else:
            self.unmatched += 1
        if urgent:
            self.urgent += 1

    def snapshot(self) -> dict[str, int]:
        return {"matched": self.matched, "unmatched": self.unmatched, "urgent": self.urgent}

    def take(self) -> dict[str, int]:
        """The counts so far, and start again from zero (for a job that stores them)."""
        counts = self.snapshot()
        self.matched = self.unmatched = self.urgent = 0
        return counts
