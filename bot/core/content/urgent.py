"""``content/<locale>/urgent.yaml``: urgent warning signs and the message the bot sends first.

The file is content, written and reviewed by clinicians and translators like a topic (see
TRANSLATING.md, "Urgent symptoms"). It has the urgent-care ``message`` (Telegram HTML, with
``{emergency_number}``), the ``after_hours`` paragraph (with ``{phone}``, shown only when the
hospital's after-hours line is set) and a list of ``signs``. Each sign is a few lists of
**phrases**:

- ``any``: the words of the sign; one of them must be in the message;
- ``with`` (optional): context; one of these must be in the message too;
- ``except`` (optional): phrases that are not the sign, taken out before matching
  ("blood test" does not mean bleeding);
- ``unless`` (optional): cues that make the whole message a request for information; a
  message with one of them never triggers this sign, so use them sparingly.

A phrase is matched case-insensitively, as whole words in Latin script and anywhere in Chinese
text. ``bleed*`` matches any word that starts with "bleed"; ``...`` between words allows a few
words in between (``vomit* ... blood``, ``大便...黑``); ``/…/`` is a regular expression, for
experts. Every phrase is checked when the file is loaded: a bad one is an error with its line.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from bot.core.content.problems import Problem
from bot.core.content.script_conversion import marker_problem
from bot.core.content.yamlfile import read_yaml
from bot.core.telegram_html import TelegramHTMLError, validate_message_text
from bot.core.textnorm import CJK_CHARS, fold_script, normalize

URGENT_FILE = "urgent.yaml"
# machine_converted / converted_from: written by `i18n convert` / `mark-reviewed`.
FIELDS = (
    "reviewed",
    "reviewed_by",
    "source",
    "message",
    "after_hours",
    "signs",
    "machine_converted",
    "converted_from",
)
REQUIRED = ("source", "message", "after_hours", "signs")
SIGN_LISTS = ("any", "with", "except", "unless")
SIGN_FIELDS = ("sign", *SIGN_LISTS)
# The placeholders each text may use, and a sample value to check the result with.
PLACEHOLDERS: Mapping[str, Mapping[str, str]] = {
    "message": {"emergency_number": "112"},
    "after_hours": {"phone": "+1 234 567 890"},
}
# `...` in a phrase: anything, up to this many characters (a few words, or a short clause).
GAP_CHARACTERS = 30

# Where Chinese meets a letter or digit, the text gets a space ("TACE后" -> "tace 后"), so that
# a Latin-script word is a whole word between non-word characters (plain `\w` boundaries).
_SCRIPT_EDGE = re.compile(
    rf"(?<=[{CJK_CHARS}])(?=[^\W_{CJK_CHARS}])|(?<=[^\W_{CJK_CHARS}])(?=[{CJK_CHARS}])"
)
_IS_LATIN = re.compile(rf"[^\W_{CJK_CHARS}]")
_GAP = f".{{0,{GAP_CHARACTERS}}}?"
_GAP_TOKENS = ("...", "…")


def matchable(text: str) -> str:
    """``text`` as the phrases are matched against: normalized, scripts spaced apart."""
    return _SCRIPT_EDGE.sub(" ", normalize(text))


@dataclass(frozen=True)
class Phrase:
    text: str  # as written in the file
    pattern: re.Pattern[str]
    line: int | None = None

    def search(self, normalized: str) -> bool:
        return self.pattern.search(normalized) is not None


@dataclass(frozen=True)
class Sign:
    name: str
    any: tuple[Phrase, ...]
    with_: tuple[Phrase, ...] = ()
    except_: tuple[Phrase, ...] = ()
    unless: tuple[Phrase, ...] = ()
    line: int | None = None

    def matches(self, normalized: str) -> bool:
        """Whether ``normalized`` (made by :func:`matchable`) shows this sign."""
        if any(p.search(normalized) for p in self.unless):
            return False
        masked = normalized
        for phrase in self.except_:
            masked = phrase.pattern.sub(" ", masked)
        if not any(p.search(masked) for p in self.any):
            return False
        return not self.with_ or any(p.search(masked) for p in self.with_)


@dataclass(frozen=True)
class UrgentRules:
    """One locale's urgent signs and urgent-care message."""

    locale: str
    message: str
    after_hours: str
    signs: tuple[Sign, ...]
    source: str = ""
    reviewed: date | None = None
    reviewed_by: str | None = None
    path: Path | None = field(default=None, compare=False)

    def signs_in(self, text: str) -> list[str]:
        """The names of the signs ``text`` shows (the text itself is not kept)."""
        normalized = matchable(text)
        return [sign.name for sign in self.signs if sign.matches(normalized)]

    def render(self, emergency_number: str, after_hours_phone: str | None) -> str:
        """The message as sent: ``emergency_number`` is HTML already (escaped by the caller)."""
        text = self.message.format(emergency_number=emergency_number)
        if after_hours_phone:
            text += "\n\n" + self.after_hours.format(phone=after_hours_phone)
        return text


