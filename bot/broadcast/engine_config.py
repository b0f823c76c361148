"""The delivery engine's settings and counters, and the crash bound they imply."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


def in_flight_bound(rate: float) -> int:
    """Most recipients marked ``sending`` at once at ``rate``: the duplicate bound per crash.

    A quarter of a second's worth, at least 4 and at most 256: enough for the round trips and
    batched writes at 1000/s, and at 30/s at most 8 possible duplicates after a crash.
    """
    return min(256, max(4, math.ceil(rate * 0.25)))


@dataclass(frozen=True)
class EngineConfig:
    rate: float = 30.0
    paid_rate: float = 1000.0
    per_chat_interval: float = 1.0
    # How often the holder looks for a due broadcast when none is running: one query each time,
    # on the event loop that serves patients (0.5 s cost ~6 ms of CPU a second, idle). A
    # queued broadcast wakes the engine at once (the wizard here; on PostgreSQL any replica or
    # the CLI, through NOTIFY bot_broadcasts); a scheduled one, or one queued with the CLI on
    # SQLite, starts within this.
    poll_interval: float = 2.0
    max_attempts: int = 4  # the first try and 3 retries
    backoff: float = 1.0  # before the first retry; doubles each time
    request_timeout: float = 10.0
    progress_interval: float = 2.0
    window: int | None = None  # default: in_flight_bound(rate of the broadcast)
    flush_interval: float = 0.05
    cancel_check_interval: float = 0.25
    # Stopping (SIGTERM), on the wall clock: requests in flight get in_flight_grace seconds to
    # answer (then they end in_doubt), writing the results settle_grace more, and the whole
    # stop at most shutdown_timeout; well inside Docker's 10 s with PTB's own stop after it.
    in_flight_grace: float = 3.0
    settle_grace: float = 1.5
    shutdown_timeout: float = 5.0
    # The broadcast lease (wall clock, bot/broadcast/lease.py): it lives lease_ttl seconds
    # after a renewal; the holder renews every lease_renew, the others try every lease_retry.
    lease_ttl: float = 6.0
    lease_renew: float = 2.0
    lease_retry: float = 1.0


@dataclass
class EngineStats:
    sent: int = 0
    blocked: int = 0
    failed: int = 0
    retried: int = 0
    skipped: int = 0  # consent gone at claim time
    in_doubt: int = 0  # no answer (read timeout, or stopped while in flight): not resent
    rate_limited: int = 0  # 429 answers to bulk sends
    progress_edits: int = 0
    polls: int = 0  # times the engine looked for a due broadcast
    resumed_in_doubt: int = 0
    broadcasts_done: list[int] = field(default_factory=list)
