"""A rolling restart: each replica replaced in turn, during a broadcast and while patients browse.

Two `run` processes in webhook mode on one PostgreSQL database (TEST_DATABASE_URL; skipped
without it), behind the round-robin proxy with health checks on `/readyz` (as deploy/Caddyfile).
The emulator enforces Telegram's limits and posts each update again until it gets a 2xx, as
Telegram does. Each replica in turn gets SIGTERM (it stops accepting, answers 503, finishes
what it holds, releases the broadcast lease) and a new process takes its ports. Nothing may be
lost and, the stops being clean, nothing sent twice.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from bot.broadcast import BroadcastDraft, queue_broadcast
from bot.storage import Storage, open_storage
from bot.testing import BotAPIEmulator, RateLimits
from bot.testing.emulator.sim_user import SimUser
from tests.test_broadcast import TEXTS
from tests.test_replicas import TOKEN, Replica, assert_clean_exit, start_replica
from tests.webhook_helpers import (
    WEBHOOK_PATH,
    Receiver,
    RoundRobinProxy,
    free_port,
    holder_pid,
    post,
    wait_until,
)

RECIPIENTS = range(1, 301)
BROWSERS = range(5001, 5005)
#: Users who send BURST updates at once just before a SIGTERM (another set at each).
BURSTS = range(6001, 6004)
BURST = 3
#: Slow enough that both replacements (a process starts in a few seconds) fall inside it.
BROADCAST_RATE = "20"
#: How long one browsing step may wait for its answer: redeliveries included, generous.
ANSWER_WITHIN = 30.0
#: Issue 10: another replica takes over within 10 s when the holder dies, at once when it stops.
FAILOVER_BOUND = 10.0


async def browse(user: SimUser, stop: asyncio.Event, done: Counter[str]) -> None:
    """/start, then a button, again and again: each step waits for its answer."""
    while not stop.is_set():
        await user.send("/start", within=ANSWER_WITHIN)
        done["/start"] += 1
        press = await user.press("Features", within=ANSWER_WITHIN)
        assert press.answered
        assert user.last_text().startswith("Home › Features")
        done["press"] += 1


async def replace_each(
    replicas: list[Replica],
    proxy: RoundRobinProxy,
    start: Callable[[str, dict[str, str]], Awaitable[Replica]],
    stopped: list[tuple[Replica, int]],
    bursts: list[list[SimUser]],
    remaining: Callable[[], Awaitable[int]],
) -> list[int]:
    """SIGTERM each in turn, start a new process on its ports, wait until the balancer has it;
    returns how many recipients the broadcast had left at each SIGTERM.

    Just before each SIGTERM, each user of that turn's burst sends /privacy BURST times without
    waiting (kept, unlike a screen command, which a newer one replaces while it waits): what a
    replica holds or has queued when it stops must be finished too. The next is stopped only
    once the health check has the new one back in the rotation, as a careful rolling update
    does (else both may be out for a moment: 502, and Telegram retries).
    """
    left = []
    for i, (old, burst) in enumerate(zip(replicas, bursts, strict=True)):
        for user in burst * BURST:
            await user.send("/privacy", wait=False)
        await asyncio.sleep(0.05)  # posted, some taken
        left.append(await remaining())
        stopped.append((old, await old.stop()))
        ports = {"WEBHOOK_PORT": str(old.webhook_port), "METRICS_PORT": str(old.metrics_port)}
        replicas[i] = await start(f"r{i}-new", ports)
        await replicas[i].wait_ready()
        origin = old.webhook_origin
        await wait_until(lambda o=origin: o not in proxy.unhealthy, 10, "in the rotation")
    return left


async def remaining(storage: Storage, broadcast_id: int) -> int:
    summary = await storage.broadcast_summary(broadcast_id)
    assert summary is not None
    return summary.remaining


async def poll(what: str, condition: Callable[[], Awaitable[bool]], within: float) -> None:
    """Wait until ``await condition()`` is true, checking every 0.1 s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await condition():
        assert loop.time() < deadline, f"{what}: not within {within:g} s"
        await asyncio.sleep(0.1)


