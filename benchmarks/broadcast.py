"""Broadcast delivery against the Bot API emulator with Telegram's limits on.

The emulator runs in its own process (``--serve-emulator``), as Telegram would be, so that its
HTTP handling does not share a core's event loop with the sender; the sender runs here. The
emulator counts, per chat, the messages it accepted, and answers 429 beyond 30 messages/s
overall, 1/s per chat (short bursts of 3), and 1000/s for ``allow_paid_broadcast``.

1. N recipients (default 10,000) at the 30/s limit: our engine, and beside it a plain loop
   over python-telegram-bot's AIORateLimiter (30/s): achieved rate / limit, 429s, lost and
   duplicated messages. Target: ratio >= 0.97, 0 429s, 0 lost, 0 duplicated.
2. Paid mode against the 1000/s limit: achieved rate (target >= 900/s); and, beside it, the
   ceiling of each transport with no limiter at all: PTB's default (httpx) and ours (aiohttp).
3. Memory: peak with 100,000 recipients queued, and the time to queue them.
4. When ``DATABASE_URL`` or ``TEST_DATABASE_URL`` names PostgreSQL: a million subscribers
   (``broadcast_million.py``, in a process of its own): time and peak RSS to queue them
   (targets <= 10 s, < 300 MB), and claim, outcome and progress costs at the first recipient
   and near the last, with the claim's plan.

    .venv/bin/python benchmarks/broadcast.py [--recipients 10000] [--paid-recipients 10000]
    .venv/bin/python benchmarks/broadcast.py --only-million   # part 4 alone
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert
from telegram import Bot
from telegram.error import RetryAfter, TelegramError
from telegram.ext import AIORateLimiter, ExtBot
from telegram.request import HTTPXRequest

from bot.broadcast import BroadcastDraft, queue_broadcast
from bot.broadcast.engine import BroadcastEngine, EngineConfig
from bot.config import PROJECT_ROOT
from bot.core.i18n import Catalogs
from bot.storage import Storage, open_storage
from bot.storage.tables import subscriptions
from bot.telegram_side.transport import AiohttpRequest
from bot.testing import BotAPIEmulator, RateLimits

TEXTS = {
    "en": "<b>Open day</b> on Saturday: meet our interventional radiologists.",
    "zh_Hans": "<b>开放日</b>：周六与介入科医生见面。",
}
FIRST_ID = 1_000_000
SCRIPT = str(Path(__file__).resolve())

# ---------------------------------------------------------------- the emulator's own process


async def serve_emulator(limits: bool) -> None:
    """Run an emulator; commands on stdin, one JSON answer per line on stdout."""
    rate_limits = RateLimits() if limits else None
    async with BotAPIEmulator(rate_limits=rate_limits, spec_path=None) as emu:
        emu.requests = _Discard()  # keep no per-request records
        print(json.dumps({"base_url": emu.base_url, "token": emu.token}), flush=True)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := (await reader.readline()).decode().strip():
            command, *args = line.split()
            if command == "users":
                start, count = int(args[0]), int(args[1])
                for uid in range(start, start + count):
                    emu.user(uid, language_code="en")
                print(json.dumps({"ok": True}), flush=True)
            elif command == "report":
                start, count = int(args[0]), int(args[1])
                counts = [len(emu.bot_messages(uid)) for uid in range(start, start + count)]
                times = sorted(
                    m.created for uid in range(start, start + count) for m in emu.bot_messages(uid)
                )
                print(
                    json.dumps(
                        {
                            "messages": sum(counts),
                            "lost": sum(1 for n in counts if n == 0),
                            "duplicated": sum(n - 1 for n in counts if n > 1),
                            "too_many_requests": emu.stats.too_many_requests,
                            "first": times[0] if times else 0.0,
                            "last": times[-1] if times else 0.0,
                        }
                    ),
                    flush=True,
                )
            elif command == "quit":
                break


class _Discard(list[Any]):
    def append(self, item: Any) -> None:
        pass


class Emulator:
    """The emulator process, from the sender's side."""

    def __init__(self, process: asyncio.subprocess.Process, base_url: str, token: str) -> None:
        self.process, self.base_url, self.token = process, base_url, token

    @classmethod
    async def start(cls, *, limits: bool = True) -> Emulator:
        args = [sys.executable, SCRIPT, "--serve-emulator"]
        if not limits:
            args.append("--no-limits")
        process = await asyncio.create_subprocess_exec(
            *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        hello = await cls._read(process)
        return cls(process, hello["base_url"], hello["token"])

    @staticmethod
    async def _read(process: asyncio.subprocess.Process) -> dict[str, Any]:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 120)
        result: dict[str, Any] = json.loads(line)
        return result

    async def ask(self, line: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write((line + "\n").encode())
        await self.process.stdin.drain()
        return await self._read(self.process)

    async def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(b"quit\n")
        await self.process.stdin.drain()
        await asyncio.wait_for(self.process.wait(), 30)


# ---------------------------------------------------------------- senders


async def add_subscribers(storage: Storage, start: int, count: int) -> None:
    now = datetime.now(UTC)
    rows = [
        {
            "user_id": uid,
            "locale": "zh_Hans" if uid % 2 else "en",
            "subscribed_at": now,
            "unsubscribed_at": None,
            "blocked_at": None,
        }
        for uid in range(start, start + count)
    ]
    async with storage.engine.begin() as conn:
        for i in range(0, len(rows), 5000):
            await conn.execute(insert(subscriptions), rows[i : i + 5000])


async def run_engine(emu: Emulator, recipients: int, *, paid: bool, tmp: str) -> dict[str, Any]:
    await emu.ask(f"users {FIRST_ID} {recipients}")
    storage = await open_storage(f"sqlite:///{tmp}/{'paid' if paid else 'bulk'}.db")
    await add_subscribers(storage, FIRST_ID, recipients)
    broadcast_id = await queue_broadcast(
        storage, BroadcastDraft(TEXTS, paid=paid), created_by=None
    )
    engine = BroadcastEngine(
        storage,
        Catalogs.load(PROJECT_ROOT / "locales", ["en", "zh_Hans"]),
        token=emu.token,
        base_url=emu.base_url,
        default_locale="en",
        config=EngineConfig(rate=30.0, paid_rate=1000.0, poll_interval=0.05),
    )
    await engine.start()
    try:
        while (await storage.broadcast_status(broadcast_id)) != "done":  # noqa: ASYNC110
            await asyncio.sleep(0.2)
    finally:
        await engine.stop()
        await storage.close()
    return await emu.ask(f"report {FIRST_ID} {recipients}")


async def run_ptb_limiter(emu: Emulator, recipients: int) -> dict[str, Any]:
    """The plain approach: a loop of send_message through PTB's AIORateLimiter at 30/s."""
    start = FIRST_ID + 10_000_000
    await emu.ask(f"users {start} {recipients}")
    limiter = AIORateLimiter(overall_max_rate=30, overall_time_period=1, max_retries=3)
    bot: ExtBot[Any] = ExtBot(emu.token, base_url=emu.base_url, rate_limiter=limiter)
    async with bot:
        for uid in range(start, start + recipients):
            with contextlib.suppress(RetryAfter, TelegramError):  # lost: the emulator counts it
                await bot.send_message(uid, TEXTS["en"], parse_mode="HTML")
    return await emu.ask(f"report {start} {recipients}")


async def transport_ceiling(emu: Emulator, request: Any, count: int, start: int) -> float:
    """sendMessage/s with no limiter, ``concurrency`` requests in flight."""
    await emu.ask(f"users {start} {count}")
    bot = Bot(emu.token, base_url=emu.base_url, request=request)
    concurrency = 32
    async with bot:
        queue = iter(range(start, start + count))

        async def worker() -> None:
            for uid in queue:
                await bot.send_message(uid, TEXTS["en"], parse_mode="HTML")

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return count / (time.perf_counter() - began)


def rate_of(report: dict[str, Any]) -> float:
    span = report["last"] - report["first"]
    return (report["messages"] - 1) / span if span > 0 else 0.0


async def memory_figure(tmp: str, count: int) -> tuple[float, float, float]:
    storage = await open_storage(f"sqlite:///{tmp}/memory.db")
    try:
        await add_subscribers(storage, FIRST_ID, count)
        tracemalloc.start()
        began = time.perf_counter()
        broadcast_id = await queue_broadcast(storage, BroadcastDraft(TEXTS), created_by=None)
        took = time.perf_counter() - began
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        summary = await storage.broadcast_summary(broadcast_id)
        assert summary is not None and summary.total == count, summary
    finally:
        await storage.close()
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB
    return took, peak / 2**20, max_rss


# ---------------------------------------------------------------- main


def million(subscribers: int) -> int:
    """Part 4 in a process of its own, so that its peak RSS is its own."""
    script = str(Path(__file__).resolve().parent / "broadcast_million.py")
    return subprocess.run(
        [sys.executable, script, "--subscribers", str(subscribers)], check=False
    ).returncode


async def main(args: argparse.Namespace) -> int:
    n = args.recipients
    print(
        f"broadcast benchmark: emulator in its own process, Telegram's limits on; {n:,} "
        "recipients at 30/s"
    )
    with tempfile.TemporaryDirectory() as tmp:
        # (3) first, so that the peak RSS is not that of the runs before it.
        took, traced, rss = await memory_figure(tmp, args.memory_recipients)

        emu = await Emulator.start()
        try:
            ours = await run_engine(emu, n, paid=False, tmp=tmp)
        finally:
            await emu.stop()
        emu = await Emulator.start()
        try:
            ptb = await run_ptb_limiter(emu, n)
        finally:
            await emu.stop()

        print(f"\n1. {n:,} recipients, limit 30 messages/s (expected {n / 30:.0f} s)")
        print(f"{'':28}{'rate/s':>9}{'ratio':>8}{'429s':>7}{'lost':>7}{'dup':>7}")
        for label, report in (
            ("interventional-bot engine", ours),
            ("PTB AIORateLimiter loop", ptb),
        ):
            rate = rate_of(report)
            print(
                f"{label:28}{rate:>9.2f}{rate / 30:>8.3f}{report['too_many_requests']:>7}"
                f"{report['lost']:>7}{report['duplicated']:>7}"
            )
        ratio = rate_of(ours) / 30
        ok1 = ratio >= 0.97 and ours["too_many_requests"] == 0 and not ours["lost"]
        ok1 = ok1 and not ours["duplicated"]
        print(
            f"target: ratio >= 0.97, 0 429s, 0 lost, 0 duplicated: {'met' if ok1 else 'NOT met'}"
        )

        emu = await Emulator.start()
        try:
            paid = await run_engine(emu, args.paid_recipients, paid=True, tmp=tmp)
        finally:
            await emu.stop()
        emu = await Emulator.start(limits=False)
        try:
            count = args.ceiling_requests
            httpx_rate = await transport_ceiling(
                emu, HTTPXRequest(connection_pool_size=64), count, 50_000_000
            )
            aiohttp_rate = await transport_ceiling(
                emu, AiohttpRequest(connection_pool_size=64), count, 60_000_000
            )
        finally:
            await emu.stop()
        paid_rate = rate_of(paid)
        print(f"\n2. paid broadcast, {args.paid_recipients:,} recipients, limit 1000 messages/s")
        print(
            f"interventional-bot engine (aiohttp transport): {paid_rate:.0f}/s "
            f"(429s {paid['too_many_requests']}, lost {paid['lost']}, "
            f"duplicated {paid['duplicated']})"
        )
        print(f"transport ceiling, no limiter, 32 in flight, {count:,} sendMessage each:")
        print(f"  PTB default (httpx):  {httpx_rate:>7.0f}/s")
        print(f"  ours (aiohttp):       {aiohttp_rate:>7.0f}/s")
        print(f"target: >= 900/s: {'met' if paid_rate >= 900 else 'NOT met'}")

        print(f"\n3. {args.memory_recipients:,} recipients queued (SQLite; planned in one SQL)")
        print(f"time to queue: {took:.2f} s; peak Python memory while queueing: {traced:.1f} MiB;")
        print(f"peak RSS of this process so far: {rss:.0f} MiB")
    return million(args.million_subscribers)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--paid-recipients", type=int, default=10_000)
    parser.add_argument("--memory-recipients", type=int, default=100_000)
    parser.add_argument("--ceiling-requests", type=int, default=5_000)
    parser.add_argument("--million-subscribers", type=int, default=1_000_000)
    parser.add_argument("--only-million", action="store_true", help="part 4 alone")
    parser.add_argument("--serve-emulator", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-limits", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.serve_emulator:
        asyncio.run(serve_emulator(not arguments.no_limits))
        sys.exit(0)
    if arguments.only_million:
        sys.exit(million(arguments.million_subscribers))
    sys.exit(asyncio.run(main(arguments)))
