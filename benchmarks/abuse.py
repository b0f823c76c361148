"""A broadcast while patients browse and a few accounts flood the bot.

The real bot (`interventional-bot run`, its own process, default settings) delivers a broadcast
at 30/s to N recipients (default 3,000) through the Bot API emulator, which runs here with
Telegram's limits on (30 messages/s, 1/s per chat with bursts of 3, 429 with retry_after) and
with the simulated users. Four runs, each with a fresh emulator and database:

1. the broadcast alone;
2. the broadcast while one subscriber floods: 20 /start a second, all along;
3. the broadcast while ten users flood (ten updates a second each: /start, text, button
   presses, never waiting) and 50 patients browse (press a button, wait for the screen, read
   for 1-3 s, press again);
4. (the baseline for 3) the broadcast while the 50 patients browse, nobody flooding.

Printed side by side: the broadcast's rate (recipients / time from first to last message),
429s drawn by bulk sends and by any request, the browsing patients' press-to-edit time (from
the press's update being queued to the emulator receiving the edit of that chat) at p50 and
p99, and the bot process's peak RSS and its growth from just after start. Targets: rate in 2
and 3 at least 0.95 of 1; no 429 for a bulk send; browsing p99 in 3 at most 2x that of 4;
RSS growth under 100 MB.

    .venv/bin/python benchmarks/abuse.py [--recipients 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sys
import tempfile
import time
from asyncio.subprocess import Process
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert

from bot.broadcast import BroadcastDraft, queue_broadcast
from bot.config import PROJECT_ROOT
from bot.core.telegram_html import parse_html
from bot.storage import Storage, open_storage
from bot.storage.tables import subscriptions
from bot.testing import BotAPIEmulator, RateLimits, SimUser

NEWS = {
    "en": "<b>Open day</b> on Saturday: meet our interventional radiologists.",
    "zh_Hans": "<b>开放日</b>：周六与介入科医生见面。",
}
NEWS_PLAIN = {parse_html(text).text for text in NEWS.values()}
FIRST_RECIPIENT = 1_000_000
#: (name, users flooding, patients browsing); one flooding user is a subscriber sending /start.
SCENARIOS = [
    ("(1) alone", 0, 0),
    ("(2) one flooding", 1, 0),
    ("(3) 10 flood+50 read", 10, 50),
    ("(4) 50 reading", 0, 50),
]
FLOODERS = [2_000_000 + n for n in range(10)]
BROWSERS = [3_000_000 + n for n in range(50)]


@dataclass
class Figures:
    name: str
    rate: float = 0.0
    bulk_429: int = 0
    all_429: int = 0
    latencies: list[float] = field(default_factory=list)
    peak_rss_mb: float = 0.0
    rss_growth_mb: float = 0.0
    cpu_percent: float = 0.0
    replies_sent: int = 0

    def percentile(self, q: float) -> float | None:
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


# ---------------------------------------------------------------- the bot's process


async def start_bot(emulator: BotAPIEmulator, database_url: str) -> Process:
    env = {
        **os.environ,
        "BOT_TOKEN": emulator.token,
        "BOT_API_BASE_URL": emulator.base_url,
        "DATABASE_URL": database_url,
        "CONTENT_DIR": str(PROJECT_ROOT / "content"),
        "LOCALES_DIR": str(PROJECT_ROOT / "locales"),
        "LOG_LEVEL": "WARNING",
    }
    # ABUSE_PROFILE="-m cProfile -o bot.prof" profiles the bot's process.
    profile = os.environ.get("ABUSE_PROFILE", "").split()
    process = await asyncio.create_subprocess_exec(
        sys.executable, *profile, "-m", "bot", "run", env=env, cwd=PROJECT_ROOT
    )
    deadline = time.monotonic() + 60
    while not emulator.requests_for("getUpdates"):
        if process.returncode is not None or time.monotonic() > deadline:
            raise SystemExit(f"the bot did not start (exit code {process.returncode})")
        await asyncio.sleep(0.05)
    return process


async def stop_bot(process: Process) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), 20)
    except TimeoutError:
        process.kill()
        await process.wait()


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int, field_name: str) -> float:
    """VmRSS (now) or VmHWM (peak) of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


# ---------------------------------------------------------------- what the users do


