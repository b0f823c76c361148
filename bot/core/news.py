"""Pure screens of the news opt-in: (locale, chosen interests) -> Screen. No Telegram I/O.

Interests are data (``content/interests.yaml``, see :mod:`bot.core.interests`); choosing none means
"all the hospital's news".
"""

from __future__ import annotations

from collections.abc import Collection

from bot.core import callbacks
from bot.core.i18n import Translator, _
from bot.core.interests import Interests
from bot.core.render import Button, Keyboard, Renderer, Screen, esc

# Notes shown above the main menu (extracted through _()).
SUBSCRIPTION_SAVED = _("Your news settings are saved.")
UNSUBSCRIBED = _(
    "You are unsubscribed: the hospital will send you no more news. "
    "To subscribe again, send /subscribe."
)
NOT_SUBSCRIBED = _("You are not subscribed to news. To subscribe, send /subscribe.")
# TRANSLATORS: the pop-up after tapping "Unsubscribe" under a news message.
UNSUBSCRIBED_SHORT = _("Unsubscribed. You will get no more news.")
ALREADY_UNSUBSCRIBED = _("You are not subscribed to news.")
# The database is down: a subscription, an unsubscription or a topic could not be recorded.
NEWS_NOT_SAVED = _(
    "Sorry, your news settings could not be changed just now. Nothing was changed. Please try "
    "again in a few minutes."
)


def unsubscribe_button(t: Translator) -> Button:
    """The button under every broadcast message (and on the news screen): one tap to stop.

    Defined once: the delivery engine, the admin's preview, ``broadcast preview`` and the news
    screen all show this label with this callback_data.
    """
    # TRANSLATORS: button under every news message; one tap ends the subscription.
    return Button("🔕 " + t("Unsubscribe"), callbacks.encode(callbacks.Unsubscribe()))


def broadcast_keyboard(t: Translator) -> Keyboard:
    """The keyboard under a broadcast message, in the recipient's language."""
    return ((unsubscribe_button(t),),)


def news_screen(
    renderer: Renderer, interests: Interests, locale: str, chosen: Collection[str]
) -> Screen:
    """A subscriber's news settings: what they get, how to stop, interests as ✓ toggles."""
    t = renderer.catalogs.get(locale)
    parts = [
        "<b>🔔 " + esc(t("News from the hospital")) + "</b>",
        esc(
            t(
                "You are subscribed. The hospital will send you occasional news in your "
                "language: new treatments, talks for patients, changes to opening hours. "
                "Never advertising."
            )
        ),
        esc(
            t(
                "To stop at any time, tap “Unsubscribe” under any news message, "
                "or send /unsubscribe."
            )
        ),
    ]
    rows: list[tuple[Button, ...]] = []
    if interests.items:
        parts.append(
            esc(t("Choose the topics you want. If you choose none, you get all the news."))
        )
        for interest in interests.items:
            mark = "✓ " if interest.id in chosen else ""
            rows.append(
                (
                    Button(
                        mark + interest.label(locale, interests.default_locale),
                        callbacks.encode(callbacks.ToggleInterest(interest.id)),
                    ),
                )
            )
    rows.append((Button("✅ " + t("Done"), callbacks.encode(callbacks.InterestsDone())),))
    rows.append((unsubscribe_button(t),))
    rows.append(
        (
            Button("⬅ " + t("Back"), callbacks.encode(callbacks.Home())),
            Button("🏠 " + t("Home"), callbacks.encode(callbacks.Home())),
        )
    )
    return Screen("\n\n".join(parts), tuple(rows))


def toggled(chosen: Collection[str], interest_id: str, interests: Interests) -> tuple[str, ...]:
    """``chosen`` with ``interest_id`` switched, in the file's order, unknown ids dropped."""
    wanted = set(chosen) ^ {interest_id}
    return interests.known(wanted)