def assert_each_update_answered_once(emu: BotAPIEmulator, users: list[SimUser]) -> None:
    """Nothing pending, and one answer per update (a redelivered one is not handled twice)."""
    assert emu.pending_updates == 0
    for user in users:
        sent = [r for r in emu.requests_for("sendMessage", user.id) if r.ok]
        answers = emu.requests_for("answerCallbackQuery", user.id)
        # Each command (/start, /privacy) is answered by one new message, each press by one
        # answer (and an edit).
        assert len(sent) == sum(1 for m in user.transcript() if not m.from_bot)
        assert len(answers) == len(user.presses), user.format_transcript()


async def assert_broadcast_once(emu: BotAPIEmulator, storage: Storage, broadcast_id: int) -> float:
    """Everyone once, nothing pending, no 429, no long pause; returns the longest pause."""
    summary = await storage.broadcast_summary(broadcast_id)
    assert summary is not None
    assert (summary.status, summary.pending, summary.sending) == ("done", 0, 0)
    assert summary.sent == len(RECIPIENTS)
    counts = Counter({uid: len(emu.bot_messages(uid)) for uid in RECIPIENTS})
    assert min(counts.values()) == 1
    duplicates = sum(n - 1 for n in counts.values())
    assert duplicates <= summary.resent_after_crash == 0  # clean stops: nothing in doubt
    bulk = [r for r in emu.requests_for("sendMessage") if r.chat_id in counts]
    assert [r for r in bulk if r.status == 429] == []
    # setWebhook's 429 (the first two replicas start together) is the only one allowed.
    assert {r.method for r in emu.requests if r.status == 429} <= {"setWebhook"}
    # A clean stop hands the lease over at once: the longest pause in sending stays short.
    times = sorted(r.time for r in bulk if r.ok)
    gap = max(b - a for a, b in itertools.pairwise(times))
    assert gap < FAILOVER_BOUND, gap
    return gap


async def test_replicas_replaced_one_by_one_during_a_broadcast_and_browsing(
    postgres_url: str, tmp_path: Path
) -> None:
    """Over 60 lines: one rolling restart, told in order, then what it must not break."""
    async with (
        BotAPIEmulator(token=TOKEN, rate_limits=RateLimits()) as emu,
        await open_storage(postgres_url) as storage,
    ):

        async def start(name: str, env: dict[str, str]) -> Replica:
            env = {"BROADCAST_RATE": BROADCAST_RATE, "LOG_LEVEL": "INFO", **env}
            return await start_replica(emu, postgres_url, tmp_path / f"{name}.log", **env)

        for uid in RECIPIENTS:
            emu.user(uid, language_code="en")
            await storage.subscribe(uid, locale="en")
        replicas = list(await asyncio.gather(start("r0", {}), start("r1", {})))
        proxy = RoundRobinProxy(
            [r.webhook_origin for r in replicas],
            health={r.webhook_origin: f"{r.metrics}/readyz" for r in replicas},
        )
        await proxy.start()
        emu.route_webhook(proxy.origin)
        stopped: list[tuple[Replica, int]] = []
        stop_browsing = asyncio.Event()
        done: Counter[str] = Counter()
        users = [emu.user(uid, language_code="en") for uid in BROWSERS]
        bursts = [[emu.user(uid + 10 * turn) for uid in BURSTS] for turn in (0, 1)]
        burst_users = bursts[0] + bursts[1]
        browsing = [asyncio.create_task(browse(u, stop_browsing, done)) for u in users]
        try:
            await asyncio.gather(*(r.wait_ready() for r in replicas))
            await wait_until(lambda: done["press"] >= len(users), 30, "everyone browsing")
            broadcast_id = await queue_broadcast(storage, BroadcastDraft(TEXTS), created_by=None)
            await wait_until(
                lambda: sum(1 for uid in RECIPIENTS if emu.bot_messages(uid)) >= 30,
                30,
                "the broadcast sending",
            )
            # The holder first: the lease moves to the other, which is replaced next.
            holder = await holder_pid(storage)
            replicas.sort(key=lambda r: r.process.pid != holder)
            began = time.perf_counter()
            left = await replace_each(
                replicas, proxy, start, stopped, bursts, lambda: remaining(storage, broadcast_id)
            )
            replaced_in = time.perf_counter() - began
            assert min(left) > 0, left  # both stops were mid-broadcast
            presses = done["press"]
            await wait_until(
                lambda: done["press"] >= presses + len(users) or any(t.done() for t in browsing),
                30,
                "browsing on",
            )

            async def finished() -> bool:
                return await storage.broadcast_status(broadcast_id) == "done"

            await poll("the broadcast done", finished, 60)
            stop_browsing.set()
            await asyncio.gather(*browsing)  # raises if an update went unanswered
            await wait_until(
                lambda: all(len(u.bot_messages()) >= BURST for u in burst_users), 30, "bursts"
            )
        finally:
            stop_browsing.set()
            for task in browsing:
                task.cancel()
            await asyncio.gather(*browsing, return_exceptions=True)
            for replica in replicas:
                if replica.process.returncode is None:
                    stopped.append((replica, await replica.stop()))
            await proxy.stop()
        for replica, code in stopped:
            assert_clean_exit(replica, code)
        assert emu.violations == [], emu.violations
        assert_each_update_answered_once(emu, users + burst_users)
        gap = await assert_broadcast_once(emu, storage, broadcast_id)
        deliveries = Counter(d.status or d.error for d in emu.webhooks.deliveries)
        print(
            f"\nrolling restart: both replaced in {replaced_in:.1f} s, recipients left at each "
            f"SIGTERM {left}; longest pause in sending {gap:.2f} s; browsing steps {dict(done)}; "
            f"webhook posts by answer {dict(deliveries)}"
        )


