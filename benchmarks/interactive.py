"""Press-to-edit latency: interventional-bot beside a bare python-telegram-bot echo bot.

200 simulated users press inline buttons concurrently through the Bot API emulator; for each
press we take the time from the moment its update is queued to the moment the emulator
receives the bot's editMessageText for that chat (both timestamps are taken in this process).
Each bot runs as its own process, as in production, polling the emulator that runs here with
the simulated users: ours is the real `interventional-bot run`; the bare bot is the smallest PTB
application that edits and answers with the same two screens (canned), with the same PTB
settings (concurrent updates, HTML defaults). Rounds alternate between the two, so the ratio
shows only what our handlers, rendering, locale resolution and storage add. Target: at most
1.2x the bare bot, median and p99.

    .venv/bin/python benchmarks/interactive.py [--users 200] [--presses 5] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import statistics
import sys
import tempfile
import time
from asyncio.subprocess import Process
from pathlib import Path

from telegram import LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import PROJECT_ROOT, Settings
from bot.core.content.bundle import load_content
from bot.core.render import Renderer
from bot.telegram_side.markup import to_markup
from bot.testing import BotAPIEmulator, SimUser

CONCURRENT_UPDATES = 256


def bare_application(token: str, base_url: str) -> Application:  # type: ignore[type-arg]
    """The smallest PTB bot that sends what ours sends: edit the message, answer.

    It serves two canned screens, our main menu and our Features topic, taken from our
    Renderer once at start, so both bots move the same bytes (text, entities, keyboards)
    through PTB and HTTP; what differs is only the work ours does per update.
    """
    settings = Settings.from_env(
        {
            "CONTENT_DIR": str(PROJECT_ROOT / "content"),
            "LOCALES_DIR": str(PROJECT_ROOT / "locales"),
        },
        require_token=False,
    )
    content = load_content(settings)
    renderer = Renderer(content.library, content.catalogs, settings.hospital)
    home, features = renderer.home("en"), renderer.topic("en", "features")
    screens = {
        data: (screen.text, to_markup(screen.keyboard))
        for data, screen in (("1:h", home), ("1:t:features", features))
    }

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        text, markup = screens["1:h"]
        await update.effective_message.reply_text(text, reply_markup=markup)

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        text, markup = screens.get(query.data or "", screens["1:h"])
        await query.edit_message_text(text, reply_markup=markup)
        await query.answer()

    app = (
        ApplicationBuilder()
        .token(token)
        .base_url(base_url)
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )
        .concurrent_updates(CONCURRENT_UPDATES)
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(echo))
    return app


async def serve_bare() -> int:
    """Run the bare bot the way `interventional-bot run` runs ours, until SIGTERM."""
    app = bare_application(os.environ["BOT_TOKEN"], os.environ["BOT_API_BASE_URL"])
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(allowed_updates=Update.ALL_TYPES)
        await stop.wait()
        await app.updater.stop()
        await app.stop()
    return 0


def bot_command(name: str) -> list[str]:
    if name == "ours":
        return [sys.executable, "-m", "bot", "run"]
    return [sys.executable, str(Path(__file__).resolve()), "--serve-bare"]


async def start_bot(name: str, emulator: BotAPIEmulator, database_url: str) -> Process:
    env = {
        **os.environ,
        "BOT_TOKEN": emulator.token,
        "BOT_API_BASE_URL": emulator.base_url,
        "DATABASE_URL": database_url,
        "CONTENT_DIR": str(PROJECT_ROOT / "content"),
        "LOCALES_DIR": str(PROJECT_ROOT / "locales"),
        "LOG_LEVEL": "WARNING",
    }
    process = await asyncio.create_subprocess_exec(*bot_command(name), env=env, cwd=PROJECT_ROOT)
    deadline = time.monotonic() + 30
    while not emulator.requests_for("getUpdates"):  # polling has started: the bot is ready
        if process.returncode is not None or time.monotonic() > deadline:
            raise SystemExit(f"the {name} bot did not start (exit code {process.returncode})")
        await asyncio.sleep(0.05)
    return process


async def stop_bot(process: Process) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), 15)
    except TimeoutError:
        process.kill()
        await process.wait()


async def drive(
    emulator: BotAPIEmulator,
    users: list[SimUser],
    labels: tuple[str, str],
    presses: int,
    rate: float,
) -> list[float]:
    """``presses`` presses per user, alternating two buttons, from all users concurrently.

    Presses arrive as a Poisson process of ``rate`` a second spread over the users in turn (a
    user still waiting for the bot finishes first), so that many users are in flight at once
    but the load stays below what the emulator and users in this one process can drive: the
    figures are the bot's, not a queue in front of the emulator.
    """
    rng = random.Random(2026)
    locks = {user.id: asyncio.Lock() for user in users}
    counts = dict.fromkeys(locks, 0)

    async def press(user: SimUser) -> float:
        async with locks[user.id]:
            label = labels[counts[user.id] % 2]
            counts[user.id] += 1
            done = await user.press(label, settle=0.0, within=60.0)
        edit = emulator.first_request_after("editMessageText", user.id, done.queued_at)
        assert edit is not None, "the bot never edited"
        return edit.time - done.queued_at

    await asyncio.gather(*(u.send("/start", settle=0.0, within=60.0) for u in users))
    # Let the /start burst drain, and let the connections it made the bot open outlive httpx's
    # 5 s keep-alive: a bot left with ~100 idle pooled connections pays a socket poll per
    # connection in httpcore on every request, an artefact of the burst, not of the bot.
    await asyncio.sleep(6.0)
    tasks = []
    for k in range(presses * len(users)):
        await asyncio.sleep(rng.expovariate(rate))
        tasks.append(asyncio.create_task(press(users[k % len(users)])))
    return list(await asyncio.gather(*tasks))


LABELS = {"bare": ("Features", "⬅ Back"), "ours": ("Features", "⬅ Back")}


async def one_round(
    name: str, users: int, presses: int, rate: float, database_url: str
) -> list[float]:
    # A fresh emulator per round: no transcript from an earlier round to search.
    async with BotAPIEmulator() as emulator:
        process = await start_bot(name, emulator, database_url)
        try:
            sims = [emulator.user(100_000 + i, language_code="en") for i in range(users)]
            samples = await drive(emulator, sims, LABELS[name], presses, rate)
        finally:
            await stop_bot(process)
        failed = [r for r in emulator.errors if r.method != "getUpdates"]
        assert not failed, failed[:3]
        return samples


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--presses", type=int, default=5, help="presses per user per round")
    parser.add_argument("--rate", type=float, default=80.0, help="presses per second, all users")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of each bot, alternating")
    parser.add_argument("--serve-bare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    samples: dict[str, list[float]] = {"bare": [], "ours": []}
    with tempfile.TemporaryDirectory() as tmp:
        database_url = f"sqlite:///{tmp}/bench.db"
        started = time.perf_counter()
        for round_no in range(args.rounds):
            for name in ("bare", "ours") if round_no % 2 == 0 else ("ours", "bare"):
                samples[name] += await one_round(
                    name, args.users, args.presses, args.rate, database_url
                )
        elapsed = time.perf_counter() - started

    n = len(samples["ours"])
    print(
        f"interactive: {args.users} users pressing concurrently (about {args.rate:g} presses/s "
        f"in all), {args.presses} presses each, {args.rounds} alternating rounds per bot "
        f"({n} presses per bot, {elapsed:.1f} s); each bot in its own process"
    )
    print("time from button press to the bot's editMessageText request, in milliseconds")
    print(f"{'':24}{'median':>10}{'p90':>10}{'p99':>10}")
    stats: dict[str, tuple[float, float, float]] = {}
    for name, label in (("bare", "bare PTB echo bot"), ("ours", "interventional-bot")):
        values = samples[name]
        stats[name] = (
            statistics.median(values) * 1000,
            percentile(values, 0.90) * 1000,
            percentile(values, 0.99) * 1000,
        )
        print(f"{label:24}" + "".join(f"{v:>10.1f}" for v in stats[name]))
    ratios = [o / b for o, b in zip(stats["ours"], stats["bare"], strict=True)]
    print(f"{'ratio ours/bare':24}" + "".join(f"{r:>9.2f}x" for r in ratios))
    verdict = "met" if ratios[0] <= 1.2 and ratios[2] <= 1.2 else "NOT met"
    print(f"target: at most 1.2x the bare bot on median and p99: {verdict}")
    return 0


if __name__ == "__main__":
    if "--serve-bare" in sys.argv:  # the bare bot's own process
        sys.exit(asyncio.run(serve_bare()))
    sys.exit(asyncio.run(main()))
