"""The admin's side of broadcasts in the chat: the /broadcast wizard and /broadcasts.

Only user ids in ``ADMIN_IDS`` reach these handlers (``telegram_side/wiring.py`` registers
them behind a ``filters.User`` filter); for everyone else /broadcast is an unknown command, and
a forged wizard button is an out-of-date button.

The wizard asks for the text of each locale (the default locale first; the others may be
skipped, and their subscribers then get nothing from it), checks each text the way Telegram
parses HTML, sends the admin a preview of every text exactly as subscribers will see it, and
queues the broadcast when the admin presses Confirm. A progress message is sent then, and the
delivery engine edits it while sending and writes the final report into it.

State is per admin, in memory (a restart forgets an unfinished draft); each handler changes it
before its first ``await``, so two updates of the same admin processed concurrently cannot
queue a draft twice.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from telegram import Message, Update
from telegram.ext import filters

from bot.broadcast.draft import BroadcastDraft, broadcast_screen, queue_broadcast, validate_draft
from bot.broadcast.progress import counts_line, format_time, status_label
from bot.core import callbacks
from bot.core.i18n import Translator, display_name
from bot.core.render import Button, Screen, esc
from bot.core.telegram_html import TelegramHTMLError, parse_html, validate_message_text
from bot.telegram_side.context import BotContext
from bot.telegram_side.handlers import menu
from bot.telegram_side.handlers.replies import answer, edit, send

log = logging.getLogger(__name__)

# An unfinished draft is forgotten after this long without a step (the admin's later text
# then goes to the ordinary menu again).
WIZARD_TTL = 30 * 60.0


@dataclass
class Draft:
    """One admin's broadcast in the making."""

    locales: tuple[str, ...]  # in the order asked: the default locale first
    texts: dict[str, str] = field(default_factory=dict)
    step: int = 0  # index into locales; == len(locales) once waiting for Confirm
    touched: float = field(default_factory=time.monotonic)

    @property
    def waiting_for_text(self) -> bool:
        return self.step < len(self.locales)

    @property
    def locale(self) -> str:
        return self.locales[self.step]

    def broadcast(self) -> BroadcastDraft:
        """The draft to queue: a skipped locale's subscribers are left out of the audience."""
        skipped = any(loc not in self.texts for loc in self.locales)
        audience = tuple(loc for loc in self.locales if loc in self.texts) if skipped else None
        return BroadcastDraft(texts=dict(self.texts), locales=audience)


class _InWizard(filters.MessageFilter):
    """Messages from an admin whose draft is open (so their text goes to the wizard)."""

    def __init__(self, wizard: BroadcastWizard) -> None:
        super().__init__(name="InBroadcastWizard")
        self.wizard = wizard

    def filter(self, message: Message) -> bool:
        user = message.from_user
        return user is not None and self.wizard.draft(user.id) is not None


