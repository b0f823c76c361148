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
import bisect
import contextlib
import gc
import math
import os
import random
import resource
import signal
import statistics
import sys
import tempfile
import time
from asyncio.subprocess import Process
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
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
from bot.telegram_side.transport import AiohttpRequest
from bot.testing import BotAPIEmulator, SimUser
from bot.testing.emulator.chat_model import Press

CONCURRENT_UPDATES = 256


def bare_application(token: str, base_url: str, transport: str = "httpx") -> Application:  # type: ignore[type-arg]
    """The smallest PTB bot that sends what ours sends: edit the message, answer.

    It serves two canned screens, our main menu and our Features topic, taken from our
    Renderer once at start, so both bots move the same bytes (text, entities, keyboards)
    through PTB and HTTP; what differs is only the work ours does per update. ``transport``
    "httpx" is PTB's default; "aiohttp" is the transport under ours (``AiohttpRequest``, same
    pool and timeouts, without our pacing and observers), so the two bare bots show apart
    what the transport saves and what our own layers cost.
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

    builder = ApplicationBuilder()
    if transport == "aiohttp":
        builder = builder.request(
            AiohttpRequest(
                connection_pool_size=256,
                read_timeout=5.0,
                write_timeout=5.0,
                connect_timeout=5.0,
                pool_timeout=1.0,
            )
        )
    app = (
        builder.token(token)
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

    async def ignore(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A saturated bot's late answers fail ("query is too old"): counted by the emulator."""

    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(echo))
    app.add_error_handler(ignore)
    return app


async def serve_bare() -> int:
    """Run the bare bot the way `interventional-bot run` runs ours, until SIGTERM."""
    transport = sys.argv[sys.argv.index("--serve-bare") + 1]
    app = bare_application(os.environ["BOT_TOKEN"], os.environ["BOT_API_BASE_URL"], transport)
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
    """How to start the bot ``name``; with INTERACTIVE_PROFILE=PREFIX set, under cProfile,
    its stats written to PREFIX.NAME.prof at exit."""
    python = [sys.executable]
    if profile := os.environ.get("INTERACTIVE_PROFILE"):
        python += ["-m", "cProfile", "-o", f"{profile}.{name}.prof"]
    if name == "ours":
        return [*python, "-m", "bot", "run"]
    transport = name.removeprefix("bare-")
    return [*python, str(Path(__file__).resolve()), "--serve-bare", transport]


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


@dataclass
class Round:
    """What one round of one bot measured."""

    latencies: list[float] = field(default_factory=list)  # press → edit, handled presses
    shed: int = 0  # presses answered without the edit (dropped by flood control)
    lost: int = 0  # presses never answered (within 20 s)
    errors: int = 0  # requests the emulator refused (late answers of a saturated bot)
    span: float = 0.0  # first press queued → last edit, seconds
    cpu: float = 0.0  # the bot process's user + system seconds while the presses ran
    driver_cpu: float = 0.0  # this process's (emulator + users) user + system seconds


