"""The interface catalog of a converted locale: the Simplified ``.po`` converted entry by entry.

The converted catalog has the same msgids as the Simplified one, each msgstr converted by
OpenCC (:mod:`script_conversion`). Every converted entry carries a translator comment::

    # machine-converted: opencc s2twp from zh_Hans 1a2b3c4d5e6f
    msgid "Back"
    msgstr "返回"

that names the configuration and the hash of the Simplified msgstr it was made from. A
translator who has checked the entry deletes that line (as with ``#, fuzzy``), or runs
``i18n mark-reviewed LOCALE messages`` for all of them; the bot shows the entry either way.
``pybabel update`` keeps translator comments, so the mark survives new strings being merged.

Converting again replaces the entries that still carry the comment and fills in new ones; an
entry without it is the translator's and is kept (unless ``force``). Entries the Simplified
catalog has not translated stay untranslated; fuzzy ones stay fuzzy.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from babel import Locale
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import write_po

from bot.core.content.script_conversion import Marker, digest, parse_marker
from bot.core.i18n import CatalogError, is_translated, read_catalog

COMMENT_PREFIX = "machine-converted: "


@dataclass(frozen=True)
class CatalogConversion:
    """The converted catalog as bytes, and how many entries were converted or kept."""

    data: bytes
    converted: int
    kept: int


def entry_marker(message: Message) -> Marker | None:
    """The machine-converted mark of a catalog entry, or None (a translator's entry)."""
    for comment in message.user_comments:
        if comment.startswith(COMMENT_PREFIX):
            return parse_marker("machine_converted", comment[len(COMMENT_PREFIX) :])
    return None


def message_digest(message: Message) -> str:
    """The hash of a Simplified msgstr (every plural form)."""
    strings = [message.string] if isinstance(message.string, str) else list(message.string or ())
    return digest("\0".join(strings))


def convert_catalog(
    source_path: Path,
    target_path: Path,
    locales: tuple[str, str],
    config: str,
    convert: Callable[[str], str],
    *,
    force: bool = False,
) -> CatalogConversion:
    """The target catalog made from the source one (see the module docstring); ``locales`` is
    (source locale, target locale)."""
    source_locale, target_locale = locales
    source = read_catalog(source_path, source_locale)
    existing = read_catalog(target_path, target_locale) if target_path.is_file() else None
    catalog = read_catalog(source_path, source_locale)  # a copy to turn into the target
    catalog.locale = Locale.parse(target_locale)
    catalog.language_team = f"{target_locale} <LL@li.org>"
    catalog.header_comment = _header_comment(source, locales, config)
    converted = kept = 0
    for message in source:
        if not message.id:
            continue
        target = catalog.get(message.id, message.context)
        assert target is not None
        mine = existing.get(message.id, message.context) if existing is not None else None
        if mine is not None and not force and is_translated(mine) and not entry_marker(mine):
            target.string, target.flags = mine.string, set(mine.flags)
            target.user_comments = list(mine.user_comments)
            kept += 1
            continue
        comments = [c for c in message.user_comments if not c.startswith(COMMENT_PREFIX)]
        if is_translated(message):
            if isinstance(message.string, str):
                target.string = convert(message.string)
            else:
                target.string = tuple(convert(s) for s in message.string or ())
            mark = Marker(source_locale, message_digest(message), config)
            comments.append(COMMENT_PREFIX + mark.value())
            converted += 1
        target.user_comments = comments
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=0, ignore_obsolete=True)  # as `pybabel update --no-wrap`
    return CatalogConversion(buffer.getvalue(), converted, kept)


def _header_comment(source: Catalog, locales: tuple[str, str], config: str) -> str:
    source_locale, target_locale = locales
    name = Locale.parse(target_locale).get_display_name("en") or target_locale
    lines = (source.header_comment or "").splitlines()[1:]  # after "# <Language> translations…"
    return "\n".join(
        [
            f"# {name} translations for {source.project or 'this project'}.",
            f"# Converted by machine from {source_locale} with OpenCC ({config}) by",
            "# `interventional-bot i18n convert`. An entry with a `# machine-converted:` line is",
            "# not reviewed yet: check its msgstr, then delete that line (see TRANSLATING.md).",
            *lines,
        ]
    )


def unreviewed_entries(path: Path, locale: str) -> list[tuple[Message, Marker]]:
    """The entries of a catalog that still carry the machine-converted mark ([] when the file
    cannot be read: `check` reports that)."""
    try:
        catalog = read_catalog(path, locale)
    except CatalogError:
        return []
    return [(m, mark) for m in catalog if m.id and (mark := entry_marker(m)) is not None]
