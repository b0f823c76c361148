"""What a run does with the policy's decision about one send: count it, log it, pause the
pacer for a 429, and the outcome to store (``delivery_run.py`` sets ``fatal`` for a
``StopEngine`` itself)."""

from __future__ import annotations

import logging

from bot.broadcast.engine_config import EngineStats
from bot.broadcast.pacing import Pacer
from bot.broadcast.policy import Decision, Final, Pause, Retry, StopEngine
from bot.storage import Outcome

log = logging.getLogger("bot.broadcast.engine")


def act_on(
    decision: Decision, user_id: int, *, stats: EngineStats, pacer: Pacer, broadcast_id: int
) -> Outcome:
    """Count and log ``decision``, pause if it says so; the outcome to store."""
    match decision:
        case Final(state="sent"):
            stats.sent += 1
        case Final(state="blocked"):
            stats.blocked += 1
        case Final(state="in_doubt"):
            stats.in_doubt += 1
        case Final():
            stats.failed += 1
        case Retry():
            stats.retried += 1
            return Outcome(
                user_id,
                "pending",
                decision.attempts,
                reason=decision.reason,
                retry_at=decision.retry_at,
            )
        case Pause():
            pacer.pause(decision.seconds)
            stats.rate_limited += 1
            log.warning(
                "event=broadcast_429 broadcast_id=%d retry_after=%g",
                broadcast_id,
                decision.seconds,
            )
            return Outcome(user_id, "pending", decision.attempts, retry_at=decision.retry_at)
        case StopEngine():
            log.error(
                "event=broadcast_paused broadcast_id=%d reason=%r", broadcast_id, decision.reason
            )
            return Outcome(user_id, "pending", decision.attempts)
    return Outcome(
        user_id,
        decision.state,
        decision.attempts,
        message_id=decision.message_id,
        reason=decision.reason,
    )