def process_cpu(pid: int) -> float:
    """User + system seconds of ``pid`` as its own accounting has them (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(emulator: BotAPIEmulator, presses: list[Press]) -> Round:
    """Each press's edit: the first editMessageText to its chat after it was queued, if it
    came before the press was answered (a press answered with no edit was shed)."""
    edits: dict[int | None, list[float]] = defaultdict(list)
    for request in emulator.requests_for("editMessageText"):
        edits[request.chat_id].append(request.time)
    result = Round()
    last = 0.0
    for press in presses:
        times = edits[press.chat_id]
        i = bisect.bisect_left(times, press.queued_at)
        if press.answered_at is None:
            result.lost += 1
            continue
        if i == len(times) or times[i] > press.answered_at:
            result.shed += 1
            continue
        result.latencies.append(times[i] - press.queued_at)
        last = max(last, times[i])
    if presses:
        result.span = max(last, *(p.answered_at or 0.0 for p in presses)) - min(
            p.queued_at for p in presses
        )
    return result


async def drive(
    emulator: BotAPIEmulator,
    users: list[SimUser],
    labels: tuple[str, str],
    presses: int,
    rate: float,
) -> list[Press]:
    """``presses`` presses per user, alternating two buttons, from all users concurrently.

    Presses arrive as a Poisson process of ``rate`` a second spread over the users in turn (a
    user still waiting for the bot finishes first). Nothing is looked up while presses are
    running (edits are matched afterwards, :func:`measure`), so this process, which is also
    the emulator, stays out of the way of the bot.
    """
    rng = random.Random(2026)
    locks = {user.id: asyncio.Lock() for user in users}
    counts = dict.fromkeys(locks, 0)

    async def press(user: SimUser) -> Press:
        async with locks[user.id]:
            label = labels[counts[user.id] % 2]
            counts[user.id] += 1
            done = await user.press(label, wait=False)
            # Past Telegram's answer window the press is lost (a saturated bot): counted.
            with contextlib.suppress(AssertionError):
                await user.wait_answered(done, within=20.0, settle=0.0)
            return done

    tasks = []
    due = time.perf_counter()
    for k in range(presses * len(users)):
        due += rng.expovariate(rate)  # arrival times fixed in advance: sleeping lags, they do not
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        tasks.append(asyncio.create_task(press(users[k % len(users)])))
    return list(await asyncio.gather(*tasks))


LABELS = ("Features", "⬅ Back")


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """This process's garbage collector off while presses are timed.

    This process is the emulator and the users; its transcript grows by every request, and a
    full collection walking it stopped the event loop for 10-40 ms, long enough that the
    presses due meanwhile were queued at once and reached the bot as one burst: that burst,
    not either bot, set the p99 (at 350/s, 11-17 ms with the collector on, 5.5-6 ms with it
    off, for both bots alike). A round's garbage (seconds of requests) waits until after.
    """
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


async def one_round(name: str, users: int, presses: int, rate: float, database_url: str) -> Round:
    # A fresh emulator per round: no transcript from an earlier round to search.
    async with BotAPIEmulator() as emulator:
        process = await start_bot(name, emulator, database_url)
        try:
            sims = [emulator.user(100_000 + i, language_code="en") for i in range(users)]
            await asyncio.gather(*(u.send("/start", settle=0.0, within=60.0) for u in sims))
            # Let the /start burst drain, and let the connections it made the bot open outlive
            # httpx's 5 s keep-alive: a bot left with ~100 idle pooled connections pays a socket
            # poll per connection in httpcore on every request, an artefact of the burst.
            await asyncio.sleep(6.0)
            cpu, driver_cpu = process_cpu(process.pid), own_cpu()
            with collector_paused():
                done = await drive(emulator, sims, LABELS, presses, rate)
            cpu, driver_cpu = process_cpu(process.pid) - cpu, own_cpu() - driver_cpu
        finally:
            await stop_bot(process)
        result = measure(emulator, done)
        # A saturated bot's late answers are refused ("query is too old"): counted, not fatal.
        result.errors = sum(r.method != "getUpdates" for r in emulator.errors)
        result.cpu, result.driver_cpu = cpu, driver_cpu
        return result


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class Figures:
    """One bot at one rate, all its rounds together."""

    rounds: list[Round]

    @property
    def latencies(self) -> list[float]:
        return [x for r in self.rounds for x in r.latencies]

    def ms(self, q: float) -> float:
        values = self.latencies
        if not values:
            return math.inf
        return (statistics.median(values) if q == 0.5 else percentile(values, q)) * 1000

    @property
    def handled(self) -> int:
        return sum(len(r.latencies) for r in self.rounds)

    @property
    def shed(self) -> int:
        return sum(r.shed for r in self.rounds)

    @property
    def lost(self) -> int:
        return sum(r.lost for r in self.rounds)

    @property
    def achieved(self) -> float:
        """Presses handled a second: handled / (first press → last edit), over the rounds."""
        return self.handled / sum(r.span for r in self.rounds)

    @property
    def cpu_ms(self) -> float:
        """The bot process's CPU milliseconds per handled press (user + system)."""
        return sum(r.cpu for r in self.rounds) * 1000 / max(1, self.handled)

    @property
    def driver_load(self) -> float:
        """The share of one core this process (emulator and users) used."""
        return sum(r.driver_cpu for r in self.rounds) / sum(r.span for r in self.rounds)

    def saturated(self, rate: float) -> bool:
        """Handling under 90 % of the offered rate, or p99 over two seconds."""
        return self.achieved < 0.9 * rate or self.ms(0.99) > SATURATED_P99_MS


SATURATED_P99_MS = 2000.0


BOTS = ("bare-httpx", "bare-aiohttp", "ours")
NAMES = {
    "bare-httpx": "bare PTB bot (httpx)",
    "bare-aiohttp": "bare PTB bot (aiohttp)",
    "ours": "interventional-bot",
}


async def measure_rate(
    users: int,
    presses: int,
    rate: float,
    rounds: int,
    database_url: str,
    *,
    bots: tuple[str, ...] = BOTS,
) -> dict[str, Figures]:
    """``rounds`` rounds of each bot at ``rate``, the order reversed every other round."""
    results: dict[str, list[Round]] = {name: [] for name in bots}
    for round_no in range(rounds):
        for name in bots if round_no % 2 == 0 else bots[::-1]:
            results[name].append(await one_round(name, users, presses, rate, database_url))
    return {name: Figures(r) for name, r in results.items()}


