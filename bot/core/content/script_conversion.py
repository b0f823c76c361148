"""Traditional Chinese made by machine from Simplified (OpenCC): the text and one YAML file.

``interventional-bot i18n convert zh_Hans zh_Hant`` (see :mod:`locale_conversion`) passes every
content file of the Simplified locale through :func:`convert_yaml_text`: the whole file is
converted as text (so that comments, quoting, field order and the translator's layout stay as
they are: only Chinese characters change), then checked against the original, field by field:

- the same fields, lists of the same length, the same dates, numbers and booleans;
- ids, children, ``translated_from``, ``reviewed``, ``status`` and ``contact`` unchanged;
- in every text, the same HTML tags in the same order and the same ``{placeholders}``.

OpenCC's phrase conversion can make two different Simplified words one Traditional word (B超
and 超声波 are both 超音波 in Taiwan): a keyword or glossary alias that the conversion repeats
is dropped, since the loader refuses one listed twice. Quotation marks “…” and ‘…’ around
Chinese become 「…」 and 『…』, as Taiwan and Hong Kong write them (OpenCC leaves them).

Each converted file gets a field that says so (:data:`MACHINE_FIELD`), with the OpenCC
configuration and the hash of the Simplified file it was made from; ``i18n mark-reviewed``
turns it into :data:`REVIEWED_FIELD` once a translator has checked the file.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from babel import Locale, UnknownLocaleError

from bot.core.content.problems import Problem
from bot.core.content.yamlfile import load_yaml_text, read_yaml

#: ``--variant``: OpenCC's configuration for each. ``s2twp``: Taiwan characters and Taiwan
#: phrases (超音波, 電腦斷層, 胰臟); ``s2hk``: Hong Kong characters, mainland phrases.
VARIANTS = {"tw": "s2twp", "hk": "s2hk"}
DEFAULT_VARIANT = "tw"
#: A machine-converted file: ``machine_converted: "opencc s2twp from zh_Hans 1a2b3c4d5e6f"``.
MACHINE_FIELD = "machine_converted"
#: The same file once a translator reviewed it: ``converted_from: "zh_Hans 1a2b3c4d5e6f"``.
REVIEWED_FIELD = "converted_from"
HASH_LENGTH = 12

# Values that identify or place a thing, never text: a conversion must leave them as they are.
_FIXED_FIELDS = frozenset(
    {"id", "children", "translated_from", "reviewed", "status", "contact", "hash"}
)
_TAG = re.compile(r"<[^>]*>")
_PROTECTED = re.compile(r"(<[^<>\n]*>|\{[^{}\n]*\})")
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_QUOTES = (
    (re.compile(f"“([^“”]*[{_CJK}][^“”]*)”"), r"「\1」"),
    (re.compile(f"‘([^‘’]*[{_CJK}][^‘’]*)’"), r"『\1』"),
)
_MARKER = re.compile(r"^opencc (\S+) from (\S+) ([0-9a-f]{12})$")
_REVIEWED = re.compile(r"^(\S+) ([0-9a-f]{12})$")


class ConversionError(Exception):
    """A conversion cannot be done or would damage a file; ``str()`` is one line."""


@dataclass(frozen=True)
class Marker:
    """What :data:`MACHINE_FIELD` (``config`` set) or :data:`REVIEWED_FIELD` says."""

    source: str
    digest: str
    config: str | None = None

    def value(self) -> str:
        if self.config is None:
            return f"{self.source} {self.digest}"
        return f"opencc {self.config} from {self.source} {self.digest}"


def parse_marker(field: str, value: object) -> Marker | None:
    """The marker in ``field``'s value, or None when it is not one."""
    if not isinstance(value, str):
        return None
    if field == MACHINE_FIELD and (m := _MARKER.match(value.strip())):
        return Marker(m.group(2), m.group(3), m.group(1))
    if field == REVIEWED_FIELD and (m := _REVIEWED.match(value.strip())):
        return Marker(m.group(1), m.group(2))
    return None


@dataclass(frozen=True)
class FileMarks:
    """What a content file says about its conversion: ``machine`` (converted by machine, not
    reviewed), ``reviewed`` (converted, then reviewed), neither (written by a person), and the
    line of the field that says so."""

    machine: Marker | None = None
    reviewed: Marker | None = None
    line: int | None = None
    unreadable: str | None = None  # why the file could not be read (`check` says more)