async def flood_one_chat(emulator: BotAPIEmulator, user: SimUser, stop: asyncio.Event) -> None:
    """20 /start a second (60 in 3 s, as in issue 9), until ``stop``."""
    while not stop.is_set():
        emulator.deliver_text(user.id, "/start")
        await asyncio.sleep(0.05)


async def flood(emulator: BotAPIEmulator, user: SimUser, stop: asyncio.Event) -> None:
    """Ten updates a second: /start, text and presses on the menu, never waiting."""
    menu = user.last_bot_message()
    assert menu is not None
    n = 0
    while not stop.is_set():
        if n % 3 == 0:
            emulator.deliver_text(user.id, "/start" if n % 2 else "help me")
        else:
            data = "1:t:features" if n % 2 else "1:h"
            emulator.deliver_press(user.id, menu.message_id, data)
        n += 1
        await asyncio.sleep(0.1)


async def browse(
    emulator: BotAPIEmulator, user: SimUser, stop: asyncio.Event, rng: random.Random
) -> list[float]:
    """A patient reading: a button, the screen, 1-3 s of reading, the next button."""
    latencies = []
    n = 0
    while not stop.is_set():
        label = "Features" if n % 2 == 0 else "⬅ Back"
        n += 1
        press = await user.press(label, settle=0.0, within=60.0)
        edit = emulator.first_request_after("editMessageText", user.id, press.queued_at)
        if edit is not None:
            latencies.append(edit.time - press.queued_at)
        await asyncio.sleep(rng.uniform(1.0, 3.0))
    return latencies


# ---------------------------------------------------------------- one run


async def add_subscribers(storage: Storage, emulator: BotAPIEmulator, ids: list[int]) -> None:
    now = datetime.now(UTC)
    rows = [
        {
            "user_id": uid,
            "locale": "zh_Hans" if uid % 2 else "en",
            "subscribed_at": now,
            "unsubscribed_at": None,
            "blocked_at": None,
        }
        for uid in ids
    ]
    async with storage.engine.begin() as conn:
        for i in range(0, len(rows), 5000):
            await conn.execute(insert(subscriptions), rows[i : i + 5000])
    for uid in ids:
        emulator.user(uid, language_code="en")


async def act(
    emulator: BotAPIEmulator, recipients: list[int], flooders: int, browsers: int
) -> tuple[asyncio.Event, list[asyncio.Task[None]], list[asyncio.Task[list[float]]]]:
    """The users get their menu, then start flooding and browsing until the event is set."""
    one_chat = flooders == 1  # a subscriber: the broadcast goes to the flooding chat too
    ids = recipients[:1] if one_chat else FLOODERS[:flooders]
    flooding = [emulator.user(uid) for uid in ids]
    reading = [emulator.user(uid) for uid in BROWSERS[:browsers]]
    for user in flooding + reading:
        await user.send("/start", within=30)
    stop = asyncio.Event()
    rng = random.Random(2026)
    actors = [
        asyncio.create_task(
            flood_one_chat(emulator, u, stop) if one_chat else flood(emulator, u, stop)
        )
        for u in flooding
    ]
    readers = [asyncio.create_task(browse(emulator, u, stop, rng)) for u in reading]
    return stop, actors, readers


def bulk_figures(emulator: BotAPIEmulator, figures: Figures) -> None:
    """The broadcast's rate and 429s, from what the emulator received."""
    bulk = [
        r
        for r in emulator.requests_for("sendMessage")
        if parse_html(str(r.params.get("text", ""))).text in NEWS_PLAIN
    ]
    sent = sorted(r.time for r in bulk if r.ok)
    figures.rate = (len(sent) - 1) / (sent[-1] - sent[0]) if len(sent) > 1 else 0.0
    bulk_ids = {id(r) for r in bulk}
    replies = [
        r
        for r in emulator.requests_for("sendMessage")
        if r.ok and id(r) not in bulk_ids and sent and sent[0] <= r.time <= sent[-1]
    ]
    figures.replies_sent = len(replies)
    figures.bulk_429 = sum(1 for r in bulk if r.status == 429)
    figures.all_429 = emulator.stats.too_many_requests


