"""The admin's /broadcast wizard in the chat.

Only user ids in ``ADMIN_IDS``, in a private chat, reach these handlers
(``telegram_side/wiring.py`` registers them behind a filter); for everyone else /broadcast is an
unknown command, and a forged wizard button is an out-of-date button.

The wizard asks for the text of each locale (the default locale first; the others may be
skipped, and their subscribers then get nothing from it), checks each text the way Telegram
parses HTML, sends the admin a preview of every text exactly as subscribers will see it, and
queues the broadcast when the admin presses Confirm. A locale converted by machine (zh_Hant)
is not asked for: its text is the Simplified one converted (and shown in the preview).

The draft lives in the database (``Storage.open_draft``, table ``broadcast_drafts``), not in
this process, so any replica can take the admin's next step; it expires after 30 minutes
without a step. Confirm and Cancel carry the draft's id: under an older preview they answer
"out of date" and do nothing. Confirm queues first (``Storage.queue_draft``: the draft is
deleted as the broadcast is inserted, in one transaction) and says "Queued" only once the
database has it; if queueing fails the admin is told, nothing is sent, and the draft stays for
another press of Confirm. A progress message goes out just before queueing (its id is stored
with the broadcast, and the delivery engine edits it while sending and writes the final report
into it); "Queued" is written into the question above it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from telegram import Message, Update

from bot.broadcast.draft import (
    BroadcastDraft,
    announce_queued,
    broadcast_screen,
    converted_locales,
    validate_draft,
    with_converted_texts,
)
from bot.core import callbacks
from bot.core.content.script_conversion import conversion_source
from bot.core.i18n import Translator, _, display_name
from bot.core.pseudonyms import log_ref
from bot.core.render import Button, Screen, esc
from bot.core.telegram_html import TelegramHTMLError, validate_message_text
from bot.storage import DATABASE_ERRORS, Draft
from bot.telegram_side.context import BotContext
from bot.telegram_side.handlers import menu, questions
from bot.telegram_side.handlers.replies import answer, edit, retrying, send

log = logging.getLogger(__name__)

OUT_OF_DATE = _("This preview is out of date: nothing was done. Send /broadcast to start again.")
CANCELLED = _("Broadcast cancelled. Nothing was sent.")
# A step of the same admin taken elsewhere meanwhile (another update, another replica).
_STEP_ATTEMPTS = 3


def wizard_locales(served: Sequence[str], default_locale: str) -> tuple[str, ...]:
    """The locales whose text the wizard asks for: the default first, then every other one
    except those converted by machine from another (zh_Hant, from the zh_Hans text)."""
    converted = converted_locales(served, default_locale)
    others = (loc for loc in served if loc != default_locale and loc not in converted)
    return (default_locale, *others)


def audience_locales(draft: Draft, served: Sequence[str]) -> list[str]:
    """The draft's locales, and the served locales converted by machine from one of them."""
    derived = [loc for loc in served if loc not in draft.locales]
    return [*draft.locales, *(loc for loc in derived if conversion_source(loc, draft.locales))]


def as_broadcast(draft: Draft, served: Sequence[str], default_locale: str) -> BroadcastDraft:
    """The draft to queue: with the texts converted by machine (zh_Hant from zh_Hans); a
    skipped locale's subscribers (and those of a locale converted from it) are left out."""
    locales = audience_locales(draft, served)
    texts = with_converted_texts(draft.texts, locales, default_locale)
    skipped = any(loc not in texts for loc in locales)
    audience = tuple(loc for loc in locales if loc in texts) if skipped else None
    return BroadcastDraft(texts=texts, locales=audience)


def is_wizard_button(data: object) -> bool:
    """The callback_data of the wizard's Confirm and Cancel buttons."""
    return isinstance(data, str) and isinstance(
        callbacks.decode(data), callbacks.BroadcastConfirm | callbacks.BroadcastCancel
    )