class BroadcastWizard:
    def __init__(self) -> None:
        self._drafts: dict[int, Draft] = {}
        #: A filter for handlers that only apply inside the wizard.
        self.active = _InWizard(self)

    def draft(self, admin_id: int) -> Draft | None:
        draft = self._drafts.get(admin_id)
        if draft is not None and time.monotonic() - draft.touched > WIZARD_TTL:
            self._drafts.pop(admin_id, None)
            return None
        return draft

    # -- commands --------------------------------------------------------------------------

    async def start(self, update: Update, context: BotContext) -> None:
        """/broadcast: a new draft (an unfinished one is dropped)."""
        user = update.effective_user
        if user is None:
            return
        default = context.runtime.settings.default_locale
        locales = (default, *(loc for loc in context.renderer.locales if loc != default))
        draft = Draft(locales)
        self._drafts[user.id] = draft
        log.info("event=broadcast_wizard_started admin_id=%s", user.id)
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
        """/cancel inside the wizard."""
        user = update.effective_user
        if user is None:
            return
        self._drafts.pop(user.id, None)
        await _reply(update, esc(context.t("Broadcast cancelled. Nothing was sent.")))

    async def skip(self, update: Update, context: BotContext) -> None:
        """/skip: this locale's subscribers are left out of this broadcast."""
        user = update.effective_user
        draft = self.draft(user.id) if user else None
        if draft is None:
            return
        t = context.t
        default = context.runtime.settings.default_locale
        if not draft.waiting_for_text or draft.locale == default:
            await _reply(
                update,
                esc(t("The {language} text is needed: please send it, or /cancel.")).format(
                    language=esc(display_name(default))
                ),
            )
            return
        draft.step += 1
        draft.touched = time.monotonic()
        await self._next(update, context, draft)

    async def on_text(self, update: Update, context: BotContext) -> None:
        """The admin's text for the current locale: Telegram HTML, written on purpose."""
        message = update.effective_message
        user = update.effective_user
        draft = self.draft(user.id) if user else None
        if message is None or message.text is None or draft is None:
            return
        t = context.t
        if not draft.waiting_for_text:
            await _reply(
                update, esc(t("Please press Confirm or Cancel under the preview, or /cancel."))
            )
            return
        text = message.text
        try:
            validate_message_text(text, "html")
        except TelegramHTMLError as exc:
            problem = esc(t("Telegram would refuse this text: {reason}")).format(
                reason=f"<code>{esc(exc.description)}</code>"
            )
            await _reply(update, f"⚠️ {problem}\n\n{_prompt(t, draft, draft.locale)}")
            return
        draft.texts[draft.locale] = text
        draft.step += 1
        draft.touched = time.monotonic()
        await self._next(update, context, draft)

    async def _next(self, update: Update, context: BotContext, draft: Draft) -> None:
        t = context.t
        if draft.waiting_for_text:
            await _reply(update, _prompt(t, draft, context.runtime.settings.default_locale))
            return
        settings = context.runtime.settings
        problems = validate_draft(
            draft.broadcast(),
            available_locales=context.renderer.locales,
            default_locale=settings.default_locale,
        )
        if problems:  # the texts passed one by one: this is a limit of the whole broadcast
            user = update.effective_user
            if user is not None:
                self._drafts.pop(user.id, None)
            lines = "\n".join("• " + esc(p) for p in problems)
            cancelled = esc(t("The broadcast cannot be sent; nothing was queued:"))
            await _reply(update, f"⚠️ {cancelled}\n{lines}")
            return
        message = update.effective_message
        if message is None:
            return
        # Read before the preview, so that its messages and the question follow one another.
        count = await context.runtime.storage.count_active_subscriptions()
        await _reply(update, "👀 " + esc(t("Preview: subscribers will receive exactly this.")))
        for locale in draft.locales:
            text = draft.texts.get(locale)
            if text is None:
                continue
            screen = broadcast_screen(
                draft.texts, locale, settings.default_locale, context.renderer.catalogs
            )
            await send(update, screen)
        subscribers = t.ngettext(
            "There is {count} subscriber now.", "There are {count} subscribers now.", count
        ).format(count=count)
        summary = [esc(subscribers)]
        skipped = [loc for loc in draft.locales if loc not in draft.texts]
        if skipped:
            summary.append(
                esc(t("Subscribers who read {languages} get nothing from this broadcast.")).format(
                    languages=esc(t.join(display_name(loc) for loc in skipped))
                )
            )
        summary.append("<b>" + esc(t("Send it now?")) + "</b>")
        await send(update, Screen("\n\n".join(summary), _confirm_keyboard(t)))

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
        draft = self.draft(admin_id)
        t = context.t
        if draft is None or draft.waiting_for_text:
            await answer(
                query, t("This broadcast is no longer open. Start again with /broadcast.")
            )
            return
        # Taken out before any await: a second press (or a concurrent one) finds nothing.
        self._drafts.pop(admin_id, None)
        if isinstance(action, callbacks.BroadcastCancel):
            await answer(query)
            await edit(
                query, Screen(esc(t("Broadcast cancelled. Nothing was sent.")), ()), or_send=False
            )
            return
        await answer(query)
        await edit(query, Screen("✅ " + esc(t("Confirmed.")), ()), or_send=False)
        message = query.message
        if not isinstance(message, Message):
            return
        progress = await message.reply_text("⏳ " + esc(t("Queued; sending starts in a moment.")))
        broadcast_id = await queue_broadcast(
            context.runtime.storage,
            draft.broadcast(),
            created_by=admin_id,
            progress_chat_id=progress.chat_id,
            progress_message_id=progress.message_id,
        )
        log.info("event=broadcast_queued_from_chat id=%s admin_id=%s", broadcast_id, admin_id)
        engine = context.runtime.engine
        if engine is not None:
            engine.wake()  # start now rather than at its next look for due broadcasts


def is_wizard_button(data: object) -> bool:
    """The callback_data of the wizard's Confirm and Cancel buttons."""
    return isinstance(data, str) and isinstance(
        callbacks.decode(data), callbacks.BroadcastConfirm | callbacks.BroadcastCancel
    )


def _confirm_keyboard(t: Translator) -> tuple[tuple[Button, ...], ...]:
    return (
        (
            Button("✅ " + t("Confirm and send"), callbacks.encode(callbacks.BroadcastConfirm())),
            Button("✖ " + t("Cancel"), callbacks.encode(callbacks.BroadcastCancel())),
        ),
    )


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


# -- /broadcasts -----------------------------------------------------------------------------

_LIST_LIMIT = 10
_SNIPPET = 40


async def list_broadcasts(update: Update, context: BotContext) -> None:
    """/broadcasts: the most recent broadcasts with their state and counts."""
    t = context.t
    summaries = await context.runtime.storage.list_broadcasts(limit=_LIST_LIMIT)
    if not summaries:
        await _reply(update, esc(t("No broadcasts yet. Start one with /broadcast.")))
        return
    default = context.runtime.settings.default_locale
    blocks = ["<b>" + esc(t("Recent broadcasts")) + "</b>"]
    for s in summaries:
        # The same words as the progress message and `broadcast show` (bot.broadcast.progress).
        head = f"<b>#{s.id}</b> · {esc(status_label(s, t))} · {format_time(s.created_at)}"
        total = t.ngettext("{total} recipient", "{total} recipients", s.total).format(
            total=s.total
        )
        lines = [head, esc(f"{counts_line(s, t)} · {total}")]
        snippet = _snippet(s.texts.get(default) or next(iter(s.texts.values()), ""))
        if snippet:
            lines.append(f"<i>{esc(snippet)}</i>")
        blocks.append("\n".join(lines))
    await _reply(update, "\n\n".join(blocks))


def _snippet(html_text: str) -> str:
    try:
        visible = parse_html(html_text).text
    except TelegramHTMLError:
        visible = html_text
    line = " ".join(visible.split())
    return line if len(line) <= _SNIPPET else line[: _SNIPPET - 1] + "…"
