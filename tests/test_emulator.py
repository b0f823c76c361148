"""The Bot API emulator, driven through real python-telegram-bot over real HTTP.

What the bot sees from the emulator must be what it would see from Telegram: the same JSON, the
same errors (mapped by PTB to the same exceptions), the same long-polling behaviour.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    MenuButtonCommands,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import (
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
)
from telegram.request import HTTPXRequest

from bot.telegram_side.api_errors import retry_after_seconds
from bot.testing import BotAPIEmulator, RateLimits, SpecChecker
from bot.testing.emulator.method_dispatch import HANDLERS, LONG_POLL
from bot.testing.emulator.method_table import METHODS, ParamType, decode_params, decode_value

SPEC = Path("/work/shared/telegram-bot-api-spec/api.json")
USER = 42


def keyboard(*labels: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(x, callback_data=x)] for x in labels])


def ptb_message(description: str) -> str:
    """What PTB makes of a Telegram description (it strips "Bad Request: " and capitalizes)."""
    return TelegramError(description).message


@pytest.fixture
async def emulator() -> AsyncIterator[BotAPIEmulator]:
    async with BotAPIEmulator() as emu:
        yield emu


@pytest.fixture
async def bot(emulator: BotAPIEmulator) -> AsyncIterator[Bot]:
    async with Bot(emulator.token, base_url=emulator.base_url) as the_bot:
        yield the_bot


async def raw_call(
    emulator: BotAPIEmulator, method: str, *, how: str = "form", **params: Any
) -> httpx.Response:
    """One request as a client other than PTB might send it."""
    url = f"{emulator.base_url}{emulator.token}/{method}"
    async with httpx.AsyncClient() as client:
        if how == "json":
            return await client.post(url, json=params)
        if how == "query":
            return await client.get(url, params={k: str(v) for k, v in params.items()})
        if how == "multipart":
            files = {k: (None, str(v)) for k, v in params.items()}
            return await client.post(url, files=files)
        return await client.post(url, data={k: str(v) for k, v in params.items()})


# ------------------------------------------------------------------ basics


async def test_get_me(bot: Bot, emulator: BotAPIEmulator) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (123456, "interventional_test_bot", True)
    assert emulator.violations == []


async def test_send_message_lands_in_the_transcript(bot: Bot, emulator: BotAPIEmulator) -> None:
    pat = emulator.user(USER, first_name="Pat")
    sent = await bot.send_message(
        USER, "Hello <b>Pat</b> &amp; co", parse_mode=ParseMode.HTML, reply_markup=keyboard("Go")
    )
    assert sent.text == "Hello Pat & co"
    assert sent.chat.id == USER
    assert sent.from_user is not None
    assert sent.from_user.is_bot
    assert sent.reply_markup == keyboard("Go")
    assert [(e.type, e.offset, e.length) for e in sent.entities] == [("bold", 6, 3)]
    [message] = pat.transcript()
    assert (message.from_bot, message.text, message.html) == (
        True,
        "Hello Pat & co",
        "Hello <b>Pat</b> &amp; co",
    )
    assert pat.buttons() == [["Go"]]
    assert pat.last_text() == "Hello Pat & co"
    assert emulator.violations == []
    assert emulator.stats.messages_sent == 1


async def test_edit_message_text_is_applied(bot: Bot, emulator: BotAPIEmulator) -> None:
    pat = emulator.user(USER)
    sent = await bot.send_message(USER, "one", reply_markup=keyboard("A"))
    edited = await bot.edit_message_text("two", chat_id=USER, message_id=sent.message_id)
    assert isinstance(edited, type(sent))
    assert edited.text == "two"
    [message] = pat.transcript()
    assert message.text == "two"
    assert message.edit_count == 1
    assert message.history[0].text == "one"
    # Like Telegram, an edit without reply_markup removes the keyboard.
    assert message.reply_markup is None
    await bot.edit_message_reply_markup(USER, sent.message_id, reply_markup=keyboard("B"))
    assert pat.buttons() == [["B"]]
    await bot.delete_message(USER, sent.message_id)
    assert pat.transcript() == []


# ------------------------------------------------------------------ Telegram's errors


async def test_bad_requests_are_telegrams(bot: Bot, emulator: BotAPIEmulator) -> None:
    emulator.user(USER)
    sent = await bot.send_message(USER, "same", reply_markup=keyboard("A"))
    too_many = InlineKeyboardMarkup(
        [[InlineKeyboardButton(str(i), callback_data=str(i))] for i in range(101)]
    )
    cases: list[tuple[Any, str]] = [
        (
            bot.send_message(USER, "a <foo> b", parse_mode=ParseMode.HTML),
            'Bad Request: can\'t parse entities: Unsupported start tag "foo" at byte offset 2',
        ),
        (
            bot.send_message(USER, "<b>x", parse_mode=ParseMode.HTML),
            "Bad Request: can't parse entities: "
            'Can\'t find end tag corresponding to start tag "b"',
        ),
        (
            bot.send_message(USER, "<b></b>", parse_mode=ParseMode.HTML),
            "Bad Request: message text is empty",
        ),
        (bot.send_message(USER, "x" * 4097), "Bad Request: message is too long"),
        (
            bot.send_message(USER, "x", reply_markup=keyboard("a" * 65)),
            "Bad Request: BUTTON_DATA_INVALID",
        ),
        (
            bot.send_message(USER, "x", reply_markup=too_many),
            "Bad Request: reply markup is too long",
        ),
        (bot.send_message(999, "x"), "Bad Request: chat not found"),
        (
            bot.edit_message_text("same", USER, sent.message_id, reply_markup=keyboard("A")),
            "Bad Request: message is not modified: specified new message content and reply "
            "markup are exactly the same as a current content and reply markup of the message",
        ),
        (bot.edit_message_text("x", USER, 9999), "Bad Request: message to edit not found"),
        (
            bot.answer_callback_query("12345"),
            "Bad Request: query is too old and response timeout expired or query ID is invalid",
        ),
    ]
    for call, description in cases:
        with pytest.raises(BadRequest) as caught:
            await call
        assert caught.value.message == ptb_message(description)
    assert [e.status for e in emulator.errors] == [400] * len(cases)
    assert emulator.violations == []
    # 4096 characters are fine, measured after entity parsing
    await bot.send_message(USER, "<b>" + "x" * 4096 + "</b>", parse_mode=ParseMode.HTML)


async def test_empty_callback_data_is_refused(emulator: BotAPIEmulator) -> None:
    emulator.user(USER)
    markup = {"inline_keyboard": [[{"text": "x", "callback_data": ""}]]}
    response = await raw_call(
        emulator, "sendMessage", chat_id=USER, text="x", reply_markup=json.dumps(markup)
    )
    assert response.status_code == 400
    assert response.json()["description"] == "Bad Request: BUTTON_DATA_INVALID"


async def test_blocked_user_is_forbidden_and_bot_hears_of_it(
    bot: Bot, emulator: BotAPIEmulator
) -> None:
    emulator.user(USER)
    emulator.block_bot(USER)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(USER, "hello?")
    emulator.unblock_bot(USER)
    await bot.send_message(USER, "welcome back")
    updates = await bot.get_updates(timeout=0)
    statuses = [
        (u.my_chat_member.old_chat_member.status, u.my_chat_member.new_chat_member.status)
        for u in updates
        if u.my_chat_member
    ]
    assert statuses == [("member", "kicked"), ("kicked", "member")]


async def test_callback_query_answered_twice_or_too_late(
    bot: Bot, emulator: BotAPIEmulator
) -> None:
    emulator.callback_query_timeout = 0.1
    pat = emulator.user(USER)
    await bot.send_message(USER, "pick", reply_markup=keyboard("A", "B"))
    first = await pat.press("A", wait=False)
    assert await bot.answer_callback_query(first.id, text="ok")
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_callback_query(first.id)
    second = await pat.press("B", wait=False)
    await asyncio.sleep(0.15)
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_callback_query(second.id)
    assert (first.answered, first.text, second.answered) == (True, "ok", False)


async def test_wrong_token_and_unknown_method(emulator: BotAPIEmulator, bot: Bot) -> None:
    wrong = Bot("654321:WRONG", base_url=emulator.base_url)
    with pytest.raises(InvalidToken):
        await wrong.initialize()
    await wrong.shutdown()
    assert emulator.errors[-1].description == "Unauthorized"
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("sendBogus")
    assert emulator.errors[-1].status == 404
    assert emulator.violations[-1].message == "sendBogus: not in the emulator's table"


# ------------------------------------------------------------------ rate limits

# PTB 22 warns that RetryAfter.retry_after will become a timedelta; not this module's concern.
ignore_retry_after_warning = pytest.mark.filterwarnings(
    "ignore::telegram.warnings.PTBDeprecationWarning"
)


@ignore_retry_after_warning
async def test_per_chat_rate_limit_gives_retry_after(emulator: BotAPIEmulator) -> None:
    async with BotAPIEmulator(rate_limits=RateLimits(per_chat_burst=2)) as emu:
        emu.user(USER)
        emu.user(USER + 1)
        async with Bot(emu.token, base_url=emu.base_url) as limited:
            await limited.send_message(USER, "1")
            await limited.send_message(USER, "2")
            with pytest.raises(RetryAfter) as caught:
                await limited.send_message(USER, "3")
            assert retry_after_seconds(caught.value) == 1
            await limited.send_message(USER + 1, "another chat is fine")
            # edits are not limited
            sent = await limited.send_message(USER + 1, "x")
            for i in range(5):
                await limited.edit_message_text(str(i), USER + 1, sent.message_id)
        assert emu.stats.too_many_requests == 1
        assert emu.errors[-1].description == "Too Many Requests: retry after 1"


@ignore_retry_after_warning
async def test_global_rate_limit_and_paid_broadcast() -> None:
    limits = RateLimits(global_per_second=5, per_chat_burst=10)
    async with BotAPIEmulator(rate_limits=limits) as emu:
        for user_id in range(1, 12):
            emu.user(user_id)
        async with Bot(emu.token, base_url=emu.base_url) as limited:
            for user_id in range(1, 6):
                await limited.send_message(user_id, "news")
            with pytest.raises(RetryAfter):
                await limited.send_message(6, "news")
            for user_id in range(6, 12):
                await limited.send_message(user_id, "news", allow_paid_broadcast=True)
        assert emu.stats.too_many_requests == 1
        assert emu.stats.messages_sent == 11


# ------------------------------------------------------------------ faults


async def test_server_error_fault(bot: Bot, emulator: BotAPIEmulator) -> None:
    pat = emulator.user(USER)
    emulator.inject_fault("server_error", method="sendMessage", count=1)
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.send_message(USER, "lost")
    assert pat.transcript() == []
    emulator.inject_fault("server_error", method="sendMessage", executed=True, status=500)
    with pytest.raises(NetworkError, match="Internal Server Error"):
        await bot.send_message(USER, "delivered anyway")
    assert [m.text for m in pat.transcript()] == ["delivered anyway"]
    await bot.send_message(USER, "fine again")
    assert emulator.stats.server_errors == 2


async def test_fault_for_one_chat_only(bot: Bot, emulator: BotAPIEmulator) -> None:
    emulator.user(1)
    emulator.user(2)
    emulator.inject_fault("server_error", chat_id=2, count=5)
    await bot.send_message(1, "ok")
    with pytest.raises(NetworkError):
        await bot.send_message(2, "fails")


async def test_timeout_fault(emulator: BotAPIEmulator) -> None:
    pat = emulator.user(USER)
    request = HTTPXRequest(read_timeout=0.2)
    async with Bot(emulator.token, base_url=emulator.base_url, request=request) as impatient:
        emulator.inject_fault("timeout", method="sendMessage", delay=0.6)
        with pytest.raises(TimedOut):
            await impatient.send_message(USER, "never")
        emulator.inject_fault("timeout", method="sendMessage", delay=0.6, executed=True)
        with pytest.raises(TimedOut):
            await impatient.send_message(USER, "sent although the client gave up")
    assert [m.text for m in pat.transcript()] == ["sent although the client gave up"]
    assert emulator.stats.timeouts == 2


# ------------------------------------------------------------------ updates and long polling


async def test_long_polling_wakes_when_an_update_arrives(
    bot: Bot, emulator: BotAPIEmulator
) -> None:
    pat = emulator.user(USER)
    started = time.perf_counter()
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.05)
    await pat.send("hello", wait=False)
    [update] = await poll
    assert time.perf_counter() - started < 1
    assert update.message is not None
    assert update.message.text == "hello"
    # not confirmed yet: delivered again; confirmed by offset: gone
    again = await bot.get_updates(timeout=0)
    assert [u.update_id for u in again] == [update.update_id]
    assert await bot.get_updates(offset=update.update_id + 1, timeout=0) == ()
    assert emulator.pending_updates == 0


async def test_commands_carry_a_bot_command_entity(bot: Bot, emulator: BotAPIEmulator) -> None:
    await emulator.user(USER).send("/start topic_3", wait=False)
    [update] = await bot.get_updates(timeout=0)
    assert update.message is not None
    assert [(e.type, e.offset, e.length) for e in update.message.entities] == [
        ("bot_command", 0, 6)
    ]


async def test_negative_offset_keeps_only_the_last_updates(
    bot: Bot, emulator: BotAPIEmulator
) -> None:
    pat = emulator.user(USER)
    for text in ("a", "b", "c"):
        await pat.send(text, wait=False)
    [last] = await bot.get_updates(offset=-1, timeout=0)
    assert last.message is not None
    assert last.message.text == "c"


async def test_allowed_updates_filter_and_stick(bot: Bot, emulator: BotAPIEmulator) -> None:
    pat = emulator.user(USER)
    await pat.send("dropped", wait=False)
    emulator.block_bot(USER)
    [update] = await bot.get_updates(timeout=0, allowed_updates=["my_chat_member"])
    assert update.my_chat_member is not None
    await pat.send("still filtered", wait=False)
    assert await bot.get_updates(offset=update.update_id + 1, timeout=0) == ()


async def test_users_act_through_the_emulators_public_api(
    bot: Bot, emulator: BotAPIEmulator
) -> None:
    emulator.user(USER)
    sent = await bot.send_message(USER, "pick", reply_markup=keyboard("A"))
    typed = emulator.deliver_text(USER, "/start")
    press = emulator.deliver_press(USER, sent.message_id, "forged", label=None)
    updates = await bot.get_updates(timeout=0)
    assert updates[0].message is not None
    assert (updates[0].message.message_id, updates[0].message.text) == (typed.message_id, "/start")
    assert updates[1].callback_query is not None
    assert (updates[1].callback_query.id, updates[1].callback_query.data) == (press.id, "forged")
    with pytest.raises(KeyError, match="no simulated user 7"):
        emulator.deliver_text(7, "hi")
    with pytest.raises(KeyError, match="no message 999"):
        emulator.deliver_press(USER, 999, "x")


async def test_a_second_poll_ends_the_first_with_conflict(emulator: BotAPIEmulator) -> None:
    url = f"{emulator.base_url}{emulator.token}/getUpdates"
    async with httpx.AsyncClient() as client:
        first = asyncio.create_task(client.get(url, params={"timeout": "5"}))
        await asyncio.sleep(0.05)
        second = await client.get(url, params={"timeout": "0"})
        answer = await first
    assert second.json() == {"ok": True, "result": []}
    assert answer.status_code == 409
    assert answer.json()["description"].startswith("Conflict: terminated by other getUpdates")


async def test_application_handles_messages_and_presses(emulator: BotAPIEmulator) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(
            "Welcome, <b>Pat</b>", reply_markup=keyboard("Which tumours are suitable?", "Back")
        )

    async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer(f"you chose {query.data}")
        await query.edit_message_text(f"About: {query.data}", reply_markup=keyboard("Back"))

    blocked: list[str] = []

    async def member(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.my_chat_member is not None
        blocked.append(update.my_chat_member.new_chat_member.status)

    app = (
        ApplicationBuilder()
        .token(emulator.token)
        .base_url(emulator.base_url)
        .defaults(Defaults(parse_mode=ParseMode.HTML))
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(button))
    app.add_handler(ChatMemberHandler(member, ChatMemberHandler.MY_CHAT_MEMBER))
    pat = emulator.user(USER)
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=2)
        try:
            await pat.send("/start")
            assert pat.last_text() == "Welcome, Pat"
            assert pat.buttons() == [["Which tumours are suitable?"], ["Back"]]
            first = pat.last_bot_message()
            assert first is not None

            press = await pat.press("tumours")  # a unique substring will do
            assert press.text == "you chose Which tumours are suitable?"
            assert pat.last_text() == "About: Which tumours are suitable?"
            edit = emulator.first_request_after("editMessageText", USER, press.queued_at)
            assert edit is not None
            assert edit.ok
            assert edit.time >= press.queued_at

            with pytest.raises(AssertionError, match=r"matches no button.*\['Back'\]"):
                await pat.press("Nope")

            # A button of an old message can still be pressed.
            again = await pat.press_data("Back", message_id=first.message_id)
            assert again.answered

            emulator.block_bot(USER)
            for _ in range(100):
                if blocked:
                    break
                await asyncio.sleep(0.01)
            assert blocked == ["kicked"]
        finally:
            await app.updater.stop()
            await app.stop()
    assert [m.text for m in pat.transcript()] == ["/start", "About: Back"]
    assert emulator.violations == []
    assert emulator.errors == []


async def test_send_times_out_with_the_transcript(emulator: BotAPIEmulator) -> None:
    pat = emulator.user(USER)
    with pytest.raises(AssertionError, match=r"did not answer within 0.1 s[\s\S]*user: hi"):
        await pat.send("hi", within=0.1)


# ------------------------------------------------------------------ commands, menu, chat


async def test_commands_are_kept_per_scope_and_language(
    bot: Bot, emulator: BotAPIEmulator
) -> None:
    emulator.user(USER)
    await bot.set_my_commands([BotCommand("start", "Start"), BotCommand("help", "Help")])
    await bot.set_my_commands([BotCommand("start", "开始")], language_code="zh")
    await bot.set_my_commands([BotCommand("stats", "Stats")], scope=BotCommandScopeChat(USER))
    assert [c.command for c in await bot.get_my_commands()] == ["start", "help"]
    assert emulator.commands(language_code="zh") == [{"command": "start", "description": "开始"}]
    assert emulator.commands("chat", chat_id=USER) == [
        {"command": "stats", "description": "Stats"}
    ]
    await bot.delete_my_commands(language_code="zh")
    assert emulator.commands(language_code="zh") == []
    with pytest.raises(BadRequest, match="Bot_command_invalid"):
        await bot.set_my_commands([BotCommand("Not-Valid", "x")])
    await bot.set_chat_menu_button(menu_button=MenuButtonCommands())
    await bot.send_chat_action(USER, "typing")
    chat = await bot.get_chat(USER)
    assert (chat.id, chat.first_name) == (USER, "Pat")
    assert emulator.violations == []


# ------------------------------------------------------------------ request decoding and checks


def test_every_method_in_the_table_has_one_implementation() -> None:
    assert sorted(spec.name for spec in METHODS.values()) == sorted([*HANDLERS, LONG_POLL])


@pytest.mark.parametrize(
    ("value", "type_", "expected"),
    [
        ("42", ParamType.INTEGER, 42),
        ("-1001", ParamType.INTEGER, -1001),
        (42, ParamType.INTEGER, 42),
        ("10.0", ParamType.INTEGER, 10),
        ("true", ParamType.BOOLEAN, True),
        ("false", ParamType.BOOLEAN, False),
        (True, ParamType.BOOLEAN, True),
        ("1.5", ParamType.FLOAT, 1.5),
        ("42", ParamType.INTEGER_OR_STRING, 42),
        ("@channel", ParamType.INTEGER_OR_STRING, "@channel"),
        ("<b>hi</b>", ParamType.STRING, "<b>hi</b>"),
        ("42", ParamType.STRING, "42"),
        ('{"inline_keyboard": []}', ParamType.OBJECT, {"inline_keyboard": []}),
        ({"type": "default"}, ParamType.OBJECT, {"type": "default"}),
        ('[{"command": "a"}]', ParamType.ARRAY, [{"command": "a"}]),
    ],
)
def test_decode_value(value: object, type_: ParamType, expected: object) -> None:
    decoded = decode_value(value, type_)
    assert decoded == expected
    assert type(decoded) is type(expected)


@pytest.mark.parametrize(
    ("value", "type_"),
    [
        ("abc", ParamType.INTEGER),
        ("1.5", ParamType.INTEGER),
        (True, ParamType.INTEGER),
        ("yes", ParamType.BOOLEAN),
        ("x", ParamType.FLOAT),
        ("{not json", ParamType.OBJECT),
        ("[1]", ParamType.OBJECT),
        ('{"a": 1}', ParamType.ARRAY),
        (True, ParamType.STRING),
    ],
)
def test_decode_value_refuses(value: object, type_: ParamType) -> None:
    with pytest.raises(ValueError):
        decode_value(value, type_)


@pytest.mark.parametrize(
    ("method", "raw", "problem"),
    [
        ("sendMessage", {"chat_id": "1"}, 'sendMessage: required parameter "text" is missing'),
        (
            "sendMessage",
            {"chat_id": "1", "text": "x", "colour": "red"},
            'sendMessage: unknown parameter "colour"',
        ),
        (
            "sendMessage",
            {"chat_id": "1", "text": "x", "disable_notification": "maybe"},
            "sendMessage: parameter \"disable_notification\" must be Boolean, got 'maybe'",
        ),
        ("deleteMessage", {"chat_id": "1", "message_id": "x"}, "must be Integer"),
    ],
)
def test_table_finds_bad_parameters(method: str, raw: dict[str, object], problem: str) -> None:
    _, problems = decode_params(METHODS[method.lower()], raw)
    assert len(problems) == 1
    assert problem in problems[0]


@pytest.mark.parametrize("how", ["form", "json", "query", "multipart"])
async def test_every_encoding_is_decoded_by_declared_type(
    emulator: BotAPIEmulator, how: str
) -> None:
    emulator.user(USER)
    markup = {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
    params: dict[str, Any] = {
        "chat_id": USER,
        "text": "123",
        "disable_notification": "true" if how != "json" else True,
        "reply_markup": json.dumps(markup) if how != "json" else markup,
    }
    response = await raw_call(emulator, "sendmessage", how=how, **params)  # case-insensitive
    assert response.json()["ok"], response.text
    recorded = emulator.requests[-1]
    assert recorded.method == "sendMessage"
    assert recorded.params == {
        "chat_id": USER,
        "text": "123",
        "disable_notification": True,
        "reply_markup": markup,
    }
    assert emulator.violations == []


async def test_bad_parameters_are_refused_and_recorded(emulator: BotAPIEmulator) -> None:
    emulator.user(USER)
    response = await raw_call(emulator, "sendMessage", chat_id=USER, text="x", colour="red")
    assert response.status_code == 400
    assert response.json()["description"] == 'Bad Request: sendMessage: unknown parameter "colour"'
    response = await raw_call(emulator, "sendMessage", chat_id=USER)
    assert response.status_code == 400
    # (with $BOT_API_SPEC set, the spec layer reports them too)
    assert [v.message for v in emulator.violations if v.layer == "table"] == [
        'sendMessage: unknown parameter "colour"',
        'sendMessage: required parameter "text" is missing',
    ]


@pytest.mark.skipif(not SPEC.exists(), reason="the Bot API spec file is not on this machine")
async def test_spec_layer_catches_a_bogus_parameter() -> None:
    async with BotAPIEmulator(spec_path=SPEC) as emu:
        emu.user(USER)
        async with Bot(emu.token, base_url=emu.base_url) as spec_bot:
            await spec_bot.send_message(USER, "fine", reply_markup=keyboard("A"))
            await spec_bot.get_updates(timeout=0)
            assert emu.violations == []
            with pytest.raises(BadRequest):
                await spec_bot.send_message(USER, "x", api_kwargs={"colour": "red"})
        spec_violations = [v.message for v in emu.violations if v.layer == "spec"]
        assert spec_violations == [
            'sendMessage: parameter "colour" is not in the Bot API (api.json)'
        ]
    checker = SpecChecker(SPEC)
    assert checker.check("getMe", []) == []
    assert checker.check("sendMessage", ["chat_id"]) == [
        'sendMessage: parameter "text" is required by the Bot API (api.json)'
    ]
    assert checker.check("sendBogus", []) == ["sendBogus: not a Bot API method (api.json)"]


def test_spec_is_taken_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    spec = tmp_path / "api.json"
    spec.write_text(json.dumps({"methods": {"getMe": {"fields": []}}, "types": {}}))
    monkeypatch.setenv("BOT_API_SPEC", str(spec))
    assert BotAPIEmulator().spec_path == spec
    monkeypatch.delenv("BOT_API_SPEC")
    assert BotAPIEmulator().spec_path is None