def read_marks(path: Path) -> FileMarks:
    parsed = read_yaml(path)
    if isinstance(parsed, Problem):
        return FileMarks(unreadable=parsed.message)
    data = parsed.data if isinstance(parsed.data, dict) else {}
    machine = parse_marker(MACHINE_FIELD, data.get(MACHINE_FIELD))
    reviewed = parse_marker(REVIEWED_FIELD, data.get(REVIEWED_FIELD))
    field = MACHINE_FIELD if MACHINE_FIELD in data else REVIEWED_FIELD
    return FileMarks(machine, reviewed, parsed.lines.get(field))


def yaml_quoted(value: str) -> str:
    """``value`` as a double-quoted YAML scalar on one line."""
    dumped: str = yaml.safe_dump(value, allow_unicode=True, default_style='"', width=10**6)
    return dumped.strip().removesuffix("...").strip()


def marker_problem(field: str, value: object) -> str | None:
    """Why ``value`` is not a valid :data:`MACHINE_FIELD` or :data:`REVIEWED_FIELD`, or None."""
    if parse_marker(field, value) is not None:
        return None
    writer = "i18n convert" if field == MACHINE_FIELD else "i18n mark-reviewed"
    example = Marker("zh_Hans", "0" * HASH_LENGTH, "s2twp" if field == MACHINE_FIELD else None)
    return (
        f"field {field!r} is written by `interventional-bot {writer}`, as "
        f"{example.value()!r}: do not edit it"
    )


