"""A million subscribers on PostgreSQL: queueing, claiming and progress at both ends.

Run by ``benchmarks/broadcast.py`` in a process of its own (so the peak RSS is this part's
alone) when ``DATABASE_URL`` or ``TEST_DATABASE_URL`` names PostgreSQL; or directly:

    DATABASE_URL=postgresql://... .venv/bin/python benchmarks/broadcast_million.py [-n 1000000]

It works in a scratch schema, dropped at the end. Subscribers are seeded by ``generate_series``
inside the database. Figures:

1. time to queue a broadcast to every subscriber (target <= 10 s) and to an interest (the
   ``subscription_interests`` filter), and the peak RSS of this process (target < 300 MB);
2. the cost of one claim of 30 recipients, of writing their outcomes, and of reading the
   progress summary, at the first recipient and near the last, side by side with the ratio
   (target: about 1); and the plan PostgreSQL chose for the claim (EXPLAIN ANALYZE).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import secrets
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from bot.storage import Outcome, Storage, open_storage, parse_database_url

TEXTS = {"en": "<b>News</b>", "zh_Hans": "<b>新闻</b>"}
BATCH = 30  # one claim: a second of sending at 30/s
ROUNDS = 50


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB


def database_url() -> str | None:
    for name in ("DATABASE_URL", "TEST_DATABASE_URL"):
        url = os.environ.get(name, "")
        if url.startswith("postgres"):
            return url
    return None


async def seed(admin: AsyncEngine, schema: str, n: int) -> None:
    """n active subscribers; a third picked "treatments", a fifth "events" (on an engine
    without the bot's statement bound)."""
    async with admin.begin() as conn:
        await conn.exec_driver_sql(f'SET LOCAL search_path TO "{schema}"')
        await conn.execute(
            text(
                "INSERT INTO subscriptions (user_id, locale, subscribed_at)"
                " SELECT g, CASE WHEN g % 2 = 0 THEN 'en' ELSE 'zh_Hans' END, now()"
                " FROM generate_series(1, :n) AS g"
            ),
            {"n": n},
        )
        for interest, every in (("treatments", 3), ("events", 5)):
            await conn.execute(
                text(
                    "INSERT INTO subscription_interests (user_id, interest_id)"
                    " SELECT g, :i FROM generate_series(1, :n) AS g WHERE g % :k = 0"
                ),
                {"n": n, "i": interest, "k": every},
            )
    async with admin.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.exec_driver_sql(f'ANALYZE "{schema}".subscriptions')
        await conn.exec_driver_sql(f'ANALYZE "{schema}".subscription_interests')


async def timed(call: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    began = time.perf_counter()
    result = await call()
    return time.perf_counter() - began, result


async def costs(storage: Storage, broadcast_id: int) -> dict[str, float]:
    """Median ms of a claim of BATCH, of recording them sent, and of the progress summary."""
    claims, records, summaries = [], [], []
    for _ in range(ROUNDS):
        took, claim = await timed(lambda: storage.claim_recipients(broadcast_id, BATCH))
        claims.append(took)
        assert len(claim.recipients) == BATCH, claim
        outcomes = [Outcome(r.user_id, "sent", 1, message_id=1) for r in claim.recipients]
        took, _ = await timed(lambda: storage.record_outcomes(broadcast_id, outcomes))  # noqa: B023
        records.append(took)
        took, _ = await timed(lambda: storage.progress_summary(broadcast_id))
        summaries.append(took)
    return {
        "claim 30": statistics.median(claims) * 1000,
        "record 30 outcomes": statistics.median(records) * 1000,
        "progress summary": statistics.median(summaries) * 1000,
    }


async def jump_near_the_end(admin: AsyncEngine, schema: str, broadcast_id: int, n: int) -> int:
    """Every recipient but the last 1,000 + ROUNDS × BATCH becomes sent (1 % failed), as a long
    run would leave them, in one UPDATE; the counts are set to match. Returns the first user
    id left pending."""
    left = 1000 + ROUNDS * BATCH
    first_left = n - left + 1
    async with admin.begin() as conn:
        await conn.exec_driver_sql(f'SET LOCAL search_path TO "{schema}"')
        await conn.execute(
            text(
                "UPDATE broadcast_recipients SET"
                " state = CASE WHEN user_id % 100 = 0 THEN 'failed' ELSE 'sent' END,"
                " reason = CASE WHEN user_id % 100 = 0 THEN 'chat not found' END,"
                " attempts = 1, updated_at = now()"
                " WHERE broadcast_id = :b AND state = 'pending' AND user_id < :first"
            ),
            {"b": broadcast_id, "first": first_left},
        )
        await conn.execute(
            text(
                "UPDATE broadcasts SET"
                " recipients_pending = (SELECT count(*) FROM broadcast_recipients"
                "  WHERE broadcast_id = :b AND state = 'pending'),"
                " recipients_sent = (SELECT count(*) FROM broadcast_recipients"
                "  WHERE broadcast_id = :b AND state = 'sent'),"
                " recipients_failed = (SELECT count(*) FROM broadcast_recipients"
                "  WHERE broadcast_id = :b AND state = 'failed')"
                " WHERE id = :b"
            ),
            {"b": broadcast_id},
        )
    return first_left


async def vacuum(admin: AsyncEngine, schema: str) -> None:
    """What autovacuum does during the hours a million-recipient broadcast takes at 30/s."""
    async with admin.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.exec_driver_sql(f'VACUUM ANALYZE "{schema}".broadcast_recipients')


async def plan_of(
    storage: Storage, call: Callable[[], Awaitable[Any]], table: str, *, analyze: bool
) -> list[str]:
    """EXPLAIN (ANALYZE when ``analyze``) of the statements on ``table`` that ``call`` sends,
    as the driver got them, each in a transaction that is rolled back (``call`` itself runs
    for real first)."""
    captured: list[tuple[str, Any]] = []

    def capture(_c: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().startswith((f"UPDATE {table}", f"INSERT INTO {table}")):
            captured.append((statement, parameters))

    # On every engine: queueing runs on an engine of its own (Storage._queueing).
    event.listen(Engine, "before_cursor_execute", capture)
    try:
        await call()
    finally:
        event.remove(Engine, "before_cursor_execute", capture)
    options = "ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF" if analyze else "COSTS OFF"
    lines: list[str] = []
    async with storage.engine.connect() as conn:
        for statement, parameters in captured:
            trans = await conn.begin()
            result = await conn.exec_driver_sql(f"EXPLAIN ({options}) {statement}", parameters)
            lines += [str(row[0]) for row in result] + [""]
            await trans.rollback()
    return lines


async def run(url: str, n: int) -> int:
    schema = f"bench_{secrets.token_hex(5)}"
    target = parse_database_url(url, schema=schema)
    scoped = target.url.update_query_dict({"schema": schema}).render_as_string(hide_password=False)
    admin = create_async_engine(parse_database_url(url).url, poolclass=NullPool)
    async with admin.begin() as conn:
        await conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        async with await open_storage(scoped) as storage:
            return await measure(storage, admin, schema, n)
    finally:
        async with admin.begin() as conn:
            await conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.dispose()


async def measure(storage: Storage, admin: AsyncEngine, schema: str, n: int) -> int:
    took_seed, _ = await timed(lambda: seed(admin, schema, n))
    rss_before = rss_mib()

    def queue(interests: list[str] | None) -> Awaitable[int]:
        return storage.create_broadcast(
            texts=TEXTS, locales=None, interests=interests, send_at=None, paid=False,
            created_by=None,
        )  # fmt: skip

    took_all, broadcast_id = await timed(lambda: queue(None))
    took_interest, filtered_id = await timed(lambda: queue(["events"]))
    rss_after = rss_mib()
    whole = await storage.broadcast_summary(broadcast_id)
    filtered = await storage.broadcast_summary(filtered_id)
    assert whole is not None and filtered is not None
    assert whole.total == whole.pending == n, whole

    print(f"\n4. {n:,} subscribers on PostgreSQL (seeded by generate_series in {took_seed:.1f} s)")
    ok_time = took_all <= 10
    print(f"queue to all {whole.total:,}: {took_all:.2f} s (target <= 10 s: "
          f"{'met' if ok_time else 'NOT met'})")  # fmt: skip
    print(f"queue to interest 'events' (or none picked), {filtered.total:,}: "
          f"{took_interest:.2f} s")  # fmt: skip
    ok_rss = rss_after < 300
    print(f"peak RSS of this process: {rss_before:.0f} MiB before queueing, {rss_after:.0f} MiB "
          f"after (target < 300 MB: {'met' if ok_rss else 'NOT met'})")  # fmt: skip

    start = await costs(storage, broadcast_id)
    first_left = await jump_near_the_end(admin, schema, broadcast_id, n)
    unvacuumed = statistics.median(
        [(await timed(lambda: storage.claim_recipients(broadcast_id, BATCH)))[0] for _ in range(5)]
    )
    await vacuum(admin, schema)
    end = await costs(storage, broadcast_id)
    print(f"\ncost at the first recipient and near the last (recipient {first_left:,} of {n:,}),"
          f" median of {ROUNDS}, ms:")  # fmt: skip
    print(f"{'':22}{'first':>9}{'last':>9}{'ratio':>8}")
    for name, first in start.items():
        print(f"{name:22}{first:>9.2f}{end[name]:>9.2f}{end[name] / first:>8.2f}")
    print(f"claim 30 at the end straight after the bulk UPDATE, before VACUUM (a million dead "
          f"index entries to step over): {unvacuumed * 1000:.2f} ms")  # fmt: skip
    took, summary = await timed(lambda: storage.broadcast_summary(broadcast_id))
    print(f"full summary with failure reasons near the end ({summary.failed:,} failed rows "
          f"grouped through the index): {took * 1000:.1f} ms")  # fmt: skip
    # The claim's rows stay claimed: the benchmark ends here.
    claim = await plan_of(
        storage,
        lambda: storage.claim_recipients(broadcast_id, BATCH),
        "broadcast_recipients",
        analyze=True,
    )
    print("\nthe claim near the end (its two statements, EXPLAIN ANALYZE, rolled back):")
    print("\n".join("  " + line for line in claim))
    rare = await plan_of(storage, lambda: queue(["rare"]), "broadcast_recipients", analyze=False)
    print("queueing to an interest (the plan only; for 'events' a hash join is cheaper):")
    print("\n".join("  " + line for line in rare))
    return 0 if ok_time and ok_rss else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--subscribers", type=int, default=1_000_000)
    args = parser.parse_args()
    url = database_url()
    if url is None:
        print("4. a million subscribers: skipped (DATABASE_URL or TEST_DATABASE_URL must name "
              "PostgreSQL)")  # fmt: skip
        return 0
    return asyncio.run(run(url, args.subscribers))


if __name__ == "__main__":
    sys.exit(main())
