"""Everything the bot serves, loaded together: topic trees, catalogs, news interests and the
privacy notice.

Used by ``run``, ``demo``, ``render``, ``broadcast create`` and the hot reload; none of them
needs python-telegram-bot to read the files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.config import Settings
from bot.core.content.loader import content_locales, load_library
from bot.core.content.model import Library
from bot.core.content.privacy_text import PrivacyTexts, load_privacy_texts
from bot.core.content.urgent import UrgentRules, load_urgent
from bot.core.i18n import CatalogError, Catalogs, catalog_locales
from bot.core.interests import Interests, load_interests


class ContentError(Exception):
    """The content or catalogs cannot be served; ``str()`` is one line."""


@dataclass(frozen=True)
class LoadedContent:
    library: Library
    catalogs: Catalogs
    # The interests a subscriber can pick (content/interests.yaml; empty when absent).
    interests: Interests = field(default_factory=Interests)
    # The privacy notice of each locale (content/<locale>/privacy.yaml), for /privacy.
    privacy: PrivacyTexts = field(default_factory=PrivacyTexts)
    # Each locale's urgent warning signs and urgent-care message (content/<locale>/urgent.yaml).
    urgent: Mapping[str, UrgentRules] = field(default_factory=dict)

    @property
    def locales(self) -> list[str]:
        return self.library.locales


def served_locales(settings: Settings) -> list[str]:
    """The locales that have both content and a catalog."""
    return sorted(
        set(content_locales(settings.content_dir)) & set(catalog_locales(settings.locales_dir))
    )


def load_content(settings: Settings) -> LoadedContent:
    """Load the locales that have both content and a catalog; raise ContentError if unusable."""
    locales = served_locales(settings)
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
    except CatalogError as exc:
        raise ContentError(str(exc)) from None
    interests, problems = load_interests(settings.content_dir, locales, settings.default_locale)
    interest_errors = [p for p in problems if p.severity == "error"]
    if interest_errors:
        raise ContentError(interest_errors[0].format())
    privacy, problems = load_privacy_texts(settings.content_dir, locales, settings.default_locale)
    privacy_errors = [p for p in problems if p.severity == "error"]
    if privacy_errors:
        raise ContentError(privacy_errors[0].format())
    urgent = load_urgent(settings.content_dir, locales)
    if urgent.errors:
        raise ContentError(
            f"{len(urgent.errors)} error(s) in urgent.yaml, first: {urgent.errors[0].format()}"
        )
    return LoadedContent(result.library, catalogs, interests, privacy, urgent.rules)
