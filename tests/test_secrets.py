"""Secrets and hostile files: the token in no log line, stored reason or admin message; user ids
in logs only as keyed hashes; redirects not followed; format specs and expanding YAML refused."""

from __future__ import annotations

import asyncio
import gettext
import io
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web
from sqlalchemy import insert, select
from sqlalchemy.exc import DBAPIError
from telegram import Bot, Update
from telegram.error import NetworkError
from telegram.ext import TypeHandler

from bot.broadcast.file import load_broadcast_file
from bot.broadcast.progress import format_progress
from bot.cli import broadcast_commands
from bot.cli.logs import QUIET_LOGGERS, RedactingFormatter, setup_logging
from bot.core import pseudonyms
from bot.core.i18n import Translator, load_translator
from bot.core.redaction import REDACTED, redact, register_secret
from bot.storage import Outcome, Storage
from bot.storage.tables import broadcast_recipients, users
from bot.telegram_side.context import BotContext
from bot.telegram_side.transport import AiohttpRequest
from bot.telegram_side.wiring import interactive_request
from bot.testing import BotAPIEmulator
from tests.conftest import BotStarter, make_settings

ADMIN = 7_301_000_001
PATIENTS = (7_301_000_002, 7_301_000_003, 7_301_000_004)
REAL_LOOKING = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """Logging set up exactly as the commands do (into a buffer), restored afterwards."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    levels = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    stream = io.StringIO()
    setup_logging("DEBUG", None, stream=stream)
    try:
        yield stream
    finally:
        root.handlers[:], root.level = saved
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


# -- the token -------------------------------------------------------------------------------


def test_redact_cuts_registered_and_token_shaped_secrets() -> None:
    url = f"https://api.telegram.org/bot{REAL_LOOKING}/sendMessage"
    assert redact(url) == f"https://api.telegram.org/bot{REDACTED}/sendMessage"
    assert redact("chat 123456789 at 12:30") == "chat 123456789 at 12:30"
    register_secret("654321:short-test-token")
    assert redact("bot654321:SHORT-test-token/x") == f"bot{REDACTED}/x"


def test_the_formatter_redacts_the_traceback_too() -> None:
    formatter = RedactingFormatter("%(message)s")
    try:
        raise RuntimeError(f"POST https://api.telegram.org/bot{REAL_LOOKING}/getMe failed")
    except RuntimeError as exc:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "event=%s", ("boom",), None)
        record.exc_info = (type(exc), exc, exc.__traceback__)
    text = formatter.format(record)
    assert "Traceback" in text and "RuntimeError" in text
    assert REAL_LOOKING not in text and "AAHdqTcv" not in text


async def test_the_token_is_in_no_log_line_stored_reason_or_admin_message(
    start_bot: BotStarter,
    emulator: BotAPIEmulator,
    log_stream: io.StringIO,
    storage_url: str,
) -> None:
    """Over 60 lines: a handler that raises with the URL, and a send refused with the URL in
    Telegram's answer, followed through the log, the database and the admin's report."""
    token = emulator.token
    url = f"{emulator.base_url}{token}/sendMessage"

    async def crash(update: Update, context: BotContext) -> None:
        text = update.message.text if update.message else None
        if text == "/crash":
            raise RuntimeError(f"could not POST {url}")
        if text == "/crash2":
            raise NetworkError(f"connection reset by {url}")

    settings = make_settings(ADMIN_IDS=str(ADMIN))
    async with start_bot(settings, database_url=storage_url) as bot:
        bot.app.add_handler(TypeHandler(Update, crash), group=1)
        patient = emulator.user(PATIENTS[0], language_code="en")
        await patient.send("/subscribe")
        await patient.send("/crash")
        await patient.send("/crash2")
        # Telegram refuses the broadcast to the patient, quoting the request URL.
        emulator.inject_fault(
            "server_error",
            method="sendMessage",
            chat_id=PATIENTS[0],
            status=400,
            answer=f"Bad Request: wrong request {url}",
        )
        admin = emulator.user(ADMIN, language_code="en")
        await admin.send("/broadcast")
        await admin.send("News for you")
        await admin.send("/skip", settle=0.3)
        await admin.press("✅ Confirm and send")
        storage = bot.runtime.storage
        # The "Queueing…" reply comes before the queue is written: wait for the broadcast.
        for _ in range(200):
            if found := await storage.list_broadcasts():
                break
            await asyncio.sleep(0.05)
        (queued,) = found

        def reported() -> bool:
            progress = admin.chat.get(queued.progress_message_id or 0)
            return progress is not None and "finished" in progress.text

        for _ in range(200):
            if reported():
                break
            await asyncio.sleep(0.05)
        report = admin.chat.get(queued.progress_message_id or 0)
        assert report is not None and "Failure reasons:" in report.text
        # (python-telegram-bot capitalizes the message, lowercasing the token in it.)
        assert f"Wrong request {emulator.base_url}{REDACTED}/sendmessage: 1" in report.text
        async with storage.engine.connect() as conn:
            reason = (
                await conn.execute(
                    select(broadcast_recipients.c.reason).where(
                        broadcast_recipients.c.broadcast_id == queued.id
                    )
                )
            ).scalar_one()
        assert reason == f"Wrong request {emulator.base_url}{REDACTED}/sendmessage"
    logged = log_stream.getvalue()
    assert "event=handler_error" in logged and "Traceback" in logged
    assert "could not POST" in logged and "connection_reset_by" in logged
    assert token.lower() not in logged.lower()
    for message in (*admin.bot_messages(), *patient.bot_messages()):
        assert token.lower() not in message.text.lower()


async def test_record_outcomes_redacts_whoever_wrote_the_reason(storage: Storage) -> None:
    await storage.touch_user(5)
    await storage.subscribe(5, locale="en")
    bid = await storage.create_broadcast(
        texts={"en": "x"}, locales=None, interests=None, send_at=None, paid=False, created_by=None
    )
    await storage.claim_recipients(bid, 10)
    reason = f"NetworkError: https://api.telegram.org/bot{REAL_LOOKING}/sendMessage: reset"
    await storage.record_outcomes(bid, [Outcome(5, "failed", 1, reason=reason)])
    summary = await storage.broadcast_summary(bid)
    assert summary is not None
    assert summary.failure_reasons == ((redact(reason), 1),)
    assert REAL_LOOKING not in str(summary.failure_reasons)


# -- user ids in logs ------------------------------------------------------------------------


async def test_log_lines_hold_no_clear_user_id(
    start_bot: BotStarter, emulator: BotAPIEmulator, log_stream: io.StringIO
) -> None:
    settings = make_settings(ADMIN_IDS=str(ADMIN))
    async with start_bot(settings):
        for uid in PATIENTS:
            patient = emulator.user(uid, language_code="en")
            await patient.send("/start")
            await patient.send("/subscribe")
        await emulator.user(PATIENTS[0]).send("/unsubscribe")
        emulator.block_bot(PATIENTS[1])
        emulator.unblock_bot(PATIENTS[1])
        forgetting = emulator.user(PATIENTS[2])
        await forgetting.send("/forget")
        await forgetting.press("🗑 Yes, erase my data")
        admin = emulator.user(ADMIN, language_code="en")
        await admin.send("/broadcast")
        await admin.send("News")
        await admin.send("/skip", settle=0.3)
        await admin.press("✅ Confirm and send")
        await emulator.user(PATIENTS[0]).send("/start", settle=0.5)
    logged = log_stream.getvalue()
    named = re.findall(r"\b(?:user_id|admin_id)=(\S+)", logged)
    # Every kind of line that names a user appeared, each with a 16-hex-digit keyed hash.
    for event in ("subscribed", "unsubscribed", "user_blocked_bot", "user_unblocked_bot"):
        assert f"event={event} user_id=" in logged, event
    for event in ("user_erased", "broadcast_wizard_started", "broadcast_queued_from_chat"):
        assert f"event={event} " in logged, event
    assert len(named) >= 7
    assert all(re.fullmatch(r"[0-9a-f]{16}", value) for value in named), named
    assert pseudonyms.log_ref(PATIENTS[0]) in named
    for uid in (ADMIN, *PATIENTS):
        assert not re.search(rf"\b{uid}\b", logged), uid


def test_database_errors_in_logs_name_no_key_values() -> None:
    formatter = RedactingFormatter("%(message)s")
    detail = "DETAIL:  Key (user_id)=(7301000002) already exists."
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, detail, None, None)
    assert formatter.format(record) == "DETAIL:  Key (user_id)=(…) already exists."


async def test_statement_parameters_stay_out_of_database_errors(storage: Storage) -> None:
    await storage.touch_user(7_301_000_002)
    with pytest.raises(DBAPIError) as info:
        async with storage.engine.begin() as conn:
            await conn.execute(insert(users).values(user_id=7_301_000_002, first_seen=None))
    assert "7301000002" not in str(info.value)


def test_log_ids_are_keyed() -> None:
    pseudonyms.use_key("first-key-0123456789")
    first = pseudonyms.log_ref(42)
    pseudonyms.use_key("other-key-0123456789")
    assert pseudonyms.log_ref(42) != first
    pseudonyms.use_key("first-key-0123456789")
    assert pseudonyms.log_ref(42) == first and re.fullmatch(r"[0-9a-f]{16}", first)


# -- redirects -------------------------------------------------------------------------------


class RedirectingServer:
    """Answers every Bot API call with a redirect to /elsewhere, and counts who followed."""

    def __init__(self) -> None:
        self.followed = 0
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def __aenter__(self) -> RedirectingServer:
        async def redirect(request: web.Request) -> web.Response:
            raise web.HTTPTemporaryRedirect("/elsewhere")

        async def elsewhere(request: web.Request) -> web.Response:
            self.followed += 1
            return web.json_response({"ok": True, "result": True})

        app = web.Application()
        app.router.add_route("*", "/elsewhere", elsewhere)
        app.router.add_route("*", "/{tail:.*}", redirect)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


async def test_the_interactive_transport_does_not_follow_redirects() -> None:
    async with RedirectingServer() as server:
        bot = Bot(
            REAL_LOOKING,
            base_url=f"http://127.0.0.1:{server.port}/bot",
            request=interactive_request(),
        )
        with pytest.raises(NetworkError):
            async with bot:
                pass  # initialize calls getMe
        assert server.followed == 0


async def test_the_bulk_transport_does_not_follow_redirects() -> None:
    async with RedirectingServer() as server:
        request = AiohttpRequest()
        await request.initialize()
        try:
            await request.do_request(
                f"http://127.0.0.1:{server.port}/bot{REAL_LOOKING}/sendMessage", "POST"
            )
        finally:
            await request.shutdown()
        assert server.followed == 0


# -- hostile files ---------------------------------------------------------------------------


def test_a_catalog_with_a_format_spec_is_served_as_english(
    project_copy: tuple[Path, Path],
) -> None:
    """`check` refuses it; a bot started without `check` still never renders it."""
    _content, locales = project_copy
    po = locales / "zh_Hans" / "LC_MESSAGES" / "messages.po"
    text = po.read_text(encoding="utf-8")
    po.write_text(
        text.replace("第 {page} 页，共 {pages} 页", "第 {page:>999999999} 页，共 {pages} 页"),
        encoding="utf-8",
    )
    t = load_translator(locales, "zh_Hans", write_mo_file=False)
    assert t("Page {page} of {pages}") == "Page {page} of {pages}"
    assert t("Back") == "返回"


def test_a_broadcast_file_with_expanding_aliases_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "laughs.yaml"
    lines = ['a: &a ["lol"]']
    lines += [
        f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]"
        for p, n in zip("abcdefgh", "bcdefghi", strict=True)
    ]
    path.write_text("\n".join(lines) + "\ntexts:\n  en: '*i'\n", encoding="utf-8")
    draft, problems = load_broadcast_file(path, available_locales=["en"], default_locale="en")
    assert draft is None
    assert [p.format() for p in problems] == [
        f"{path}:1: error: YAML anchor &a is not allowed: write the text out in full"
    ]


async def test_reload_refuses_a_format_spec_and_keeps_serving(
    start_bot: BotStarter, emulator: BotAPIEmulator, project_copy: tuple[Path, Path]
) -> None:
    content, locales = project_copy
    admin = emulator.user(ADMIN, language_code="en")
    async with start_bot(make_settings(content, locales, ADMIN_IDS=str(ADMIN))):
        po = locales / "zh_Hans" / "LC_MESSAGES" / "messages.po"
        text = po.read_text(encoding="utf-8")
        po.write_text(text.replace('msgstr "返回"', 'msgstr "{x!r}返回"'), encoding="utf-8")
        await admin.send("/reload")
        reply = admin.last_text()
        assert reply.startswith("Reload failed")
        assert "msgstr of 'Back': conversion in {x!r}: write {name} only" in reply


def test_every_command_logs_through_the_redacting_formatter(log_stream: io.StringIO) -> None:
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler.formatter, RedactingFormatter)
    logging.getLogger("bot.test").warning("event=x url=https://h/bot%s/getMe", REAL_LOOKING)
    assert REAL_LOOKING not in log_stream.getvalue() and REDACTED in log_stream.getvalue()


async def test_reports_cap_the_failure_reasons(storage: Storage) -> None:
    """30 distinct long reasons: the admin's report lists 5 and `broadcast show` 20, each
    with "and N more", and the report fits one message."""
    ids = list(range(1001, 1061))
    for uid in ids:
        await storage.subscribe(uid, locale="en")
    bid = await storage.create_broadcast(
        texts={"en": "x"}, locales=None, interests=None, send_at=None, paid=False, created_by=None
    )
    await storage.claim_recipients(bid, len(ids))
    await storage.record_outcomes(
        bid,
        [
            Outcome(uid, "failed", 1, reason=f"reason {i % 30:02d} " + "x" * 300)
            for i, uid in enumerate(ids)
        ],
    )
    await storage.start_broadcast(bid)
    await storage.finish_broadcast(bid)
    summary = await storage.broadcast_summary(bid)
    assert summary is not None and len(summary.failure_reasons) == 30
    t = make_translator()
    text = format_progress(summary, t)
    assert len(text) <= 4096
    bullets = [line for line in text.splitlines() if line.startswith("• ")]
    assert len(bullets) == 5 and all(len(b) < 140 for b in bullets)
    assert text.splitlines()[-1] == "… and 25 more reasons (50 recipients)"
    out, err = io.StringIO(), io.StringIO()
    assert await broadcast_commands._show(storage, bid, out, err) == 0
    shown = out.getvalue().splitlines()
    assert sum(1 for line in shown if "reason " in line) == 20
    assert shown[-1] == "  … and 10 more reason(s), 20 recipient(s)"


def make_translator() -> Translator:
    return Translator("en", gettext.NullTranslations())
