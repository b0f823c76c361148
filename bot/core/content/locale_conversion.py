"""``i18n convert SOURCE TARGET``: a Traditional Chinese locale made by machine from Simplified.

From ``content/<SOURCE>/`` and ``locales/<SOURCE>/LC_MESSAGES/messages.po`` it writes, for
``TARGET``:

- every topic file, ``urgent.yaml`` and ``privacy.yaml`` (:func:`script_conversion.
  convert_yaml_text`), each marked ``machine_converted: "opencc <config> from <SOURCE> <hash>"``;
- the English snapshots of ``_translated_from/`` (the target follows the same English as the
  source, so ``i18n status`` can show it the same diffs);
- the ``TARGET`` labels of ``content/interests.yaml`` (:mod:`interest_conversion`);
- the catalog (:mod:`catalog_conversion`).

Running it again rewrites what is still machine-converted (unchanged files stay untouched, so
it is idempotent) and keeps what a translator owns: a file counts as **reviewed** when it has
no ``machine_converted`` field (``i18n mark-reviewed`` replaces it with ``converted_from``, or
the translator wrote the file). ``force`` converts those too. Nothing is written unless every
file converts cleanly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from babel import Locale, UnknownLocaleError

from bot.core.content.catalog_conversion import convert_catalog
from bot.core.content.freshness import SNAPSHOT_DIR, MarkError, set_field
from bot.core.content.interest_conversion import convert_interest_labels
from bot.core.content.script_conversion import (
    DEFAULT_VARIANT,
    MACHINE_FIELD,
    ConversionError,
    Marker,
    convert_yaml_text,
    digest,
    load_converter,
    read_marks,
    yaml_quoted,
)
from bot.core.i18n import CatalogError, po_path
from bot.core.interests import FILENAME as INTERESTS_FILE

Action = Literal["new", "updated", "unchanged", "kept", "left alone"]


@dataclass(frozen=True)
class Outcome:
    path: Path
    action: Action
    note: str = ""


@dataclass(frozen=True)
class ConversionReport:
    source: str
    target: str
    config: str
    outcomes: tuple[Outcome, ...]

    def count(self, *actions: Action) -> int:
        return sum(o.action in actions for o in self.outcomes)


@dataclass(frozen=True)
class _Plan:
    outcome: Outcome
    data: bytes | None = None  # what to write; None: nothing


def check_locales(source: str, target: str) -> None:
    """Only Simplified -> Traditional Chinese is converted (OpenCC's s2t family)."""
    scripts = []
    for name in (source, target):
        try:
            loc = Locale.parse(name)
        except (ValueError, UnknownLocaleError):
            raise ConversionError(f"{name!r} is not a locale name (e.g. zh_Hant)") from None
        scripts.append((loc.language, loc.script))
    if scripts[0] != ("zh", "Hans") or scripts[1] != ("zh", "Hant"):
        raise ConversionError(
            f"convert goes from Simplified to Traditional Chinese (e.g. zh_Hans zh_Hant), "
            f"not {source} to {target}"
        )


def convert_locale(
    content_dir: Path,
    locales_dir: Path,
    source: str,
    target: str,
    *,
    variant: str = DEFAULT_VARIANT,
    force: bool = False,
    dry_run: bool = False,
) -> ConversionReport:
    """Convert every file (see the module docstring); raises :class:`ConversionError` (one
    line) before writing anything when a file cannot be converted."""
    check_locales(source, target)
    source_dir, target_dir = content_dir / source, content_dir / target
    if not source_dir.is_dir():
        raise ConversionError(f"{source_dir} is not a directory: no content for {source}")
    config, convert = load_converter(variant)
    plans: list[_Plan] = []
    for path in sorted(source_dir.glob("*.yaml")):
        plans += _plan_file(path, target_dir / path.name, (source, config), convert, force)
    names = {p.name for p in source_dir.glob("*.yaml")}
    plans += [
        _Plan(Outcome(path, "left alone", f"not in {source}"))
        for path in sorted(target_dir.glob("*.yaml"))
        if path.name not in names
    ]
    interests = content_dir / INTERESTS_FILE
    if interests.is_file():
        text = interests.read_text(encoding="utf-8")
        new_text, note = convert_interest_labels(text, (source, target), config, convert, force)
        plans.append(_compare(interests, text.encode(), new_text.encode(), note))
    plans.append(_plan_catalog(locales_dir, (source, target), config, convert, force))
    if not dry_run:
        for plan in plans:
            if plan.data is not None:
                plan.outcome.path.parent.mkdir(parents=True, exist_ok=True)
                plan.outcome.path.write_bytes(plan.data)
    return ConversionReport(source, target, config, tuple(p.outcome for p in plans))


def _plan_file(
    path: Path,
    target: Path,
    how: tuple[str, str],
    convert: Callable[[str], str],
    force: bool,
) -> list[_Plan]:
    """One content file (and, for a topic, its English snapshot)."""
    source, config = how
    text = path.read_text(encoding="utf-8")
    current = digest(text)
    if target.is_file() and not force:
        marks = read_marks(target)
        if marks.machine is None:
            note = "reviewed" if marks.unreadable is None else f"unreadable: {marks.unreadable}"
            if marks.reviewed is not None and marks.reviewed.digest != current:
                note += f"; {source} changed since: update it by hand (or --force)"
            return [_Plan(Outcome(target, "kept", note))]
    converted = convert_yaml_text(text, convert, str(path))
    marker = Marker(source, current, config).value()
    try:
        converted = set_field(converted, MACHINE_FIELD, yaml_quoted(marker), path)
    except MarkError as exc:
        raise ConversionError(str(exc)) from None
    old = target.read_bytes() if target.is_file() else None
    plans = [_compare(target, old, converted.encode())]
    snapshot = path.parent / SNAPSHOT_DIR / path.name
    if snapshot.is_file():
        copy = target.parent / SNAPSHOT_DIR / path.name
        plans.append(
            _compare(copy, copy.read_bytes() if copy.is_file() else None, snapshot.read_bytes())
        )
    return plans


def _compare(path: Path, old: bytes | None, new: bytes, note: str = "") -> _Plan:
    if old == new:
        return _Plan(Outcome(path, "unchanged", note))
    return _Plan(Outcome(path, "new" if old is None else "updated", note), new)


def _plan_catalog(
    locales_dir: Path,
    locales: tuple[str, str],
    config: str,
    convert: Callable[[str], str],
    force: bool,
) -> _Plan:
    source_po, target_po = po_path(locales_dir, locales[0]), po_path(locales_dir, locales[1])
    if not source_po.is_file():
        raise ConversionError(f"{source_po} is missing: no catalog to convert")
    try:
        result = convert_catalog(source_po, target_po, locales, config, convert, force=force)
    except CatalogError as exc:
        raise ConversionError(str(exc)) from None
    note = f"{result.converted} string(s) converted" + (
        f", {result.kept} reviewed kept" if result.kept else ""
    )
    old = target_po.read_bytes() if target_po.is_file() else None
    return _compare(target_po, old, result.data, note)