@dataclass(frozen=True)
class UrgentLoad:
    rules: Mapping[str, UrgentRules]
    problems: tuple[Problem, ...]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


def load_urgent(content_dir: Path, locales: Iterable[str]) -> UrgentLoad:
    """Every locale's ``urgent.yaml``; each must exist (patients of every language need it)."""
    rules: dict[str, UrgentRules] = {}
    problems: list[Problem] = []
    for locale in locales:
        path = content_dir / locale / URGENT_FILE
        if not path.is_file():
            problems.append(
                Problem(path, None, f"missing {URGENT_FILE}: every locale needs its urgent signs")
            )
            continue
        loaded, file_problems = load_urgent_file(path, locale)
        problems.extend(file_problems)
        if loaded is not None:
            rules[locale] = loaded
    return UrgentLoad(rules, tuple(problems))


def load_urgent_file(path: Path, locale: str) -> tuple[UrgentRules | None, list[Problem]]:
    parsed = read_yaml(path)
    if isinstance(parsed, Problem):
        return None, [parsed]
    if not isinstance(parsed.data, dict) or not isinstance(parsed.node, yaml.MappingNode):
        return None, [Problem(path, 1, "urgent.yaml must be a mapping of fields (message: …)")]
    reader = _UrgentReader(path, parsed.data, parsed.node, parsed.lines)
    result = reader.read(locale)
    return result, reader.problems


class _UrgentReader:
    """Validates one urgent.yaml; every problem names its line (down to the phrase)."""

    def __init__(
        self, path: Path, data: dict[str, Any], node: yaml.MappingNode, lines: Mapping[str, int]
    ) -> None:
        self.path, self.data, self.node, self.lines = path, data, node, lines
        self.problems: list[Problem] = []

    def err(self, line: int | None, message: str) -> None:
        self.problems.append(Problem(self.path, line, message))

    def read(self, locale: str) -> UrgentRules | None:
        for name in REQUIRED:
            if self.data.get(name) in (None, "", []):
                self.err(1, f"missing field {name!r}")
        for name in self.data:
            if name not in FIELDS:
                known = ", ".join(FIELDS)
                self.err(self.lines.get(str(name), 1), f"unknown field {name!r} (known: {known})")
        texts = {name: self.text(name) for name in ("source", "reviewed_by", *PLACEHOLDERS)}
        for name in ("machine_converted", "converted_from"):
            if name in self.data and (problem := marker_problem(name, self.data[name])):
                self.err(self.lines.get(name), problem)
        reviewed = self.data.get("reviewed")
        if reviewed is not None and not isinstance(reviewed, date):
            self.err(self.lines.get("reviewed"), "field 'reviewed' must be a date YYYY-MM-DD")
        for name in PLACEHOLDERS:
            self.check_text(name, texts[name])
        signs = self.signs()
        if self.problems:
            return None
        return UrgentRules(
            locale=locale,
            message=texts["message"] or "",
            after_hours=texts["after_hours"] or "",
            signs=signs,
            source=texts["source"] or "",
            reviewed=reviewed if isinstance(reviewed, date) else None,
            reviewed_by=texts["reviewed_by"],
            path=self.path,
        )

    def text(self, name: str) -> str | None:
        value = self.data.get(name)
        if value is not None and not isinstance(value, str):
            self.err(self.lines.get(name), f"field {name!r} must be text")
            return None
        return value.strip() if isinstance(value, str) else None

    def check_text(self, name: str, text: str | None) -> None:
        """Known placeholders only, and Telegram HTML that Telegram accepts once filled in."""
        if not text:
            return
        line = self.lines.get(name)
        allowed = PLACEHOLDERS[name]
        try:
            found = {n for _l, n, _s, _c in string.Formatter().parse(text) if n is not None}
        except ValueError as exc:
            self.err(line, f"{name}: broken placeholder: {exc} (write {{{{ and }}}} for braces)")
            return
        unknown = sorted(found - set(allowed))
        if unknown:
            known = ", ".join("{" + n + "}" for n in allowed)
            self.err(line, f"{name}: unknown placeholder {{{unknown[0]}}} (known: {known})")
            return
        try:
            validate_message_text(text.format(**allowed), "HTML")
        except TelegramHTMLError as exc:
            self.err(line, f"{name}: Telegram HTML: {exc}")

    def signs(self) -> tuple[Sign, ...]:
        node = _value_node(self.node, "signs")
        if "signs" in self.data and not isinstance(node, yaml.SequenceNode):
            self.err(self.lines.get("signs"), "field 'signs' must be a list of signs")
            return ()
        signs: list[Sign] = []
        names: set[str] = set()
        for item in node.value if isinstance(node, yaml.SequenceNode) else ():
            sign = self.sign(item)
            if sign is None:
                continue
            if sign.name in names:
                self.err(sign.line, f"sign {sign.name!r} is listed twice")
            names.add(sign.name)
            signs.append(sign)
        return tuple(signs)

    def sign(self, node: yaml.Node) -> Sign | None:
        line = node.start_mark.line + 1
        if not isinstance(node, yaml.MappingNode):
            self.err(line, "a sign must be a mapping: sign: …, any: […]")
            return None
        fields = {str(k.value): v for k, v in node.value if isinstance(k, yaml.ScalarNode)}
        name_node = fields.get("sign")
        name = str(name_node.value).strip() if isinstance(name_node, yaml.ScalarNode) else ""
        if not name:
            self.err(line, "a sign needs a name: `sign: …`")
        for key, value in fields.items():
            if key not in SIGN_FIELDS:
                known = ", ".join(SIGN_FIELDS)
                where = value.start_mark.line + 1
                self.err(where, f"sign {name!r}: unknown field {key!r} (known: {known})")
        if "any" not in fields:
            self.err(line, f"sign {name!r}: missing `any:` (the words of the sign)")
        lists = {key: self.phrases(name, key, fields[key]) for key in SIGN_LISTS if key in fields}
        if not name or not lists.get("any"):
            return None
        return Sign(
            name,
            lists["any"],
            lists.get("with", ()),
            lists.get("except", ()),
            lists.get("unless", ()),
            line,
        )

    def phrases(self, sign: str, key: str, node: yaml.Node) -> tuple[Phrase, ...]:
        where = f"sign {sign!r}: {key}"
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            self.err(node.start_mark.line + 1, f"{where}: must be a non-empty list of phrases")
            return ()
        phrases: list[Phrase] = []
        for item in node.value:
            line = item.start_mark.line + 1
            if not isinstance(item, yaml.ScalarNode) or not str(item.value).strip():
                self.err(line, f"{where}: each phrase must be a non-empty text")
                continue
            compiled = compile_phrase(str(item.value))
            if isinstance(compiled, str):
                self.err(line, f"{where}: {compiled}")
            else:
                phrases.append(Phrase(str(item.value), compiled, line))
        return tuple(phrases)


