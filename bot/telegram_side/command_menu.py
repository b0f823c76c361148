"""The localized command menu Telegram shows next to "/" (``setMyCommands`` per language)."""

from __future__ import annotations

from telegram import Bot, BotCommand

from bot.core.i18n import _, telegram_language_code
from bot.core.render import Renderer

# Command menu descriptions (Telegram shows them next to "/" in the user's language).
COMMANDS = (
    ("start", _("Main menu")),
    ("language", _("Change the language")),
    ("help", _("How to use this bot")),
    ("subscribe", _("News from the hospital")),
    ("unsubscribe", _("Stop the news")),
    ("privacy", _("Your data: what is stored, and erasing it")),
)


async def set_commands(bot: Bot, renderer: Renderer, default_locale: str) -> None:
    """One menu per locale's language, plus the default locale's for everyone else."""

    def commands(locale: str) -> list[BotCommand]:
        t = renderer.catalogs.get(locale)
        return [BotCommand(name, t(description)) for name, description in COMMANDS]

    await bot.set_my_commands(commands(default_locale))
    done: set[str] = set()
    # Telegram's menus know languages, not scripts: zh_Hans and zh_Hant are both "zh", and the
    # first in this order (the default, then by name: zh_Hans) gives the "zh" menu.
    for locale in sorted(renderer.locales, key=lambda loc: loc != default_locale):
        code = telegram_language_code(locale)
        if code in done:
            continue
        done.add(code)
        await bot.set_my_commands(commands(locale), language_code=code)
