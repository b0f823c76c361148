"""Interface text through gettext (Babel catalogs) and the choice of a user's locale.

Catalogs are compiled from the ``.po`` files every time they are loaded (at every start), so
the text the bot serves can never disagree with the ``.po`` files a translator edited. The
compiled ``.mo`` is also written next to the ``.po`` when it differs (for gettext tools and the
Docker image); a read-only tree only gets a log line.
"""

from __future__ import annotations

import functools
import gettext as _gettext
import io
import logging
import re
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import write_mo
from babel.messages.pofile import PoFileError, read_po

log = logging.getLogger(__name__)

DOMAIN = "messages"
SOURCE_LOCALE = "en"  # msgids are English: the source locale needs no translation


def _(message: str) -> str:
    """Mark a string for extraction where no translator is at hand (module constants)."""
    return message


class CatalogError(Exception):
    """A catalog could not be read; ``str()`` names the file (and line when known)."""

    def __init__(self, path: Path, reason: str, line: int | None = None) -> None:
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {reason}")
        self.path, self.reason, self.line = path, reason, line


@dataclass(frozen=True)
class Translator:
    """The interface text of one locale."""

    locale: str
    translations: _gettext.NullTranslations

    def gettext(self, message: str) -> str:
        return self.translations.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.translations.ngettext(singular, plural, n)

    def join(self, items: Iterable[str]) -> str:
        """Items of a list for display, joined the locale's way ("a, b"; Chinese "甲、乙")."""
        # TRANSLATORS: between the items of a list, as in "English, French".
        # Chinese: "、". Keep the space if your language puts one after it.
        return self.gettext(", ").join(items)

    __call__ = gettext


def po_path(locales_dir: Path, locale: str) -> Path:
    return locales_dir / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_catalog(path: Path, locale: str | None) -> Catalog:
    try:
        with path.open("rb") as fh:
            return read_po(fh, locale=locale, abort_invalid=True)
    except PoFileError as exc:
        reason = str(exc).rsplit(" on ", 1)[0]  # Babel appends " on <0-based line>"
        raise CatalogError(path, reason, exc.lineno + 1) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CatalogError(path, str(exc)) from None


def template_path(locales_dir: Path) -> Path:
    return locales_dir / f"{DOMAIN}.pot"


def read_template(locales_dir: Path) -> Catalog:
    """``messages.pot``; raises :class:`CatalogError` naming the file when it is unusable."""
    path = template_path(locales_dir)
    if not path.is_file():
        raise CatalogError(path, "template missing: run pybabel extract (see TRANSLATING.md)")
    return read_catalog(path, None)


def is_translated(message: Message) -> bool:
    """A catalog entry has a translation (every plural form, for plural entries)."""
    if isinstance(message.string, str):
        return bool(message.string)
    return bool(message.string) and all(message.string or ())


def message_key(message: Message) -> str:
    """The msgid of an entry (the singular for plural entries)."""
    return message.id if isinstance(message.id, str) else message.id[0]


_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def format_field_problems(text: str) -> list[str]:
    """What makes ``text`` unsafe as a ``str.format`` template; [] when it is safe.

    Only ``{name}`` is allowed: a format spec (``{date:>999999999}`` allocates a gigabyte on
    every render), a conversion (``{x!r}``), attribute or index access (``{x.__class__}``,
    ``{x[0]}``) and positional fields (``{}``, ``{0}``) are refused. A broken brace raises
    ValueError.
    """
    problems: list[str] = []
    for _literal, name, spec, conversion in string.Formatter().parse(text):
        if name is None:
            continue
        shown = (
            "{"
            + name
            + (f"!{conversion}" if conversion else "")
            + (f":{spec}" if spec else "")
            + "}"
        )
        if spec:
            problems.append(f"format spec in {shown[:40]}: write {{name}} only")
        elif conversion:
            problems.append(f"conversion in {shown[:40]}: write {{name}} only")
        elif not _FIELD_NAME.match(name):
            problems.append(f"placeholder {shown[:40]} must be a plain {{name}}")
    return problems


def _is_safe_translation(message: Message) -> bool:
    strings = [message.string] if isinstance(message.string, str) else list(message.string or ())
    try:
        return not any(format_field_problems(s) for s in strings if s)
    except ValueError:
        return False


def compile_catalog(catalog: Catalog) -> bytes:
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    return buf.getvalue()


