"""build_application(): the one place handlers are registered, in order; and the run loop."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from telegram import LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import InvalidToken, NetworkError
from telegram.ext import (
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.request import BaseRequest

from bot.broadcast.engine import BroadcastEngine, engine_for_application
from bot.config import ConfigError, Settings, StartupError
from bot.core import pseudonyms
from bot.core.content.bundle import load_content
from bot.core.redaction import redact, register_secret
from bot.storage.run_lock import lock_for_run
from bot.telegram_side.command_menu import set_commands
from bot.telegram_side.context import BotApplication, BotContext
from bot.telegram_side.handlers import (
    broadcast_list,
    broadcast_wizard,
    feedback,
    gate,
    menu,
    news_optin,
    prelude,
    privacy,
    questions,
    reload_command,
    replies,
    stats_command,
)
from bot.telegram_side.health_server import HealthServer
from bot.telegram_side.hot_reload import install_sighup, reload_for_replica
from bot.telegram_side.log_privacy import keep_patient_text_out_of_logs
from bot.telegram_side.rate_limit_watch import RateLimitWatch
from bot.telegram_side.replica_sync import ReplicaSync
from bot.telegram_side.reply_pacing import ReplyPacing
from bot.telegram_side.retention import RetentionJob
from bot.telegram_side.runtime import Runtime, create_runtime
from bot.telegram_side.screen_warmup import ScreenWarmup
from bot.telegram_side.shedding import Shedder
from bot.telegram_side.stats_flush import StatsWriter
from bot.telegram_side.transport import AiohttpRequest, ObservedRequest, Observer
from bot.telegram_side.update_scheduler import FairUpdateProcessor, FloodLimits, UpdateScheduler
from bot.telegram_side.update_sources import PollingSource, update_source

log = logging.getLogger(__name__)

#: At stop, the seconds that updates already accepted get before what still waits is dropped.
SETTLE_AT_STOP = 2.0


def build_application(
    settings: Settings,
    runtime: Runtime,
    *,
    token: str | None = None,
    base_url: str | None = None,
) -> BotApplication:
    """The application with every handler registered, in order.

    Over 60 lines: this is the one list of handlers (DESIGN.md: wiring in one place), read top
    to bottom in the order PTB tries them, with a comment where order or group matters.
    """
    token = token or settings.bot_token or ""
    register_secret(token)  # cut from every log line, stored reason and admin message
    if settings.webhook is not None:
        register_secret(settings.webhook.secret)  # as secret as the token
    pseudonyms.use_key(settings.log_id_key)  # user ids in logs are keyed hashes
    defaults = Defaults(
        parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True)
    )
    # Replies to one chat at about one a second, a 429 backing off that chat only, the latest
    # screen winning (reply_pacing.py); told of each accepted press by the scheduler.
    pacing = ReplyPacing(settings.chat_reply_rate, settings.chat_reply_burst)
    # Instead of PTB's update_queue and a task per update: admission per user, per-user
    # queues taken round-robin, bounded (update_scheduler.py; ARCHITECTURE.md says why).
    scheduler = UpdateScheduler(
        FloodLimits.from_settings(settings),
        on_press=pacing.press_arrived,
        reply_delay=pacing.delay,
    )
    builder = (
        ApplicationBuilder()
        .application_class(BotApplication, kwargs={"runtime": runtime})
        .token(token)
        .base_url(base_url or settings.api_base_url)
        .defaults(defaults)
        .context_types(ContextTypes(context=BotContext))
        .update_queue(scheduler)
        .concurrent_updates(FairUpdateProcessor(scheduler))
        .request(interactive_request(pacing, runtime.metrics.telegram_observer("interactive")))
    )
    app = builder.build()
    assert isinstance(app, BotApplication)
    keep_patient_text_out_of_logs()  # PTB's DEBUG lines carry whole updates
    # A dropped update's button press is still answered; a flooding user is told once a
    # minute to slow down (shedding.py).
    scheduler.on_drop = Shedder(runtime)

    # Group -2 runs first: only private chats, only what the handlers below use (no group,
    # channel post or edited message); anything else stops there, before any database work.
    app.add_handler(TypeHandler(Update, gate.screen_update), group=-2)
    # Group -1: whether the user is subscribed to news (the main menu's news button says so)
    # and the user's locale, into the context.
    app.add_handler(TypeHandler(Update, prelude.prepare_update), group=-1)
    # Group 0: exactly one of these answers an update; order matters within the group.
    app.add_handler(CommandHandler("start", menu.start))
    app.add_handler(CommandHandler("help", menu.show_help))
    app.add_handler(CommandHandler("language", menu.language))
    # News opt-in: /subscribe (and the menu's button), /unsubscribe and /stop end it.
    app.add_handler(CommandHandler("subscribe", news_optin.subscribe_command))
    app.add_handler(CommandHandler(["unsubscribe", "stop"], news_optin.unsubscribe_command))
    # Privacy: the notice, what is stored about the user, and erasing it.
    app.add_handler(CommandHandler("privacy", privacy.privacy_command))
    app.add_handler(CommandHandler("mydata", privacy.mydata_command))
    app.add_handler(CommandHandler("forget", privacy.forget_command))
    # Admins only, in private chats only (filters.User on ADMIN_IDS; empty matches nobody):
    # for anyone else these fall through to the unknown-command handler below, exactly like a
    # command that does not exist. /cancel, /skip and an admin's text look up the admin's
    # open draft (in the database); without one they get the ordinary answers.
    admins = filters.User(user_id=settings.admin_ids) & filters.ChatType.PRIVATE
    wizard = broadcast_wizard.BroadcastWizard()
    app.add_handler(CommandHandler("broadcast", wizard.start, filters=admins))
    app.add_handler(CommandHandler("broadcasts", broadcast_list.list_broadcasts, filters=admins))
    app.add_handler(CommandHandler("stats", stats_command.stats_command, filters=admins))
    app.add_handler(CommandHandler("cancel", wizard.cancel, filters=admins))
    app.add_handler(CommandHandler("skip", wizard.skip, filters=admins))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND & admins, wizard.on_text))
    # Buttons: the specific kinds first (each pattern decodes callback_data); menu.button
    # takes every other press, including forged and out-of-date data. A non-admin pressing
    # a forged wizard button gets menu.button's answer from wizard.on_button.
    app.add_handler(
        CallbackQueryHandler(
            news_optin.unsubscribe_button, pattern=news_optin.is_unsubscribe_button
        )
    )
    app.add_handler(
        CallbackQueryHandler(news_optin.news_button, pattern=news_optin.is_news_button)
    )
    app.add_handler(CallbackQueryHandler(privacy.forget_button, pattern=privacy.is_forget_button))
    # "Was this helpful? 👍 👎" under a topic: stores the user's answer, counts it, pops up.
    app.add_handler(CallbackQueryHandler(feedback.vote_button, pattern=feedback.is_vote_button))
    app.add_handler(
        CallbackQueryHandler(wizard.on_button, pattern=broadcast_wizard.is_wizard_button)
    )
    app.add_handler(CallbackQueryHandler(menu.button))
    # The user blocked (or unblocked) the bot: mark the subscription; never resubscribe.
    app.add_handler(ChatMemberHandler(news_optin.member_status, ChatMemberHandler.MY_CHAT_MEMBER))
    # /reload (admins only; others get the unknown-command answer): before the catch-all below.
    app.add_handler(
        CommandHandler("reload", reload_command.reload_command, filters=filters.ChatType.PRIVATE)
    )
    # After the known commands: any other command gets a hint and the menu; any other text is
    # a typed question: urgent warning signs first, then the topic that matches (search).
    app.add_handler(MessageHandler(filters.COMMAND, menu.unknown_command))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, questions.typed_text))
    app.add_error_handler(menu.on_error)
    return app


def interactive_request(
    pacing: ReplyPacing | None = None, observer: Observer | None = None
) -> ObservedRequest:
    """The interactive bot's transport: our aiohttp one (httpx cost a third of the bot's CPU
    under load, see ARCHITECTURE.md), wrapped so that replies are paced per chat, a 429 backs
    off only its chat (``pacing``, ``RateLimitWatch``), and the broadcast engine sees
    interactive messages and gives them priority (telegram_side/transport.py). ``observer``
    (the metrics) is told about every answer too, by a wrapper of its own, so that whichever
    engine runs can take the outer observer.

    Redirects are not followed (``AiohttpRequest``): the Bot API never redirects, and
    following one would resend a request (its body, and a URL that may hold the token) to
    wherever the answer points.
    """
    inner: BaseRequest = AiohttpRequest(
        connection_pool_size=256,
        read_timeout=5.0,
        write_timeout=5.0,
        connect_timeout=5.0,
        pool_timeout=1.0,
    )
    if observer is not None:
        counted = ObservedRequest(inner)
        counted.observer = observer
        inner = counted
    return ObservedRequest(inner, pacing=pacing, watch=RateLimitWatch())


@asynccontextmanager
async def running(app: BotApplication) -> AsyncIterator[BotApplication]:
    """Initialize, set the command menus and receive updates until the block exits: long
    polling, or the webhook when ``WEBHOOK_URL`` is set (telegram_side/update_sources.py).

    Stopping: updates stop being taken first (the webhook answers 503, /readyz turns 503),
    then the broadcast engine stops, then PTB processes the updates in hand; the webhook is
    never deleted.
    """
    runtime = app.runtime
    source = update_source(app)
    jobs: tuple[BroadcastEngine, RetentionJob, StatsWriter] | None = None
    async with app:
        await set_commands(app.bot, runtime.renderer, runtime.settings.default_locale)
        await app.start()
        replicas = _start_replica_sync(app)
        try:
            await source.start()
            runtime.update_source = source
            log.info("event=%s_started locales=%s", source.mode, ",".join(runtime.locales))
            jobs = await _start_jobs(app)
            # A lease another replica gives up at a clean stop is taken over at once.
            keepers = [jobs[0].lease, source.lease if isinstance(source, PollingSource) else None]
            replicas.lease_listeners += [k.released_elsewhere for k in keepers if k is not None]
            # A broadcast queued by the CLI or on another replica starts now.
            replicas.broadcast_listeners.append(jobs[0].wake)
            yield app
        finally:
            await source.stop_accepting()
            runtime.engine = None
            runtime.retention = None
            runtime.metrics.set_broadcast_lease(False)
            if jobs is not None:
                await jobs[1].stop()
                await jobs[0].stop()
            await _settle_updates(app)
            await app.stop()  # processes every update already taken
            await source.close()
            runtime.update_source = None
            runtime.replicas = None
            await replicas.stop()
            await runtime.users.flush()
            await _flush_flood_state(app)
            if jobs is not None:
                # Last: the updates have been handled, so these are all their counts.
                await jobs[2].stop()
                runtime.stats_writer = None
    log.info("event=stopped")


def _start_replica_sync(app: BotApplication) -> ReplicaSync:
    """On PostgreSQL, listen for what other replicas change (users, /reload) from now on;
    until it listens, the per-user caches are bypassed (telegram_side/replica_sync.py)."""
    runtime = app.runtime
    replicas = ReplicaSync(runtime.storage, runtime.coherence)
    replicas.on_reload = lambda request: reload_for_replica(app.bot, runtime, request)
    replicas.start()
    runtime.replicas = replicas
    return replicas


async def _start_jobs(
    app: BotApplication,
) -> tuple[BroadcastEngine, RetentionJob, StatsWriter]:
    """The broadcast engine, the daily retention job and the statistics writer, running and
    known to the runtime."""
    runtime = app.runtime
    # Delivers queued broadcasts (from the CLI or an admin) while the bot runs.
    engine = engine_for_application(
        app.bot, runtime.storage, lambda: runtime.renderer.catalogs, runtime.settings
    )
    engine.bulk_request.observer = runtime.metrics.telegram_observer("broadcast")
    runtime.metrics.watch_broadcasts(engine.stats)
    # Only the holder of the broadcast lease delivers (broadcast/lease.py); the gauge follows.
    engine.lease.listeners.append(runtime.metrics.set_broadcast_lease)
    await engine.start()
    runtime.engine = engine
    # Erases users past USER_RETENTION_DAYS, daily (telegram_side/retention.py).
    retention = RetentionJob(runtime.storage, runtime.settings.user_retention_days)
    retention.start()
    runtime.retention = retention
    # Statistics: the handlers' counts reach the database every few seconds.
    stats = StatsWriter(
        runtime.storage, runtime.counts, runtime.typed_counts, database=runtime.database
    )
    stats.start()
    runtime.stats_writer = stats
    return engine, retention, stats


async def _settle_updates(app: BotApplication) -> None:
    """Updates already accepted get a moment to be processed; what still waits is dropped
    (its button press answered), so that stopping never works through a flood's backlog."""
    queue = app.update_queue
    if isinstance(queue, UpdateScheduler):
        dropped = await queue.settle(within=SETTLE_AT_STOP)
        if dropped:
            log.warning("event=updates_dropped_at_stop count=%d", dropped)


