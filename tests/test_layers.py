"""The package's shape: layers import only downwards, no import cycle, limits match PTB's.

The import graph is read from the source with ``ast`` (every ``import`` and ``from … import``,
at module level or inside a function, including ``TYPE_CHECKING`` blocks), so an import hidden
in a function body still counts.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
import telegram.constants as tc

from bot.config import PROJECT_ROOT
from bot.core import limits

PACKAGE = PROJECT_ROOT / "bot"

# What each layer may not import (a prefix matches the module and everything under it).
FORBIDDEN: dict[str, tuple[str, ...]] = {
    # The pure core: no Telegram library, no database, no HTTP, no other layer of ours.
    "bot.core": (
        "telegram",
        "sqlalchemy",
        "aiohttp",
        "httpx",
        "asyncpg",
        "aiosqlite",
        "bot.storage",
        "bot.broadcast",
        "bot.telegram_side",
        "bot.testing",
        "bot.cli",
    ),
    # Storage knows tables and rows, not Telegram, handlers or the command line.
    "bot.storage": ("telegram", "bot.telegram_side", "bot.broadcast", "bot.testing", "bot.cli"),
    # The delivery engine and planning: not the handlers, the command line or the emulator.
    "bot.broadcast": ("bot.telegram_side.handlers", "bot.testing", "bot.cli"),
    # The Telegram side never reaches into the command line or the emulator.
    "bot.telegram_side": ("bot.testing", "bot.cli"),
    # The emulator speaks HTTP; it never imports the bot it tests (the harness may).
    "bot.testing": ("bot.cli", "bot.telegram_side.handlers"),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported(path: Path, name: str) -> Iterator[str]:
    """Every module ``path`` imports (absolute names; ``from x import y`` yields x and x.y)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            for alias in node.names:
                yield f"{base}.{alias.name}"


def graph() -> dict[str, set[str]]:
    mods = modules()
    edges: dict[str, set[str]] = {}
    for name, path in mods.items():
        edges[name] = {m for m in imported(path, name) if m in mods and m != name}
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_import_graph_has_no_cycle() -> None:
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_planted_cycle() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(edges) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layers_import_only_downwards(layer: str) -> None:
    banned = FORBIDDEN[layer]
    found: list[str] = []
    for name, path in modules().items():
        if name != layer and not name.startswith(layer + "."):
            continue
        for target in imported(path, name):
            if any(target == b or target.startswith(b + ".") for b in banned):
                found.append(f"{name} imports {target}")
    assert found == []


def test_no_two_modules_share_a_name() -> None:
    seen: dict[str, list[str]] = {}
    for name, path in modules().items():
        if path.name != "__init__.py" and name != "bot.__main__":
            seen.setdefault(path.stem, []).append(name)
    assert {stem: names for stem, names in seen.items() if len(names) > 1} == {}


def test_no_module_imports_ptb_private_modules() -> None:
    found = [
        f"{name} imports {target}"
        for name, path in modules().items()
        for target in imported(path, name)
        if target.startswith("telegram._") or target.startswith("telegram.ext._")
    ]
    assert found == []


def test_the_core_limits_are_the_ones_ptb_publishes() -> None:
    assert limits.MAX_MESSAGE_LENGTH == tc.MessageLimit.MAX_TEXT_LENGTH
    assert limits.MAX_CALLBACK_DATA_BYTES == tc.InlineKeyboardButtonLimit.MAX_CALLBACK_DATA
    assert limits.MAX_INLINE_BUTTONS == tc.InlineKeyboardMarkupLimit.TOTAL_BUTTON_NUMBER
    assert limits.MAX_DEEP_LINK_LENGTH == tc.MessageLimit.DEEP_LINK_LENGTH
    assert limits.BULK_MESSAGES_PER_SECOND == tc.FloodLimit.MESSAGES_PER_SECOND
    assert limits.PER_CHAT_MESSAGES_PER_SECOND == tc.FloodLimit.MESSAGES_PER_SECOND_PER_CHAT
    assert limits.PAID_BROADCAST_MESSAGES_PER_SECOND == tc.FloodLimit.PAID_MESSAGES_PER_SECOND


# A module or function above these sizes says why in its docstring, starting a sentence with
# the marker ("Over 400 lines: …", "Over 60 lines: …").
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
MODULE_MARKER = "Over 400 lines:"
FUNCTION_MARKER = "Over 60 lines:"


def test_no_module_over_400_lines_without_a_reason_at_its_top() -> None:
    found = []
    for name, path in modules().items():
        text = path.read_text(encoding="utf-8")
        lines = text.count("\n")
        doc = ast.get_docstring(ast.parse(text)) or ""
        if lines > MAX_MODULE_LINES and MODULE_MARKER not in doc:
            found.append(f"{name}: {lines} lines")
    assert found == []


def test_no_function_over_60_lines_without_a_reason() -> None:
    found = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            doc = ast.get_docstring(node) or ""
            if length > MAX_FUNCTION_LINES and FUNCTION_MARKER not in doc:
                found.append(f"{name}.{node.name}: {length} lines")
    assert found == []