def print_single(args: argparse.Namespace, figures: dict[str, Figures], elapsed: float) -> None:
    n = max(f.handled for f in figures.values())
    print(
        f"interactive: {args.users} users pressing concurrently (about {args.rate:g} presses/s "
        f"in all), {args.presses} presses each, {args.rounds} rounds per bot, order alternating "
        f"({n} presses handled, {elapsed:.1f} s); each bot in its own process"
    )
    print("time from button press to the bot's editMessageText request, in milliseconds;")
    print("CPU: the bot process's user + system milliseconds per handled press")
    print(f"{'':24}{'median':>10}{'p90':>10}{'p99':>10}{'CPU':>10}{'shed':>6}{'lost':>6}")
    stats: dict[str, list[float]] = {}
    for name, f in figures.items():
        stats[name] = [f.ms(0.5), f.ms(0.9), f.ms(0.99), f.cpu_ms]
        print(f"{NAMES[name]:24}" + "".join(f"{v:>10.1f}" for v in stats[name][:3]), end="")
        print(f"{f.cpu_ms:>10.2f}{f.shed:>6}{f.lost:>6}")
    if "ours" not in stats:
        return
    for bare in [b for b in BOTS[:2] if b in stats]:
        ratios = [o / b for o, b in zip(stats["ours"], stats[bare], strict=True)]
        label = f"ours / {bare.removeprefix('bare-')}"
        print(f"{label:24}" + "".join(f"{r:>9.2f}x" for r in ratios))
    if "bare-httpx" in stats:
        met = (
            stats["ours"][2] <= 1.2 * stats["bare-httpx"][2]
            and stats["ours"][3] <= 1.3 * stats["bare-httpx"][3]
        )
        verdict = "met" if met else "NOT met"
        print(f"targets (p99 at most 1.2x, CPU at most 1.3x the bare PTB bot): {verdict}")


SWEEP_RATES = (80, 120, 160, 200, 250, 300, 350, 400, 500, 600)


def sweep_users(users: int, rate: float) -> int:
    """Enough users that each presses under 0.75 times a second: the sweep measures the
    bot's capacity, not the per-chat reply pace (about 1/s) or the per-user admission."""
    return max(users, math.ceil(rate / 0.75))


def sweep_row(rate: float, users: int, f: dict[str, Figures]) -> str:
    """One rate: each bot's p50, p99, handled/offered and CPU (blank once it saturated for
    good), presses ours shed, ours over each bare bot, and the driver's own load."""
    cells = []
    for name in BOTS:
        if name not in f:
            cells.append(" " * 25)
            continue
        mark = "*" if f[name].saturated(rate) else " "
        cells.append(
            f"{f[name].ms(0.5):>6.0f}{f[name].ms(0.99):>7.0f}{mark}"
            f"{f[name].achieved / rate:>5.0%}{f[name].cpu_ms:>6.2f}"
        )
    o = f.get("ours")

    def ratio(bare: str, q: float | None) -> str:
        """ours / ``bare``: of the ``q`` percentile, or of the CPU per update (None)."""
        if o is None or bare not in f:
            return "     -"
        mine, theirs = (o.cpu_ms, f[bare].cpu_ms) if q is None else (o.ms(q), f[bare].ms(q))
        return f"{mine / theirs:>5.2f}x"

    ratios = [ratio(b, q) for q in (0.5, 0.99, None) for b in BOTS[:2]]
    driver = max(x.driver_load for x in f.values())
    shed = f"{o.shed:>5}" if o else "     "
    return (
        f"{rate:>5.0f}{users:>6} |"
        + " |".join(cells)
        + f"{shed} |"
        + "".join(ratios)
        + f" |{driver:>4.0%}"
    )


SWEEP_HEADER = (
    " " * 13
    + " |".join(
        f"{label:^25}"
        for label in ("bare PTB (httpx)", "bare PTB (aiohttp)", "interventional-bot")
    )
    + f"{'shed':>5} |{'ours / bare (httpx, aiohttp)':^36}| drv\n"
    + " rate users |"
    + " |".join(["   p50    p99   got   CPU"] * 3)
    + "      |   p50 x(h,a)   p99 x(h,a)   CPU x(h,a) |"
)