async def one_run(
    name: str, recipients: int, tmp: str, *, flooders: int, browsers: int
) -> Figures:
    """One scenario: set up, start the bot, act while the broadcast goes out, measure."""
    figures = Figures(name)
    database_url = f"sqlite:///{tmp}/run{name[1]}.db"
    async with BotAPIEmulator(rate_limits=RateLimits(), spec_path=None) as emulator:
        storage = await open_storage(database_url)
        ids = list(range(FIRST_RECIPIENT, FIRST_RECIPIENT + recipients))
        await add_subscribers(storage, emulator, ids)
        process = await start_bot(emulator, database_url)
        try:
            await asyncio.sleep(1.0)
            rss_at_start = rss_mb(process.pid, "VmRSS")
            stop, actors, readers = await act(emulator, ids, flooders, browsers)
            cpu, wall = cpu_seconds(process.pid), time.perf_counter()
            broadcast_id = await queue_broadcast(storage, BroadcastDraft(NEWS), created_by=None)
            while (await storage.broadcast_status(broadcast_id)) != "done":  # noqa: ASYNC110
                await asyncio.sleep(0.5)
            cpu, wall = cpu_seconds(process.pid) - cpu, time.perf_counter() - wall
            figures.cpu_percent = 100 * cpu / wall
            stop.set()
            await asyncio.gather(*actors)
            for latencies in await asyncio.gather(*readers):
                figures.latencies += latencies
            figures.peak_rss_mb = rss_mb(process.pid, "VmHWM")
            figures.rss_growth_mb = figures.peak_rss_mb - rss_at_start
        finally:
            await stop_bot(process)
            await storage.close()
        bulk_figures(emulator, figures)
    return figures


# ---------------------------------------------------------------- the table


def row(label: str, values: list[str]) -> str:
    return f"{label:30}" + "".join(f"{v:>22}" for v in values)


def report(runs: list[Figures], recipients: int) -> None:
    alone, one_chat, ten, browsing = runs

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f} ms"

    print(f"\nabuse: a 30/s broadcast to {recipients} recipients, Telegram's limits on")
    print(row("", [f.name for f in runs]))
    print(row("broadcast rate (msg/s)", [f"{f.rate:.2f}" for f in runs]))
    print(row("  ratio to (1)", [f"{f.rate / alone.rate:.3f}" for f in runs]))
    print(row("429s from bulk sends", [str(f.bulk_429) for f in runs]))
    print(row("replies sent meanwhile", [str(f.replies_sent) for f in runs]))
    print(row("429s, all requests", [str(f.all_429) for f in runs]))
    print(row("browsing press-to-edit p50", [ms(f.percentile(0.5)) for f in runs]))
    print(row("browsing press-to-edit p99", [ms(f.percentile(0.99)) for f in runs]))
    print(row("browsing presses measured", [str(len(f.latencies)) for f in runs]))
    print(row("bot CPU while sending", [f"{f.cpu_percent:.0f} %" for f in runs]))
    print(row("bot peak RSS", [f"{f.peak_rss_mb:.0f} MB" for f in runs]))
    print(row("bot RSS growth from start", [f"{f.rss_growth_mb:.0f} MB" for f in runs]))
    p99_ten, p99_alone = ten.percentile(0.99) or 0.0, browsing.percentile(0.99) or 1.0
    checks = [
        ("rate in (2) and (3) >= 0.95 x (1)", min(one_chat.rate, ten.rate) >= 0.95 * alone.rate),
        ("no 429 for a bulk send", all(f.bulk_429 == 0 for f in runs)),
        ("browsing p99 in (3) <= 2 x browsing alone (4)", p99_ten <= 2 * p99_alone),
        ("RSS growth < 100 MB", all(f.rss_growth_mb < 100 for f in runs)),
    ]
    for label, met in checks:
        print(f"target: {label}: {'met' if met else 'NOT met'}")


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=3000)
    parser.add_argument("--only", help="one scenario (1-4), for a quick look; no table")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, flooders, browsers in SCENARIOS:
            if args.only and not name.startswith(f"({args.only})"):
                continue
            runs.append(
                await one_run(name, args.recipients, tmp, flooders=flooders, browsers=browsers)
            )
            print(f"{name}: done after {time.perf_counter() - started:.0f} s", flush=True)
    if len(runs) == len(SCENARIOS):
        report(runs, args.recipients)
    else:
        for figures in runs:
            print(
                figures.name,
                f"rate={figures.rate:.2f}/s cpu={figures.cpu_percent:.0f}%",
                f"replies={figures.replies_sent} p99={figures.percentile(0.99)}",
            )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