class BroadcastWizard:
    def __init__(self) -> None:
        # One step at a time per admin in this process (in arrival order); across replicas
        # the draft's step is compared and set in the database.
        self._locks: dict[int, asyncio.Lock] = {}

    def _lock(self, admin_id: int) -> asyncio.Lock:
        return self._locks.setdefault(admin_id, asyncio.Lock())

    # -- commands --------------------------------------------------------------------------

    async def start(self, update: Update, context: BotContext) -> None:
        """/broadcast: a new draft (an unfinished one is dropped)."""
        user = update.effective_user
        if user is None:
            return
        default = context.runtime.settings.default_locale
        locales = wizard_locales(context.renderer.locales, default)
        async with self._lock(user.id):
            draft = await context.runtime.storage.open_draft(user.id, locales)
        log.info("event=broadcast_wizard_started admin_id=%s", log_ref(user.id))
        t = context.t
        intro = esc(
            t(
                "New broadcast to the patients who subscribed to news. I will ask for the "
                "text in each language, show you a preview, and send nothing until you "
                "press Confirm. Send /cancel at any time to stop."
            )
        )
        await _reply(update, f"✉️ {intro}\n\n{_prompt(t, draft, default)}")

    async def cancel(self, update: Update, context: BotContext) -> None:
        """/cancel inside the wizard; without an open draft it is an unknown command."""
        user = update.effective_user
        if user is None:
            return
        if not await context.runtime.storage.delete_drafts(user.id):
            await menu.unknown_command(update, context)
            return
        await _reply(update, esc(context.t(CANCELLED)))

    async def skip(self, update: Update, context: BotContext) -> None:
        """/skip: this locale's subscribers are left out of this broadcast."""
        user = update.effective_user
        if user is None:
            return
        t = context.t
        default = context.runtime.settings.default_locale
        async with self._lock(user.id):
            draft = await context.runtime.storage.get_draft(user.id)
            if draft is None:
                await menu.unknown_command(update, context)
                return
            if not draft.waiting_for_text:
                await _reply(update, esc(t(_PRESS_CONFIRM)))
                return
            if draft.locale == default:
                await _reply(
                    update,
                    esc(t("The {language} text is needed: please send it, or /cancel.")).format(
                        language=esc(display_name(default))
                    ),
                )
                return
            advanced = await self._advance(context, draft, None)
        if advanced is not None:
            await self._next(update, context, advanced)

    async def on_text(self, update: Update, context: BotContext) -> None:
        """An admin's text: the current locale's text when a draft is open (Telegram HTML,
        written on purpose), else ordinary text to the menu."""
        message = update.effective_message
        user = update.effective_user
        if message is None or message.text is None or user is None:
            return
        t = context.t
        async with self._lock(user.id):
            draft = await context.runtime.storage.get_draft(user.id)
            if draft is None:
                await questions.typed_text(update, context)
                return
            if not draft.waiting_for_text:
                await _reply(update, esc(t(_PRESS_CONFIRM)))
                return
            try:
                validate_message_text(message.text, "html")
            except TelegramHTMLError as exc:
                problem = esc(t("Telegram would refuse this text: {reason}")).format(
                    reason=f"<code>{esc(exc.description)}</code>"
                )
                default = context.runtime.settings.default_locale
                await _reply(update, f"⚠️ {problem}\n\n{_prompt(t, draft, default)}")
                return
            advanced = await self._advance(context, draft, message.text)
        if advanced is not None:
            await self._next(update, context, advanced)

    async def _advance(self, context: BotContext, draft: Draft, text: str | None) -> Draft | None:
        """Store ``text`` for the draft's current step (compare-and-set on the step)."""
        storage = context.runtime.storage
        for _attempt in range(_STEP_ATTEMPTS):
            advanced = await storage.advance_draft(draft, text)
            if advanced is not None:
                return advanced
            fresh = await storage.get_draft(draft.admin_id, draft.id)
            if fresh is None or not fresh.waiting_for_text:
                return None
            draft = fresh
        return None

    async def _next(self, update: Update, context: BotContext, draft: Draft) -> None:
        t = context.t
        settings = context.runtime.settings
        if draft.waiting_for_text:
            await _reply(update, _prompt(t, draft, settings.default_locale))
            return
        served, default = context.renderer.locales, settings.default_locale
        broadcast = as_broadcast(draft, served, default)
        problems = validate_draft(broadcast, available_locales=served, default_locale=default)
        if problems:  # the texts passed one by one: this is a limit of the whole broadcast
            await context.runtime.storage.delete_drafts(draft.admin_id, draft.id)
            lines = "\n".join("• " + esc(p) for p in problems)
            cancelled = esc(t("The broadcast cannot be sent; nothing was queued:"))
            await _reply(update, f"⚠️ {cancelled}\n{lines}")
            return
        # Read before the preview, so that its messages and the question follow one another.
        count = await context.runtime.storage.count_active_subscriptions()
        await _reply(update, "👀 " + esc(t("Preview: subscribers will receive exactly this.")))
        locales = audience_locales(draft, served)
        for locale in locales:
            if locale in broadcast.texts:
                screen = broadcast_screen(
                    broadcast.texts, locale, default, context.renderer.catalogs
                )
                await send(update, screen)
        subscribers = t.ngettext(
            "There is {count} subscriber now.", "There are {count} subscribers now.", count
        ).format(count=count)
        summary = [esc(subscribers)]
        summary += _converted_notes(t, draft, broadcast)
        skipped = [loc for loc in locales if loc not in broadcast.texts]
        if skipped:
            summary.append(
                esc(t("Subscribers who read {languages} get nothing from this broadcast.")).format(
                    languages=esc(t.join(display_name(loc) for loc in skipped))
                )
            )
        summary.append("<b>" + esc(t("Send it now?")) + "</b>")
        await send(update, Screen("\n\n".join(summary), _confirm_keyboard(t, draft.id)))

    # -- Confirm / Cancel ------------------------------------------------------------------

    async def on_button(self, update: Update, context: BotContext) -> None:
        query = update.callback_query
        if query is None:
            return
        admin_id = query.from_user.id
        if admin_id not in context.runtime.settings.admin_ids:
            await menu.button(update, context)  # the same answer as any out-of-date button
            return
        action = callbacks.decode(query.data)
        if not isinstance(action, callbacks.BroadcastConfirm | callbacks.BroadcastCancel):
            await menu.button(update, context)
            return
        t = context.t
        storage = context.runtime.storage
        draft = await storage.get_draft(admin_id, action.draft_id)
        if draft is None or draft.waiting_for_text:
            await answer(query, t(OUT_OF_DATE))
            return
        if isinstance(action, callbacks.BroadcastCancel):
            if not await storage.delete_drafts(admin_id, draft.id):
                await answer(query, t(OUT_OF_DATE))
                return
            await answer(query)
            await edit(query, Screen(esc(t(CANCELLED)), ()), or_send=False)
            return
        await answer(query)
        if isinstance(query.message, Message):
            await self._queue(query.message, context, draft)

    async def _queue(self, question: Message, context: BotContext, draft: Draft) -> None:
        """Queue the draft; the progress message tells the admin what became of it."""
        t = context.t
        progress = await question.reply_text("⏳ " + esc(t("Queueing the broadcast…")))
        settings = context.runtime.settings
        broadcast = as_broadcast(draft, context.renderer.locales, settings.default_locale)
        try:
            broadcast_id = await context.runtime.storage.queue_draft(
                draft,
                texts=broadcast.texts,
                locales=broadcast.locales,
                progress_chat_id=progress.chat_id,
                progress_message_id=progress.message_id,
            )
        except DATABASE_ERRORS as exc:
            log.error(
                "event=broadcast_queue_failed admin_id=%s error=%s",
                log_ref(draft.admin_id),
                type(exc).__name__,
            )
            failed = t(
                "The broadcast could not be queued: the database did not answer. Nothing was "
                "sent, and your draft is kept: press Confirm again."
            )
            await retrying(lambda: progress.edit_text("⚠️ " + esc(failed)))
            return
        if broadcast_id is None:  # queued or cancelled meanwhile (a second press)
            await retrying(lambda: progress.edit_text(esc(t(OUT_OF_DATE))))
            return
        log.info(
            "event=broadcast_queued_from_chat broadcast_id=%d admin_id=%s",
            broadcast_id,
            log_ref(draft.admin_id),
        )
        # Start now rather than at the next look for due broadcasts: this replica's engine,
        # and on PostgreSQL the lease holder, wherever it runs.
        engine = context.runtime.engine
        if engine is not None:
            engine.wake()
        await announce_queued(context.runtime.storage, broadcast_id)
        # The question, not the progress message: the engine edits that one from now on.
        queued = t("Queued as broadcast #{id}. Its progress is shown below.").format(
            id=broadcast_id
        )
        await retrying(lambda: question.edit_text("✅ " + esc(queued)))