def digest(text: str) -> str:
    """The short hash that names a version of a source file or string."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:HASH_LENGTH]


def load_converter(variant: str) -> tuple[str, Callable[[str], str]]:
    """(OpenCC configuration, text -> converted text) for ``variant`` (``tw`` or ``hk``)."""
    config = VARIANTS.get(variant)
    if config is None:
        raise ConversionError(f"--variant: {variant!r} is not one of {', '.join(VARIANTS)}")
    import opencc  # noqa: PLC0415 - dictionaries load on first use: only the convert command

    converter = opencc.OpenCC(config)

    def convert(text: str) -> str:
        # HTML tags (a link's address may hold Chinese) and {placeholders} stay as written.
        parts = _PROTECTED.split(text)
        parts[::2] = [str(converter.convert(part)) if part else part for part in parts[::2]]
        converted = "".join(parts)
        for pattern, replacement in _QUOTES:
            converted = pattern.sub(replacement, converted)
        return converted

    return config, convert


def conversion_source(locale: str, locales: Iterable[str]) -> str | None:
    """The locale of ``locales`` that ``locale`` can be converted from by machine: Simplified
    Chinese for Traditional Chinese (zh_Hant <- zh_Hans); None for any other locale."""
    if _script(locale) != ("zh", "Hant"):
        return None
    return next((other for other in locales if _script(other) == ("zh", "Hans")), None)


def _script(locale: str) -> tuple[str, str | None]:
    try:
        parsed = Locale.parse(locale)
    except (ValueError, UnknownLocaleError):
        return ("", None)
    return parsed.language, parsed.script


def convert_text(text: str, variant: str = DEFAULT_VARIANT) -> str:
    """``text`` (Telegram HTML: tags and entities are ASCII, OpenCC leaves them) in Traditional
    Chinese, e.g. a broadcast written in Simplified Chinese (see broadcast/draft.py)."""
    return _converter(variant)(text)


@functools.cache
def _converter(variant: str) -> Callable[[str], str]:
    return load_converter(variant)[1]


def convert_yaml_text(text: str, convert: Callable[[str], str], where: str) -> str:
    """``text`` (one content file) converted, checked against the original (see the module
    docstring), without the marker field; raises :class:`ConversionError` naming ``where``."""
    try:
        _node, original = load_yaml_text(text)
    except yaml.YAMLError as exc:
        raise ConversionError(f"{where}: not valid YAML: {exc}") from None
    converted = drop_repeated_words(convert(text))
    try:
        _node, data = load_yaml_text(converted)
    except yaml.YAMLError as exc:  # pragma: no cover - OpenCC changes no YAML syntax
        raise ConversionError(f"{where}: the converted text is not valid YAML: {exc}") from None
    problem = _difference(original, data, "")
    if problem is not None:
        raise ConversionError(f"{where}: the conversion would change {problem}")
    return converted


def _difference(old: Any, new: Any, path: str) -> str | None:
    """What differs between a file and its conversion beyond the Chinese text, or None."""
    if isinstance(old, dict):
        return _mapping_difference(old, new, path)
    if isinstance(old, list):
        return _list_difference(old, new, path)
    name = path.rsplit(".", 1)[-1].split("[", 1)[0]
    if isinstance(old, str) and isinstance(new, str) and name not in _FIXED_FIELDS:
        if _TAG.findall(old) != _TAG.findall(new):
            return f"the HTML tags of {path}"
        if sorted(_PLACEHOLDER.findall(old)) != sorted(_PLACEHOLDER.findall(new)):
            return f"the placeholders of {path}"
        return None
    return None if old == new and type(old) is type(new) else f"the value of {path}"


def _mapping_difference(old: dict[Any, Any], new: Any, path: str) -> str | None:
    if not isinstance(new, dict) or list(old) != list(new):
        return f"the fields of {path or 'the file'}"
    for key, value in old.items():
        found = _difference(value, new[key], f"{path}.{key}".lstrip("."))
        if found:
            return found
    return None


def _list_difference(old: list[Any], new: Any, path: str) -> str | None:
    name = path.rsplit(".", 1)[-1]
    if not isinstance(new, list):
        return f"the list {path}"
    if name in ("keywords", "aliases"):  # words the conversion repeats are dropped
        shorter = len(new) <= len(old)
        return None if shorter and all(isinstance(w, str) for w in new) else f"the list {path}"
    if len(old) != len(new):
        return f"the list {path}"
    for index, (a, b) in enumerate(zip(old, new, strict=True)):
        found = _difference(a, b, f"{path}[{index}]")
        if found:
            return found
    return None


def drop_repeated_words(text: str) -> str:
    """``text`` without the keywords, and glossary aliases, that repeat an earlier one of their
    list (or the term itself), compared as the loader does (case and spaces ignored)."""
    node, _data = load_yaml_text(text)
    spans: list[tuple[int, int]] = []
    for sequence, seen in _word_lists(node):
        for index, item in enumerate(sequence.value):
            if not isinstance(item, yaml.ScalarNode):
                continue
            key = " ".join(str(item.value).casefold().split())
            if key in seen:
                spans.append(_item_span(text, sequence, index))
            seen.add(key)
    for start, end in sorted(spans, reverse=True):
        text = text[:start] + text[end:]
    return text


def _word_lists(node: yaml.Node | None) -> Iterator[tuple[yaml.SequenceNode, set[str]]]:
    """The top-level ``keywords`` list, and each glossary term's ``aliases`` (with the words
    that already count: the term's own name)."""
    fields = _fields(node)
    keywords = fields.get("keywords")
    if isinstance(keywords, yaml.SequenceNode):
        yield keywords, set()
    terms = fields.get("terms")
    for entry in terms.value if isinstance(terms, yaml.SequenceNode) else ():
        entry_fields = _fields(entry)
        aliases, term = entry_fields.get("aliases"), entry_fields.get("term")
        if isinstance(aliases, yaml.SequenceNode):
            name = str(term.value) if isinstance(term, yaml.ScalarNode) else ""
            yield aliases, {" ".join(name.casefold().split())}


def _fields(node: yaml.Node | None) -> dict[str, yaml.Node]:
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {str(k.value): v for k, v in node.value if isinstance(k, yaml.ScalarNode)}


def _item_span(text: str, sequence: yaml.SequenceNode, index: int) -> tuple[int, int]:
    """Where item ``index`` of ``sequence`` is written, with its separator: the whole line in
    a block list (``  - word``), ``, word`` in a flow list (``[a, word]``)."""
    items = sequence.value
    item = items[index]
    if not sequence.flow_style:
        start = text.rfind("\n", 0, item.start_mark.index) + 1
        end = text.find("\n", item.end_mark.index)
        return start, len(text) if end < 0 else end + 1
    if index > 0:
        return items[index - 1].end_mark.index, item.end_mark.index
    following = items[1].start_mark.index if len(items) > 1 else item.end_mark.index
    return item.start_mark.index, following
