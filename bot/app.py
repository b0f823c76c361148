"""build_application(): the one place handlers are registered, in order; and the run loop."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from telegram import BotCommand, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.ext import (
    Application,
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
from telegram.request import HTTPXRequest

from bot.broadcast.engine import BROADCAST_ENGINE_KEY, engine_for_application
from bot.config import Settings
from bot.content.loader import content_locales, load_library
from bot.content.model import Library
from bot.context import RUNTIME_KEY, BotContext, Runtime
from bot.handlers import admin, menu, prepare, subscriptions
from bot.handlers import reload as reload_handler
from bot.i18n import Catalogs, _, catalog_locales, telegram_language_code
from bot.interests import Interests, load_interests
from bot.reload import install_sighup
from bot.render import Renderer
from bot.storage import Storage, open_storage
from bot.transport import ObservedRequest
from bot.users import UserTracker

log = logging.getLogger(__name__)

BotApplication = Application[Any, BotContext, Any, Any, Any, Any]

# Command menu descriptions (Telegram shows them next to "/" in the user's language).
COMMANDS = (
    ("start", _("Main menu")),
    ("language", _("Change the language")),
    ("help", _("How to use this bot")),
    ("subscribe", _("News from the hospital")),
    ("unsubscribe", _("Stop the news")),
)


class ContentError(Exception):
    """The content or catalogs cannot be served; ``str()`` is one line."""


@dataclass(frozen=True)
class LoadedContent:
    library: Library
    catalogs: Catalogs
    # The interests a subscriber can pick (content/interests.yaml; empty when absent).
    interests: Interests = field(default_factory=Interests)


def load_content(settings: Settings) -> LoadedContent:
    """Load the locales that have both content and a catalog; raise ContentError if unusable."""
    locales = sorted(
        set(content_locales(settings.content_dir)) & set(catalog_locales(settings.locales_dir))
    )
    if not locales:
        raise ContentError(
            f"no locale has both {settings.content_dir}/<locale>/ and "
            f"{settings.locales_dir}/<locale>/LC_MESSAGES/messages.po"
        )
    if settings.default_locale not in locales:
        raise ContentError(
            f"DEFAULT_LOCALE: {settings.default_locale!r} has no content and catalog "
            f"(available: {', '.join(locales)})"
        )
    result = load_library(settings.content_dir, locales)
    if result.errors:
        first = result.errors[0].format()
        raise ContentError(
            f"{len(result.errors)} content error(s), first: {first} "
            "(run `interventional-bot check` for all)"
        )
    try:
        catalogs = Catalogs.load(settings.locales_dir, locales)
    except Exception as exc:
        raise ContentError(str(exc)) from None
    interests, problems = load_interests(settings.content_dir, locales, settings.default_locale)
    interest_errors = [p for p in problems if p.severity == "error"]
    if interest_errors:
        raise ContentError(interest_errors[0].format())
    return LoadedContent(result.library, catalogs, interests)


def build_application(
    settings: Settings,
    runtime: Runtime,
    *,
    token: str | None = None,
    base_url: str | None = None,
    concurrent_updates: int = 256,
) -> BotApplication:
    defaults = Defaults(
        parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True)
    )
    builder = (
        ApplicationBuilder()
        .token(token or settings.bot_token or "")
        .base_url(base_url or settings.api_base_url)
        .defaults(defaults)
        .context_types(ContextTypes(context=BotContext))
        .concurrent_updates(concurrent_updates)
        # PTB's default transport, wrapped so the broadcast engine sees interactive messages
        # and gives them priority (bot/transport.py).
        .request(ObservedRequest(HTTPXRequest(connection_pool_size=256)))
    )
    app: BotApplication = builder.build()
    app.bot_data[RUNTIME_KEY] = runtime

    # Group -1 runs first for every update: whether the user is subscribed to news (the main
    # menu's news button says so) and the user's locale, into the context.
    app.add_handler(TypeHandler(Update, prepare.prepare_update), group=-1)
    # Group 0: exactly one of these answers an update; order matters within the group.
    app.add_handler(CommandHandler("start", menu.start))
    app.add_handler(CommandHandler("help", menu.show_help))
    app.add_handler(CommandHandler("language", menu.language))
    # News opt-in: /subscribe (and the menu's button), /unsubscribe and /stop end it.
    app.add_handler(CommandHandler("subscribe", subscriptions.subscribe_command))
    app.add_handler(CommandHandler(["unsubscribe", "stop"], subscriptions.unsubscribe_command))
    # Admins only (filters.User on ADMIN_IDS; empty matches nobody): for anyone else these
    # fall through to the unknown-command handler below, exactly like a command that does
    # not exist. The wizard's /cancel, /skip and text input apply only to an admin whose
    # draft is open, so an admin's ordinary text still reaches the menu handlers.
    admins = filters.User(user_id=settings.admin_ids)
    wizard = admin.BroadcastWizard()
    app.add_handler(CommandHandler("broadcast", wizard.start, filters=admins))
    app.add_handler(CommandHandler("broadcasts", admin.list_broadcasts, filters=admins))
    app.add_handler(CommandHandler("cancel", wizard.cancel, filters=admins & wizard.active))
    app.add_handler(CommandHandler("skip", wizard.skip, filters=admins & wizard.active))
    app.add_handler(
        MessageHandler(filters.TEXT & ~filters.COMMAND & admins & wizard.active, wizard.on_text)
    )
    # Buttons: the specific kinds first (each pattern decodes callback_data); menu.button
    # takes every other press, including forged and out-of-date data. A non-admin pressing
    # a forged wizard button gets menu.button's answer from wizard.on_button.
    app.add_handler(
        CallbackQueryHandler(
            subscriptions.unsubscribe_button, pattern=subscriptions.is_unsubscribe_button
        )
    )
    app.add_handler(
        CallbackQueryHandler(subscriptions.news_button, pattern=subscriptions.is_news_button)
    )
    app.add_handler(CallbackQueryHandler(wizard.on_button, pattern=admin.is_wizard_button))
    app.add_handler(CallbackQueryHandler(menu.button))
    # The user blocked (or unblocked) the bot: mark the subscription; never resubscribe.
    app.add_handler(
        ChatMemberHandler(subscriptions.member_status, ChatMemberHandler.MY_CHAT_MEMBER)
    )
    # /reload (admins only; others get the unknown-command answer): before the catch-all below.
    app.add_handler(CommandHandler("reload", reload_handler.reload_command))
    # After the known commands: any other command, then any other text, gets a hint + menu.
    app.add_handler(MessageHandler(filters.COMMAND, menu.unknown_command))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, menu.unknown_text))
    app.add_error_handler(menu.on_error)
    return app


async def set_commands(app: BotApplication, runtime: Runtime) -> None:
    """Localized command menus: one per locale's language, plus the default locale's."""
    renderer = runtime.renderer
    default = runtime.settings.default_locale

    def commands(locale: str) -> list[BotCommand]:
        t = renderer.catalogs.get(locale)
        return [BotCommand(name, t(description)) for name, description in COMMANDS]

    await app.bot.set_my_commands(commands(default))
    done: set[str] = set()
    for locale in sorted(renderer.locales, key=lambda loc: loc != default):
        code = telegram_language_code(locale)
        if code in done:
            continue
        done.add(code)
        await app.bot.set_my_commands(commands(locale), language_code=code)


async def create_runtime(
    settings: Settings, content: LoadedContent, storage: Storage | None = None
) -> Runtime:
    if storage is None:
        storage = await open_storage(settings.database_url)
    renderer = Renderer(content.library, content.catalogs, settings.hospital)
    return Runtime(settings, storage, renderer, UserTracker(storage), content.interests)


@asynccontextmanager
async def running(app: BotApplication, runtime: Runtime) -> AsyncIterator[BotApplication]:
    """Initialize, set the command menus and long-poll until the block exits."""
    async with app:
        await set_commands(app, runtime)
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(allowed_updates=Update.ALL_TYPES)
        log.info("event=polling_started locales=%s", ",".join(runtime.locales))
        # Delivers queued broadcasts (from the CLI or an admin) while the bot runs.
        engine = engine_for_application(
            app.bot, runtime.storage, lambda: runtime.renderer.catalogs, runtime.settings
        )
        await engine.start()
        app.bot_data[BROADCAST_ENGINE_KEY] = engine
        try:
            yield app
        finally:
            await engine.stop()
            await app.updater.stop()
            await app.stop()
            await runtime.users.flush()
    log.info("event=stopped")


async def serve(settings: Settings) -> None:
    """`interventional-bot run`: long polling until SIGTERM or Ctrl-C."""
    content = load_content(settings)
    runtime = await create_runtime(settings, content)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        app = build_application(settings, runtime)
        async with running(app, runtime):
            remove_sighup = install_sighup(app, runtime)  # `kill -HUP` reloads content
            await stop.wait()
            remove_sighup()
            log.info("event=stopping")
    finally:
        await runtime.storage.close()
