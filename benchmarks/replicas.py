"""Three replicas on PostgreSQL: a broadcast with failover while patients browse (issue 10).

Real `interventional-bot run` processes in webhook mode behind a round-robin proxy (standing for
Caddy), on one PostgreSQL database, against the Bot API emulator with Telegram's limits on
(30 messages/s, 1/s per chat, 429 with retry_after). Two runs, each with a fresh schema:

1. three replicas: a 30/s broadcast to N recipients (default 10,000) while B patients (default
   200) browse across the replicas (press a button, wait for the screen, read 1-3 s) and T
   other users (default 0) type a question every 3-5 s (each answer is a new message: it counts
   against the bot's 30/s); the broadcast lease holder is SIGKILLed when a third is sent;
2. one replica, the same broadcast and browsing, nobody killed.

Printed side by side: the broadcast rate over the whole run (failover gap included) and its
ratio to 30/s (target >= 0.95 without typists; with typists the target is on bulk plus
interactive messages), 429s (target 0), recipients lost (0), duplicated (<= the in-doubt bound,
``resent_after_crash``), the failover gap (<= 10 s), the most messages in any one second, and
the browsing press-to-edit p50/p99.

    TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test \\
        .venv/bin/python benchmarks/replicas.py [--recipients 10000] [--browsers 200] [--typists 0]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sys
import time
from asyncio.subprocess import Process
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import itertools

from sqlalchemy import insert

from bot.broadcast import BroadcastDraft, queue_broadcast
from bot.config import PROJECT_ROOT
from bot.core.telegram_html import parse_html
from bot.storage import Storage, open_storage
from bot.storage.tables import subscriptions
from bot.testing import BotAPIEmulator, RateLimits, SimUser
from bot.testing.emulator.request_log import RecordedRequest
from tests.db_fixtures import drop_schema, fresh_schema_name, postgres_base_url, with_schema
from tests.webhook_helpers import (
    SECRET,
    WEBHOOK_URL,
    RoundRobinProxy,
    free_port,
    get,
    holder_pid,
    most_in_one_second,
)

NEWS = {  # as in benchmarks/abuse.py
    "en": "<b>Open day</b> on Saturday: meet our interventional radiologists.",
    "zh_Hans": "<b>开放日</b>：周六与介入科医生见面。",
}
NEWS_PLAIN = {parse_html(text).text for text in NEWS.values()}
FIRST_RECIPIENT = 1_000_000
BROWSERS = 3_000_000
QUESTIONS = ["what is tace", "does it hurt", "how long in hospital", "什么是介入治疗"]


@dataclass
class Figures:
    name: str
    rate: float = 0.0
    interactive_messages: int = 0
    bulk_429: int = 0
    all_429: int = 0
    lost: int = 0
    duplicated: int = 0
    resent_after_crash: int = 0
    failover_gap: float | None = None
    most_in_one_second: int = 0
    latencies: list[float] = field(default_factory=list)
    unanswered: int = 0

    def percentile(self, q: float) -> str:
        if not self.latencies:
            return "-"
        ordered = sorted(self.latencies)
        return f"{ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000:.0f} ms"


async def start_replica(emulator: BotAPIEmulator, database_url: str) -> tuple[Process, int, int]:
    hook, metrics = free_port(), free_port()
    env = {
        **os.environ,
        "BOT_TOKEN": emulator.token,
        "BOT_API_BASE_URL": emulator.base_url,
        "DATABASE_URL": database_url,
        "WEBHOOK_URL": WEBHOOK_URL,
        "WEBHOOK_SECRET": SECRET,
        "WEBHOOK_LISTEN": "127.0.0.1",
        "WEBHOOK_PORT": str(hook),
        "METRICS_LISTEN": "127.0.0.1",
        "METRICS_PORT": str(metrics),
        "LOG_LEVEL": "WARNING",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", env=env, cwd=PROJECT_ROOT
    )
    return process, hook, metrics


async def wait_ready(metrics_port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if (await get(f"http://127.0.0.1:{metrics_port}/readyz"))[0] == 200:
                return
        except OSError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit("a replica did not get ready")


async def add_subscribers(storage: Storage, emulator: BotAPIEmulator, ids: list[int]) -> None:
    now = datetime.now(UTC)
    rows = [
        {"user_id": uid, "locale": "zh_Hans" if uid % 2 else "en"}
        | {"subscribed_at": now, "unsubscribed_at": None, "blocked_at": None}
        for uid in ids
    ]
    async with storage.engine.begin() as conn:
        for i in range(0, len(rows), 5000):
            await conn.execute(insert(subscriptions), rows[i : i + 5000])
    for uid in ids:
        emulator.user(uid, language_code="en")


async def browse(
    emulator: BotAPIEmulator, user: SimUser, stop: asyncio.Event, rng: random.Random
) -> tuple[list[float], int]:
    """A patient reading (as in benchmarks/abuse.py): a button, the screen, 1-3 s, the next.
    Latencies, and the presses never answered within 20 s (their update was in the killed
    replica's hands: Telegram had its 200, so it does not send it again); such a patient
    starts over with /start."""
    latencies, unanswered = [], 0
    n = 0
    while not stop.is_set():
        label = "Features" if n % 2 == 0 else "⬅ Back"
        n += 1
        try:
            press = await asyncio.wait_for(user.press(label, settle=0.0, within=20.0), 25)
        except (AssertionError, TimeoutError):
            unanswered += 1
            await user.send("/start", within=60)
            n = 0
            continue
        edit = edit_after(emulator, user.id, press.queued_at)
        if edit is not None:
            latencies.append(edit.time - press.queued_at)
        await asyncio.sleep(rng.uniform(1.0, 3.0))
    return latencies, unanswered


def edit_after(emulator: BotAPIEmulator, chat_id: int, t: float) -> RecordedRequest | None:
    """The first edit of ``chat_id`` at or after ``t``, looked for from the newest request
    back (the emulator's own lookup scans from the first, which at tens of thousands of
    requests took the benchmark's, and so the emulator's, CPU)."""
    found = None
    for request in reversed(emulator.requests):
        if request.time < t:
            break
        if request.method == "editMessageText" and request.chat_id == chat_id:
            found = request
    return found


async def typist(
    emulator: BotAPIEmulator, user: SimUser, stop: asyncio.Event, rng: random.Random
) -> None:
    """A question typed every 3-5 s: each gets a new message (counted against 30/s)."""
    while not stop.is_set():
        emulator.deliver_text(user.id, rng.choice(QUESTIONS))
        await asyncio.sleep(rng.uniform(3.0, 5.0))


async def one_run(name: str, replicas: int, args: argparse.Namespace, base: str) -> Figures:
    """Over 60 lines: one scenario from setup to figures, in order."""
    figures = Figures(name)
    schema = fresh_schema_name()
    url = with_schema(base, schema)
    processes: list[Process] = []
    proxy: RoundRobinProxy | None = None
    try:
        async with (
            BotAPIEmulator(rate_limits=RateLimits(), spec_path=None) as emu,
            await open_storage(url) as storage,
        ):
            ids = list(range(FIRST_RECIPIENT, FIRST_RECIPIENT + args.recipients))
            await add_subscribers(storage, emu, ids)
            started = [await start_replica(emu, url) for _ in range(replicas)]
            processes = [p for p, _, _ in started]
            proxy = RoundRobinProxy([f"http://127.0.0.1:{hook}" for _, hook, _ in started])
            await proxy.start()
            emu.route_webhook(proxy.origin)
            await asyncio.gather(*(wait_ready(m) for _, _, m in started))
            readers = [emu.user(BROWSERS + n) for n in range(args.browsers)]
            for i in range(0, len(readers), 20):  # their menus, 20 a second (Telegram's 30/s)
                await asyncio.gather(*(u.send("/start", within=60) for u in readers[i : i + 20]))
                await asyncio.sleep(1.0)
            stop, rng = asyncio.Event(), random.Random(2026)
            browsing = [asyncio.create_task(browse(emu, u, stop, rng)) for u in readers]
            typists = [emu.user(BROWSERS + args.browsers + n) for n in range(args.typists)]
            typing = [asyncio.create_task(typist(emu, u, stop, rng)) for u in typists]
            broadcast_id = await queue_broadcast(storage, BroadcastDraft(NEWS), created_by=None)
            killed_at = None
            while (await storage.broadcast_status(broadcast_id)) != "done":
                if replicas > 1 and killed_at is None and emu.stats.messages_sent >= len(ids) / 3:
                    pid = await holder_pid(storage)
                    victim = next(p for p in processes if p.pid == pid)
                    victim.send_signal(signal.SIGKILL)
                    killed_at = time.perf_counter()
                await asyncio.sleep(0.2)
            stop.set()
            await asyncio.gather(*typing)
            for latencies, unanswered in await asyncio.gather(*browsing):
                figures.latencies += latencies
                figures.unanswered += unanswered
            summary = await storage.broadcast_summary(broadcast_id)
            assert summary is not None
            figures.resent_after_crash = summary.resent_after_crash
            measure(emu, ids, figures, killed_at)
    finally:
        for process in processes:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            await process.wait()
        if proxy is not None:
            await proxy.stop()
        await drop_schema(base, schema)
    return figures


def measure(
    emu: BotAPIEmulator, ids: list[int], figures: Figures, killed_at: float | None
) -> None:
    messages = emu.requests_for("sendMessage")
    bulk = [r for r in messages if parse_html(str(r.params.get("text", ""))).text in NEWS_PLAIN]
    sent = sorted(r.time for r in bulk if r.ok)
    figures.rate = (len(sent) - 1) / (sent[-1] - sent[0])
    bulk_ids = {id(r) for r in bulk}
    others = [r.time for r in messages if r.ok and id(r) not in bulk_ids]
    figures.interactive_messages = sum(1 for t in others if sent[0] <= t <= sent[-1])
    figures.bulk_429 = sum(1 for r in bulk if r.status == 429)
    # setWebhook draws 429s when replicas start together (by design): messages and edits only.
    figures.all_429 = sum(
        1
        for method in ("sendMessage", "editMessageText", "answerCallbackQuery")
        for r in emu.requests_for(method)
        if r.status == 429
    )
    counts = [len(emu.bot_messages(uid)) for uid in ids]
    figures.lost = sum(1 for n in counts if n == 0)
    figures.duplicated = sum(n - 1 for n in counts if n > 1)
    everything = sorted([*sent, *(t for t in others if sent[0] <= t <= sent[-1])])
    figures.most_in_one_second = most_in_one_second(everything)
    if killed_at is not None:  # the longest pause around the kill (requests in flight at the
        # kill may still arrive just after it)
        around = [t for t in sent if t >= killed_at - 2]
        figures.failover_gap = max(b - a for a, b in itertools.pairwise(around))


def report(runs: list[Figures], args: argparse.Namespace) -> None:
    def row(label: str, values: list[str]) -> None:
        print(f"{label:34}" + "".join(f"{v:>24}" for v in values))

    print(
        f"\nreplicas: a 30/s broadcast to {args.recipients} recipients while {args.browsers} "
        f"patients browse ({args.typists} typing), Telegram's limits on"
    )
    row("", [f.name for f in runs])
    row("broadcast rate (msg/s)", [f"{f.rate:.2f}" for f in runs])
    row("  ratio to 30/s", [f"{f.rate / 30:.3f}" for f in runs])
    row("interactive messages meanwhile", [str(f.interactive_messages) for f in runs])
    row("most messages in one second", [str(f.most_in_one_second) for f in runs])
    row("429s from bulk sends", [str(f.bulk_429) for f in runs])
    row("429s, messages and edits", [str(f.all_429) for f in runs])
    row("recipients lost", [str(f.lost) for f in runs])
    row("duplicated / in-doubt bound", [f"{f.duplicated} / {f.resent_after_crash}" for f in runs])
    gaps = [("-" if f.failover_gap is None else f"{f.failover_gap:.2f} s") for f in runs]
    row("failover gap", gaps)
    row("browsing press-to-edit p50", [f.percentile(0.5) for f in runs])
    row("browsing press-to-edit p99", [f.percentile(0.99) for f in runs])
    row("browsing presses measured", [str(len(f.latencies)) for f in runs])
    row("presses lost with the killed one", [str(f.unanswered) for f in runs])
    three = runs[0]
    checks = [
        ("rate >= 0.95 x 30/s (three replicas, failover included)", three.rate >= 0.95 * 30),
        ("no 429", all(f.all_429 == 0 for f in runs)),
        ("nobody lost", all(f.lost == 0 for f in runs)),
        ("duplicates within the bound", all(f.duplicated <= f.resent_after_crash for f in runs)),
        ("failover gap <= 10 s", three.failover_gap is not None and three.failover_gap <= 10),
    ]
    for label, met in checks:
        print(f"target: {label}: {'met' if met else 'NOT met'}")


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--browsers", type=int, default=200)
    parser.add_argument("--typists", type=int, default=0)
    args = parser.parse_args(argv)
    base = postgres_base_url()
    if base is None:
        raise SystemExit("set TEST_DATABASE_URL to a PostgreSQL database")
    started = time.perf_counter()
    runs = []
    for name, replicas in (("three, holder killed", 3), ("one replica", 1)):
        runs.append(await one_run(name, replicas, args, base))
        print(f"{name}: done after {time.perf_counter() - started:.0f} s", flush=True)
    report(runs, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