_PRESS_CONFIRM = _("Please press Confirm or Cancel under the preview, or /cancel.")


def _confirm_keyboard(t: Translator, draft_id: str) -> tuple[tuple[Button, ...], ...]:
    return (
        (
            Button(
                "✅ " + t("Confirm and send"),
                callbacks.encode(callbacks.BroadcastConfirm(draft_id)),
            ),
            Button("✖ " + t("Cancel"), callbacks.encode(callbacks.BroadcastCancel(draft_id))),
        ),
    )


def _converted_notes(t: Translator, draft: Draft, broadcast: BroadcastDraft) -> list[str]:
    """One line per locale whose text the preview shows converted by machine."""
    return [
        esc(
            t(
                "The {language} text was converted by machine from the {source} text: "
                "check it above."
            ).format(language=display_name(locale), source=display_name(source))
        )
        for locale in broadcast.texts
        if locale not in draft.texts
        and (source := conversion_source(locale, draft.texts)) is not None
    ]


def _prompt(t: Translator, draft: Draft, default_locale: str) -> str:
    step = t("Step {step} of {steps}: send the text for {language}.").format(
        step=draft.step + 1, steps=len(draft.locales), language=display_name(draft.locale)
    )
    html_help = t("Telegram HTML is allowed: {example}").format(
        example='<b>bold</b>, <i>italic</i>, <a href="https://…">link</a>'
    )
    lines = [f"<b>{esc(step)}</b>", esc(html_help)]
    if draft.locale != default_locale:
        lines.append(
            esc(t("Or send /skip to leave out the subscribers who read {language}.")).format(
                language=esc(display_name(draft.locale))
            )
        )
    return "\n".join(lines)


async def _reply(update: Update, text: str) -> None:
    await send(update, Screen(text, ()))