def load_translator(locales_dir: Path, locale: str, *, write_mo_file: bool = True) -> Translator:
    """Compile ``locale``'s .po in memory and return its translator."""
    path = po_path(locales_dir, locale)
    catalog = read_catalog(path, locale)
    for message in catalog:
        # `check` refuses these; a bot started without it serves the English text instead.
        if message.id and not _is_safe_translation(message):
            log.warning("event=unsafe_translation_dropped path=%s line=%s", path, message.lineno)
            plural = not isinstance(message.string, str)
            message.string = ("",) * len(message.string or ()) if plural else ""
    try:
        data = compile_catalog(catalog)
    except (ValueError, TypeError) as exc:  # Babel refuses an entry it cannot write
        raise CatalogError(path, f"cannot compile: {exc}") from None
    if write_mo_file:
        mo = path.with_suffix(".mo")
        try:
            if not mo.exists() or mo.read_bytes() != data:
                mo.write_bytes(data)
        except OSError as exc:
            log.warning("event=mo_not_written path=%s reason=%s", mo, exc.strerror)
    return Translator(locale, _gettext.GNUTranslations(io.BytesIO(data)))


def catalog_locales(locales_dir: Path) -> list[str]:
    """Locales that have a ``<locale>/LC_MESSAGES/messages.po`` catalog."""
    if not locales_dir.is_dir():
        return []
    return sorted(p.name for p in locales_dir.iterdir() if po_path(locales_dir, p.name).is_file())


def display_name(locale: str) -> str:
    """The locale's name in its own language (from Babel's CLDR data), e.g. 中文 (简体)."""
    try:
        loc = Locale.parse(locale)
    except (ValueError, UnknownLocaleError):
        return locale
    name = loc.get_display_name(loc) or locale
    return name[:1].upper() + name[1:]


def telegram_language_code(locale: str) -> str:
    """The two-letter code Telegram's setMyCommands takes for a locale (zh_Hans -> zh)."""
    return locale.split("_", 1)[0].lower()


def resolve_locale(
    saved: str | None,
    telegram_code: str | None,
    available: Sequence[str],
    default: str,
) -> str:
    """Choose the locale for a user: saved choice, then Telegram's language_code, then default.

    ``telegram_code`` is what Telegram sends (``en``, ``en-GB``, ``zh-hans``, ``zh-cn``,
    ``zh-tw`` …). Regional Chinese tags are mapped through their script (zh, zh-cn, zh-sg →
    Hans; zh-tw, zh-hk, zh-mo → Hant, by CLDR's likely subtags); a script we do not have falls
    back to another locale of the same language (a Traditional reader gets Simplified rather
    than English). Cantonese (``yue``) is read as written Chinese in Traditional characters.
    """
    if saved and saved in available:
        return saved
    match = match_locale(telegram_code, available)
    if match is not None:
        return match
    if default in available:
        return default
    return available[0] if available else default


def match_locale(code: str | None, available: Iterable[str]) -> str | None:
    """The available locale that best serves Telegram's ``code``, or None."""
    if not code:
        return None
    return _match_locale(code, tuple(available))


# Spoken varieties read in another language's written form: Cantonese (Hong Kong, Macao) reads
# written Chinese, in Traditional characters (its likely script), when no yue locale exists.
_WRITTEN_AS = {"yue": ("zh", "Hant")}


@functools.lru_cache(maxsize=1024)
def _match_locale(code: str, available: tuple[str, ...]) -> str | None:
    # Cached: Telegram sends a handful of distinct codes, and CLDR parsing is not free.
    try:
        wanted = Locale.parse(code.strip().replace("_", "-"), sep="-")
    except (ValueError, UnknownLocaleError, TypeError):
        return None
    language, usual_script = _WRITTEN_AS.get(wanted.language, (wanted.language, None))
    parsed: list[tuple[str, Locale]] = []
    for name in available:
        try:
            parsed.append((name, Locale.parse(name)))
        except (ValueError, UnknownLocaleError):
            continue
    same_language = [(n, loc) for n, loc in parsed if loc.language == language]
    if not same_language:
        return None
    script = wanted.script or _likely_script(wanted) or usual_script
    # 1. same language, script and territory; 2. same language and script; 3. same language.
    for name, loc in same_language:
        if (loc.script or _likely_script(loc)) == script and loc.territory == wanted.territory:
            return name
    for name, loc in same_language:
        if (loc.script or _likely_script(loc)) == script:
            return name
    return same_language[0][0]


def _likely_script(loc: Locale) -> str | None:
    try:
        full = Locale.parse(
            "_".join(p for p in (loc.language, loc.territory) if p), resolve_likely_subtags=True
        )
    except (ValueError, UnknownLocaleError):
        return None
    return full.script


class Catalogs:
    """Translators for every locale, loaded once."""

    def __init__(self, translators: Mapping[str, Translator]) -> None:
        self._translators = dict(translators)

    @classmethod
    def load(cls, locales_dir: Path, locales: Iterable[str]) -> Catalogs:
        return cls({loc: load_translator(locales_dir, loc) for loc in locales})

    def get(self, locale: str) -> Translator:
        try:
            return self._translators[locale]
        except KeyError:
            return Translator(locale, _gettext.NullTranslations())

    @property
    def locales(self) -> list[str]:
        return sorted(self._translators)