async def sweep(args: argparse.Namespace, database_url: str) -> None:
    """Rates from 80/s up until every bot saturates; a row per rate, then the knees.

    A bot saturated at two rates in a row is not run at higher rates; its knee is the last
    rate at which it was not saturated (one saturated rate between good ones is taken for
    noise: other processes share these two cores)."""
    print(
        f"interactive capacity sweep: {args.rounds} rounds per bot and rate (order alternating), "
        f"{args.presses} presses per user per round, users = max({args.users}, rate / 0.75); "
        f"saturated (*) = handled under 90 % of the offered rate, or p99 over "
        f"{SATURATED_P99_MS:.0f} ms"
    )
    print(
        "p50/p99: press to editMessageText, ms; got: handled / offered; CPU: the bot process's "
        "user + system ms per handled press; drv: the emulator and users' share of a core"
    )
    print(SWEEP_HEADER)
    chosen = tuple(name for name in BOTS if name in args.bots.split(","))
    knees: dict[str, float | None] = dict.fromkeys(BOTS)
    streak = {name: 0 if name in chosen else 2 for name in BOTS}
    rows: dict[float, dict[str, Figures]] = {}
    for rate in [r for r in SWEEP_RATES if args.min_rate <= r <= args.max_rate]:
        users = sweep_users(args.users, rate)
        bots = tuple(name for name in BOTS if streak[name] < 2)
        rows[rate] = f = await measure_rate(
            users, args.presses, rate, args.rounds, database_url, bots=bots
        )
        for name in bots:
            streak[name] = streak[name] + 1 if f[name].saturated(rate) else 0
            if not streak[name]:
                knees[name] = rate
        print(sweep_row(rate, users, f), flush=True)
        if all(streak[name] >= 2 for name in BOTS):
            break
    print_knees(knees, rows, {name for name in chosen if streak[name]})


def print_knees(
    knees: dict[str, float | None], rows: dict[float, dict[str, Figures]], saturated: set[str]
) -> None:
    """The knee of each bot (its last rate before saturating), and the two targets' ratios
    at every rate up to the knee of the bare bot in question."""
    for name in [n for n in BOTS if any(n in row for row in rows.values())]:
        knee = knees[name]
        if name not in saturated:
            print(f"the {NAMES[name]} did not saturate up to {knee:g}/s")
            continue
        print(f"knee of the {NAMES[name]}: " + (f"{knee:g}/s" if knee else "below the first rate"))
    for bare in BOTS[:2]:
        upto = [
            r for r in rows if r <= (knees[bare] or 0) and bare in rows[r] and "ours" in rows[r]
        ]
        if not upto:
            continue
        p99 = [rows[r]["ours"].ms(0.99) / rows[r][bare].ms(0.99) for r in upto]
        cpu = [rows[r]["ours"].cpu_ms / rows[r][bare].cpu_ms for r in upto]
        print(
            f"ours / {NAMES[bare]} up to its knee: p99 "
            + ", ".join(f"{r:g}/s {x:.2f}x" for r, x in zip(upto, p99, strict=True))
            + f" (target 1.2x: {'met' if max(p99) <= 1.2 else 'NOT met'}); CPU per update "
            + f"median {statistics.median(cpu):.2f}x (target 1.3x: "
            + f"{'met' if statistics.median(cpu) <= 1.3 else 'NOT met'})"
        )


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--presses", type=int, default=5, help="presses per user per round")
    parser.add_argument("--rate", type=float, default=80.0, help="presses per second, all users")
    parser.add_argument(
        "--rounds",
        type=int,
        help="rounds of each bot, alternating (default 2; with --sweep 4: a p99 of a few ms "
        "moves by 1-2 ms from round to round, as much as the 1.2x target allows)",
    )
    parser.add_argument("--sweep", action="store_true", help="rates from 80/s up to saturation")
    parser.add_argument("--bots", default=",".join(BOTS), help="which bots, comma-separated")
    parser.add_argument("--min-rate", type=float, default=0, help="the sweep's first rate")
    parser.add_argument("--max-rate", type=float, default=600, help="the sweep's last rate")
    parser.add_argument("--serve-bare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = 4 if args.sweep else 2

    with tempfile.TemporaryDirectory() as tmp:
        database_url = f"sqlite:///{tmp}/bench.db"
        if args.sweep:
            await sweep(args, database_url)
            return 0
        started = time.perf_counter()
        bots = tuple(args.bots.split(","))
        figures = await measure_rate(
            args.users, args.presses, args.rate, args.rounds, database_url, bots=bots
        )
        print_single(args, figures, time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    if "--serve-bare" in sys.argv:  # the bare bot's own process
        sys.exit(asyncio.run(serve_bare()))
    sys.exit(asyncio.run(main()))