async def _flush_flood_state(app: BotApplication) -> None:
    """Let the last answers to dropped presses go out, and write the summary lines."""
    queue = app.update_queue
    if isinstance(queue, UpdateScheduler) and isinstance(queue.on_drop, Shedder):
        await queue.on_drop.flush()
    request = app.bot.request
    if isinstance(request, ObservedRequest) and request.watch is not None:
        request.watch.summary.flush()
    replies.not_delivered.flush()


async def serve(settings: Settings) -> None:
    """`interventional-bot run`: serve updates until SIGTERM or Ctrl-C; with ``METRICS_PORT``,
    /healthz, /readyz and /metrics on that port from the start to the end."""
    # First of all: one `run` per SQLite file (storage/run_lock.py); exit 2 if taken.
    run_lock = lock_for_run(settings.database_url)
    try:
        await _serve(settings)
    finally:
        if run_lock is not None:
            run_lock.release()


async def _serve(settings: Settings) -> None:
    content = load_content(settings)
    runtime = await create_runtime(settings, content)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    health: HealthServer | None = None
    try:
        if settings.metrics_port is not None:
            health = HealthServer(
                runtime, listen=settings.metrics_listen, port=settings.metrics_port
            )
            await health.start()
        app = build_application(settings, runtime)
        async with _telegram_at_start(app), running(app):
            remove_sighup = install_sighup(app.bot, runtime)  # `kill -HUP` reloads content
            # Screens rendered before the first press; then start-up's objects frozen (gc).
            warmup = ScreenWarmup(runtime, freeze=True)
            warmup.start()
            try:
                await stop.wait()
            finally:
                await warmup.stop()
            remove_sighup()
            log.info("event=stopping")
    finally:
        if health is not None:
            await health.close()
        await runtime.storage.close()


@asynccontextmanager
async def _telegram_at_start(app: BotApplication) -> AsyncIterator[None]:
    """A token Telegram rejects, or a Bot API that cannot be reached, when `run` starts: one
    line instead of a traceback (which would print the token), and the HTTP session closed
    (PTB does not shut the request down when ``initialize`` fails half way).

    Once running, PTB retries network errors itself, so these come from the start.
    """
    try:
        yield
    except BaseException as exc:
        await app.bot.request.shutdown()
        if isinstance(exc, InvalidToken):
            raise ConfigError(
                "BOT_TOKEN", "Telegram rejected this token; copy it again from @BotFather"
            ) from None
        if isinstance(exc, NetworkError):
            raise StartupError(
                f"cannot reach the Bot API at {redact(app.bot.base_url)}: {redact(str(exc))}; "
                "check the network (and BOT_API_BASE_URL if set)"
            ) from None
        raise