async def test_the_proxy_skips_an_unready_or_refusing_upstream_and_passes_503_back() -> None:
    """The balancer of the test above, as deploy/Caddyfile's: health checks, then retries."""
    ready = {"a": 200, "b": 503}

    async def readyz(request: web.Request) -> web.Response:
        return web.Response(status=ready[request.match_info["name"]])

    app = web.Application()
    app.router.add_get("/{name}", readyz)
    health = web.AppRunner(app, access_log=None)
    await health.setup()
    health_port = free_port()
    await web.TCPSite(health, "127.0.0.1", health_port).start()
    a, b = Receiver(statuses=[503]), Receiver()
    origins = {"a": await a.start(), "b": await b.start()}
    proxy = RoundRobinProxy(
        list(origins.values()),
        health={o: f"http://127.0.0.1:{health_port}/{n}" for n, o in origins.items()},
        health_interval=0.05,
    )
    await proxy.start()
    url = proxy.origin + WEBHOOK_PATH
    try:
        await wait_until(lambda: proxy.unhealthy == {origins["b"]}, what="b out")
        # A stopping replica's 503 goes back as it is (Telegram sends the update again).
        assert [(await post(url, b"{}"))[0] for _ in range(4)] == [503, 200, 200, 200]
        assert (len(a.posts), len(b.posts)) == (4, 0)  # b is not ready: none for it
        ready["b"] = 200
        await wait_until(lambda: not proxy.unhealthy, what="b back")
        assert [(await post(url, b"{}"))[0] for _ in range(2)] == [200, 200]
        assert (len(a.posts), len(b.posts)) == (5, 1)  # round robin again
        await a.stop()  # refuses before its health check notices: the next one
        assert [(await post(url, b"{}"))[0] for _ in range(2)] == [200, 200]
        assert len(b.posts) == 3
        await b.stop()  # nobody left: 502, which Telegram retries
        assert (await post(url, b"{}"))[0] == 502
    finally:
        await proxy.stop()
        await a.stop()
        await b.stop()
        await health.cleanup()