@functools.lru_cache(maxsize=4096)
def compile_phrase(raw: str) -> re.Pattern[str] | str:
    """The pattern of one phrase, or why it is unusable (one line). Cached: a reload compiles
    only the phrases that changed."""
    text = raw.strip()
    if len(text) > 2 and text.startswith("/") and text.endswith("/"):
        try:
            # Chinese in Simplified characters, as the text it is matched against (matchable).
            pattern = re.compile(fold_script(text[1:-1]), re.IGNORECASE)
        except re.error as exc:
            return f"invalid regular expression {text!r}: {exc}"
    else:
        words = re.sub(r"\.\.\.|…", " ... ", matchable(text)).split()
        if not words or words[0] in _GAP_TOKENS or words[-1] in _GAP_TOKENS:
            return f"phrase {text!r}: `...` goes between words"
        pieces: list[str] = []
        for previous, word in zip([None, *words], words, strict=False):
            if word in _GAP_TOKENS:
                pieces.append(_GAP)
                continue
            stem = word.rstrip("*")
            if not stem or "*" in stem:
                return f"phrase {text!r}: `*` goes at the end of a word (bleed*)"
            if previous is not None and previous not in _GAP_TOKENS:
                pieces.append(r"\W*" if _cjk_edge(previous, word) else r"[\W_]+")
            pieces.append(_word_pattern(stem, starred=word.endswith("*")))
        pattern = re.compile("".join(pieces))
    if pattern.search("") is not None:
        return f"phrase {text!r} matches an empty text: it would match every message"
    return pattern


def _word_pattern(word: str, *, starred: bool) -> str:
    """A word: whole-word at its Latin-script ends, anywhere at its Chinese ends."""
    body = re.escape(word) + (r"\w*" if starred else "")
    before = r"(?<!\w)" if _IS_LATIN.match(word[0]) else ""
    after = r"(?!\w)" if _IS_LATIN.match(word[-1]) and not starred else ""
    return before + body + after


def _cjk_edge(previous: str, word: str) -> bool:
    """Chinese on either side of the space between two words: no space is needed."""
    return not _IS_LATIN.match(previous.rstrip("*")[-1:] or "a") or not _IS_LATIN.match(word[0])


def _value_node(node: yaml.MappingNode, key: str) -> yaml.Node | None:
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key and isinstance(v, yaml.Node):
            return v
    return None
