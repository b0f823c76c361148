"""The gettext catalogs stay in step with the code.

The messages are extracted from ``bot/`` exactly as README/TRANSLATING.md's command does
(``pybabel extract -F pyproject.toml``, the ``[tool.babel]`` mapping: keywords _, t, gettext,
ngettext), through Babel's own command-line class, into a temporary file; then compared with
``locales/messages.pot`` and every ``locales/<locale>/LC_MESSAGES/messages.po``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po

from bot.config import PROJECT_ROOT

PYPROJECT = PROJECT_ROOT / "pyproject.toml"
FIX = "run the pybabel extract / update commands of TRANSLATING.md"

Key = tuple[object, str | None]


def pybabel(*args: str) -> None:
    CommandLineInterface().run(["pybabel", "-q", *args])


def extract(source_dir: Path, out_dir: Path) -> Catalog:
    pot = out_dir / "extracted.pot"
    pybabel(
        "extract", "-F", str(PYPROJECT), "-o", str(pot), "--no-wrap", "--sort-by-file",
        str(source_dir),
    )  # fmt: skip
    with pot.open("rb") as fh:
        return read_po(fh)


def read(path: Path) -> Catalog:
    with path.open("rb") as fh:
        return read_po(fh)


def keys(catalog: Catalog) -> dict[Key, str]:
    """(msgid, context) -> a label naming the string and where it is."""
    out: dict[Key, str] = {}
    for message in catalog:
        if not message.id:
            continue
        msgid = message.id if isinstance(message.id, str) else message.id[0]
        where = ", ".join(f"{_short(f)}:{n}" for f, n in message.locations[:2])
        out[(message.id, message.context)] = f"{msgid!r}" + (f" ({where})" if where else "")
    return out


def _short(filename: str) -> str:
    """bot/x/menu.py rather than /tmp/…/src/bot/x/menu.py."""
    parts = Path(filename).parts
    return (
        "/".join(parts[len(parts) - 1 - parts[::-1].index("bot") :])
        if "bot" in parts
        else filename
    )


def drift(source_dir: Path, locales_dir: Path, work: Path) -> list[str]:
    """Every difference between the code's strings, the template and the catalogs."""
    code = keys(extract(source_dir, work))
    pot_path = locales_dir / "messages.pot"
    pot = keys(read(pot_path))
    problems = [
        f"{label} is in the code but not in {pot_path.name}: {FIX}"
        for key, label in code.items()
        if key not in pot
    ]
    problems += [
        f"{label} is in {pot_path.name} but no longer in the code: {FIX}"
        for key, label in pot.items()
        if key not in code
    ]
    for po_path in sorted(locales_dir.glob("*/LC_MESSAGES/messages.po")):
        catalog = read(po_path)
        name = po_path.relative_to(locales_dir)
        for message in catalog.obsolete.values():
            problems.append(f"{name}: obsolete entry {message.id!r} (#~): {FIX}")
        have = keys(catalog)
        problems += [
            f"{name}: {label} is no longer in the code: {FIX}"
            for key, label in have.items()
            if key not in code
        ]
        problems += [
            f"{name}: {label} is missing: {FIX}" for key, label in code.items() if key not in have
        ]
    return problems


def test_catalogs_match_the_code(tmp_path: Path) -> None:
    problems = drift(PROJECT_ROOT / "bot", PROJECT_ROOT / "locales", tmp_path)
    assert problems == [], "\n".join(problems)


@pytest.fixture
def synced(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of bot/ and catalogs made from it with the documented commands: in step."""
    source = tmp_path / "src" / "bot"
    shutil.copytree(PROJECT_ROOT / "bot", source, ignore=shutil.ignore_patterns("__pycache__"))
    locales = tmp_path / "locales"
    locales.mkdir()
    pybabel(
        "extract", "-F", str(PYPROJECT), "-o", str(locales / "messages.pot"), "--no-wrap",
        "--sort-by-file", str(source),
    )  # fmt: skip
    for locale in ("en", "zh_Hans"):
        pybabel("init", "-i", str(locales / "messages.pot"), "-d", str(locales), "-l", locale)
    assert drift(source, locales, tmp_path) == []
    return source, locales


def test_a_planted_string_is_named(synced: tuple[Path, Path], tmp_path: Path) -> None:
    source, locales = synced
    (source / "planted.py").write_text(
        'from bot.core.i18n import _\n\nPLANTED = _("A planted string nobody extracted")\n',
        encoding="utf-8",
    )
    problems = drift(source, locales, tmp_path)
    assert any(
        p.startswith("'A planted string nobody extracted' (") and "not in messages.pot" in p
        for p in problems
    ), problems
    assert sum("'A planted string nobody extracted'" in p for p in problems) == 3  # pot + 2 po


def test_a_string_removed_from_the_code_and_an_obsolete_entry_are_named(
    synced: tuple[Path, Path], tmp_path: Path
) -> None:
    source, locales = synced
    menu = source / "telegram_side" / "handlers" / "menu.py"
    text = menu.read_text(encoding="utf-8")
    old = '_("Sorry, I don\'t know that command. Please choose a topic:")'
    assert old in text
    menu.write_text(text.replace(old, '"not translatable any more"'), encoding="utf-8")
    po = locales / "zh_Hans" / "LC_MESSAGES" / "messages.po"
    with po.open("a", encoding="utf-8") as fh:
        fh.write('\n#~ msgid "An old string"\n#~ msgstr "旧字符串"\n')
    problems = drift(source, locales, tmp_path)
    removed = (
        '"Sorry, I don\'t know that command. Please choose a topic:" '
        "(bot/telegram_side/handlers/menu.py:"
    )
    assert any(
        p.startswith(removed)
        and p.endswith(f"is in messages.pot but no longer in the code: {FIX}")
        for p in problems
    ), problems
    assert any(p.startswith("zh_Hans/LC_MESSAGES/messages.po: obsolete entry 'An old string'")
               for p in problems), problems  # fmt: skip
    assert any(p.startswith(f"en/LC_MESSAGES/messages.po: {removed}") for p in problems)
