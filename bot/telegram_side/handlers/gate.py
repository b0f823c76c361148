"""Group -2: the updates the bot serves, and nothing else, before any database work.

The bot serves patients in private chats only: what they type and press (``message`` with text,
``callback_query``) and whether they blocked it (``my_chat_member``). Everything else stops
here, so no other handler runs and no user row is created for it:

- group and supergroup chats: the bot says once per group (remembered in the database, so a
  restart or another replica does not say it again) that it works in private chats, and then
  stays quiet there; a button pressed in a group is answered with nothing;
- channel posts, edited messages (an edit is never new input: an admin who corrects their
  English text in the broadcast wizard must not have it taken as the Chinese one), private
  messages without text (stickers, photos, service messages), and every other update type.

``ALLOWED_UPDATES`` asks Telegram for only the types served, so most of these never arrive;
this gate covers the rest (and Telegram sending what was not asked for).
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatMemberStatus, ChatType
from telegram.ext import ApplicationHandlerStop

from bot.core.i18n import _, resolve_locale
from bot.core.render import esc
from bot.storage import DATABASE_ERRORS
from bot.telegram_side.context import BotContext
from bot.telegram_side.handlers.replies import answer, retrying

log = logging.getLogger(__name__)

#: The update types ``getUpdates`` asks for: exactly what the handlers use.
ALLOWED_UPDATES = ("message", "callback_query", "my_chat_member")

# TRANSLATORS: said once in a group chat the bot was added to; then it stays silent there.
GROUP_NOTE = _(
    "I only talk in private chats, so that what you ask stays between us. "
    "Tap my name and send /start there. I will stay quiet in this group."
)
_GROUPS = (ChatType.GROUP, ChatType.SUPERGROUP)


def is_served(update: Update) -> bool:
    """Whether any handler after the gate may see ``update``."""
    if update.message is not None:
        message = update.message
        return (
            message.chat.type == ChatType.PRIVATE
            and message.text is not None
            and message.from_user is not None
        )
    if update.callback_query is not None:
        pressed_on = update.callback_query.message
        return pressed_on is not None and pressed_on.chat.type == ChatType.PRIVATE
    if update.my_chat_member is not None:
        return update.my_chat_member.chat.type == ChatType.PRIVATE
    return False


async def screen_update(update: Update, context: BotContext) -> None:
    """Let a served update through; otherwise answer what must be answered and stop."""
    if is_served(update):
        return
    query = update.callback_query
    if query is not None:
        await answer(query)  # a pressed button always gets an answer, even an empty one
    elif _joined_or_spoke_in_group(update):
        await _note_group_once(update, context)
    raise ApplicationHandlerStop


def _joined_or_spoke_in_group(update: Update) -> bool:
    if update.message is not None:
        return update.message.chat.type in _GROUPS
    change = update.my_chat_member
    return (
        change is not None
        and change.chat.type in _GROUPS
        and change.new_chat_member.status
        in (ChatMemberStatus.MEMBER, ChatMemberStatus.ADMINISTRATOR)
    )


async def _note_group_once(update: Update, context: BotContext) -> None:
    chat = update.effective_chat
    if chat is None:
        return
    runtime = context.runtime
    if runtime.quiet_chats.get(chat.id):
        return
    runtime.quiet_chats.set(chat.id, True)
    try:
        first = await runtime.storage.note_quiet_chat(chat.id)
    except DATABASE_ERRORS as exc:  # cannot know whether it was said: rather stay quiet
        log.warning("event=storage_unavailable where=quiet_chats error=%s", type(exc).__name__)
        return
    if not first:
        return
    user = update.effective_user
    renderer = context.renderer
    locale = resolve_locale(
        None,
        user.language_code if user else None,
        renderer.locales,
        runtime.settings.default_locale,
    )
    log.info("event=group_noted chat_type=%s", chat.type)
    text = esc(renderer.catalogs.get(locale)(GROUP_NOTE))
    await retrying(lambda: context.bot.send_message(chat.id, text))
