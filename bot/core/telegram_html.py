"""Telegram's HTML parse mode, parsed the way Telegram parses it.

A pure port of the rules of tdlib's ``parse_html`` (td/telegram/MessageEntity.cpp), which is what
the Bot API server runs on every ``parse_mode=HTML`` text: the same accepted tags and attributes,
the same four named character references plus numeric ones, and the same error descriptions
with the same *byte* offsets (offsets into the UTF-8 encoding of the input). Entity offsets and
lengths are in UTF-16 code units, as in the Bot API.

Used by the Bot API emulator (``bot.testing``), by the ``check`` command and by broadcast
validation, so staff learn about broken HTML before Telegram refuses it.

Over 400 lines: it is one port of one C++ function and its helpers; kept in one file so that it
reads side by side with MessageEntity.cpp.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.core.limits import MAX_MESSAGE_LENGTH

__all__ = [
    "Entity",
    "ParsedText",
    "TelegramHTMLError",
    "parse_html",
    "utf16_len",
    "validate_message_text",
]


PARSE_ERROR_PREFIX = "can't parse entities: "

_SUPPORTED_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "span",
        "pre",
        "code",
        "blockquote",
    }
)

_SIMPLE_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}

# tdlib's order for entities that start at the same place with the same length.
_TYPE_PRIORITY = {
    "blockquote": 0,
    "expandable_blockquote": 0,
    "pre": 11,
    "code": 20,
    "text_link": 49,
    "custom_emoji": 99,
    "bold": 90,
    "italic": 91,
    "underline": 92,
    "strikethrough": 93,
    "spoiler": 94,
}

_SPACE = frozenset(b" \t\r\n\v\0")  # tdlib's is_space() counts NUL, the end of its C string
_AMP, _LT, _GT, _SLASH, _EQ = (ord(c) for c in "&<>/=")
_QUOTES = frozenset(b"\"'")


class TelegramHTMLError(ValueError):
    """Text Telegram would refuse; ``description`` is Telegram's text after "Bad Request: "."""

    def __init__(self, description: str, *, byte_offset: int | None = None) -> None:
        super().__init__(description)
        self.description = description
        #: Where in the UTF-8 encoded input the problem is, when Telegram says so.
        self.byte_offset = byte_offset

    def __str__(self) -> str:
        return self.description


@dataclass(frozen=True)
class Entity:
    """One MessageEntity; ``offset`` and ``length`` are in UTF-16 code units."""

    type: str
    offset: int
    length: int
    url: str | None = None
    language: str | None = None
    custom_emoji_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The entity as the Bot API's MessageEntity JSON object."""
        result: dict[str, Any] = {"type": self.type, "offset": self.offset, "length": self.length}
        if self.url is not None:
            result["url"] = self.url
        if self.language is not None:
            result["language"] = self.language
        if self.custom_emoji_id is not None:
            result["custom_emoji_id"] = self.custom_emoji_id
        return result


@dataclass(frozen=True)
class ParsedText:
    """Visible text and its entities, as Telegram stores a message."""

    text: str
    entities: tuple[Entity, ...] = field(default_factory=tuple)

    def entity_dicts(self) -> list[dict[str, Any]]:
        return [entity.to_dict() for entity in self.entities]


def utf16_len(s: str) -> int:
    """Length of ``s`` in UTF-16 code units (how Telegram measures entity offsets)."""
    return len(s) + sum(1 for ch in s if ord(ch) > 0xFFFF)


def _parse_error(message: str, byte_offset: int | None = None) -> TelegramHTMLError:
    return TelegramHTMLError(PARSE_ERROR_PREFIX + message, byte_offset=byte_offset)


@dataclass
class _Open:
    tag: str
    argument: str
    utf16_offset: int
    result_position: int
    byte_offset: int


class _Parser:
    """tdlib's ``parse_html``, method for method.

    ``start_tag`` and ``add_entity`` keep tdlib's branch structure (and so exceed ruff's
    complexity limits, C901/PLR0912, on purpose): read side by side with
    td/telegram/MessageEntity.cpp, each branch maps to one of tdlib's, which is how a change
    in Telegram's rules is found and ported.
    """

    def __init__(self, text: str) -> None:
        try:
            self.data = text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise TelegramHTMLError("strings must be encoded in UTF-8") from exc
        self.size = len(self.data)
        self.result = bytearray()
        self.utf16_offset = 0
        self.entities: list[Entity] = []
        self.nested: list[_Open] = []

    def at(self, i: int) -> int:
        """The byte at ``i``; 0 past the end, as tdlib reads its NUL-terminated string."""
        return self.data[i] if i < self.size else 0

    def decode_reference(self, pos: int) -> tuple[int, int] | None:
        """A character reference at ``pos``: (code point, position after it), or None."""
        data, at = self.data, self.at
        end = pos + 1
        code = 0
        if at(pos + 1) == ord("#"):
            end += 1
            if at(pos + 2) == ord("x"):
                end += 1
                while chr(at(end)) in "0123456789abcdefABCDEF" and at(end) != 0:
                    code = code * 16 + int(chr(at(end)), 16)
                    end += 1
            else:
                while ord("0") <= at(end) <= ord("9"):
                    code = code * 10 + at(end) - ord("0")
                    end += 1
            if code == 0 or code >= 0x10FFFF or end - pos >= 10:
                return None
        else:
            while chr(at(end)).isascii() and chr(at(end)).isalpha():
                end += 1
            name = data[pos + 1 : end]
            named = {b"lt": "<", b"gt": ">", b"amp": "&", b"quot": '"'}.get(bytes(name))
            if named is None:
                return None
            code = ord(named)
        return code, end + 1 if at(end) == ord(";") else end

    def append_code_point(self, target: bytearray, code: int) -> None:
        target += chr(code).encode("utf-8", "surrogatepass")

    def parse(self) -> ParsedText:
        i = 0
        at = self.at
        while i < self.size:
            c = self.data[i]
            if c == _AMP:
                decoded = self.decode_reference(i)
                if decoded is not None:
                    code, i = decoded
                    self.utf16_offset += 2 if code > 0xFFFF else 1
                    self.append_code_point(self.result, code)
                    continue
            if c != _LT:
                if c & 0xC0 != 0x80:  # first byte of a UTF-8 sequence
                    self.utf16_offset += 2 if c >= 0xF0 else 1
                self.result.append(c)
                i += 1
                continue
            begin = i
            i += 1
            i = self.start_tag(begin, i) if at(i) != _SLASH else self.end_tag(begin, i)
            i += 1  # past '>'
        if self.nested:
            tag = self.nested[-1].tag
            raise _parse_error(
                f'Can\'t find end tag corresponding to start tag "{tag}"',
                self.nested[-1].byte_offset,
            )
        try:
            text = self.result.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise TelegramHTMLError(
                "Text contains invalid Unicode characters after decoding HTML entities, "
                "check for unmatched surrogate code units"
            ) from exc
        entities = [
            Entity(e.type, e.offset, e.length, e.url, None, e.custom_emoji_id)
            if e.type == "code"
            else e
            for e in self.entities
        ]
        entities.sort(key=lambda e: (e.offset, -e.length, _TYPE_PRIORITY.get(e.type, 50)))
        return ParsedText(text, tuple(entities))

    def start_tag(self, begin: int, i: int) -> int:  # noqa: C901, PLR0912 - see _Parser
        at = self.at
        while at(i) not in _SPACE and at(i) != _GT:
            i += 1
        if at(i) == 0:
            raise _parse_error(f"Unclosed start tag at byte offset {begin}", begin)
        tag = self.data[begin + 1 : i].decode("utf-8", "replace").lower()
        if tag not in _SUPPORTED_TAGS:
            raise _parse_error(f'Unsupported start tag "{tag}" at byte offset {begin}', begin)

        argument = ""
        while at(i) != _GT:
            while at(i) != 0 and at(i) in _SPACE:
                i += 1
            if at(i) == _GT:
                break
            name_begin = i
            while at(i) not in _SPACE and at(i) not in (_EQ, _GT, _SLASH) and at(i) not in _QUOTES:
                i += 1
            attribute = self.data[name_begin:i].decode("utf-8", "replace").lower()
            if not attribute:
                raise _parse_error(
                    f'Empty attribute name in the tag "{tag}" at byte offset {begin}', begin
                )
            while at(i) != 0 and at(i) in _SPACE:
                i += 1
            if at(i) != _EQ:
                if at(i) == 0:
                    raise _parse_error(f'Unclosed start tag "{tag}" at byte offset {begin}', begin)
                if tag == "blockquote" and attribute == "expandable":
                    argument = "1"
                continue
            i += 1
            while at(i) != 0 and at(i) in _SPACE:
                i += 1
            if at(i) == 0:
                raise _parse_error(f'Unclosed start tag "{tag}" at byte offset {begin}', begin)
            value, i = self.attribute_value(i)
            if at(i) == 0:
                raise _parse_error(f"Unclosed start tag at byte offset {begin}", begin)
            if (tag, attribute) in {("a", "href"), ("tg-emoji", "emoji-id")}:
                argument = value
            elif tag == "code" and attribute == "class" and value.startswith("language-"):
                argument = value.removeprefix("language-")
            elif tag == "span" and attribute == "class" and value.startswith("tg-"):
                argument = value.removeprefix("tg-")
            elif tag == "blockquote" and attribute == "expandable":
                argument = "1"
        if tag == "span" and argument != "spoiler":
            raise _parse_error(
                f'Tag "span" must have class "tg-spoiler" at byte offset {begin}', begin
            )
        self.nested.append(_Open(tag, argument, self.utf16_offset, len(self.result), begin))
        return i

    def attribute_value(self, i: int) -> tuple[str, int]:
        at = self.at
        if at(i) not in _QUOTES:
            # A name token: letters, digits, periods and hyphens; not case sensitive.
            token_begin = i
            while chr(at(i)).isascii() and (chr(at(i)).isalnum() or at(i) in b".-"):
                i += 1
            if at(i) not in _SPACE and at(i) != _GT:
                raise _parse_error(
                    f"Unexpected end of name token at byte offset {token_begin}", token_begin
                )
            return self.data[token_begin:i].decode("utf-8", "replace").lower(), i
        quote = at(i)
        i += 1
        value = bytearray()
        while at(i) != quote and at(i) != 0:
            if at(i) == _AMP:
                decoded = self.decode_reference(i)
                if decoded is not None:
                    code, i = decoded
                    self.append_code_point(value, code)
                    continue
            value.append(at(i))
            i += 1
        if at(i) == quote:
            i += 1
        return value.decode("utf-8", "replace"), i

    def end_tag(self, begin: int, i: int) -> int:
        at = self.at
        if not self.nested:
            raise _parse_error(f"Unexpected end tag at byte offset {begin}", begin)
        while at(i) not in _SPACE and at(i) != _GT:
            i += 1
        end_name = self.data[begin + 2 : i].decode("utf-8", "replace").lower()
        while at(i) != 0 and at(i) in _SPACE:
            i += 1
        if at(i) != _GT:
            raise _parse_error(f"Unclosed end tag at byte offset {begin}", begin)
        open_tag = self.nested[-1]
        if end_name and end_name != open_tag.tag:
            raise _parse_error(
                f'Unmatched end tag at byte offset {begin}, expected "</{open_tag.tag}>", '
                f'found "</{end_name}>"',
                begin,
            )
        if self.utf16_offset > open_tag.utf16_offset:
            self.add_entity(open_tag, self.utf16_offset - open_tag.utf16_offset)
        self.nested.pop()
        return i

    def add_entity(self, open_tag: _Open, length: int) -> None:  # noqa: C901 - see _Parser
        tag, offset, argument = open_tag.tag, open_tag.utf16_offset, open_tag.argument
        last = self.entities[-1] if self.entities else None
        same_span = last is not None and last.offset == offset and last.length == length
        if tag in _SIMPLE_TAGS:
            self.entities.append(Entity(_SIMPLE_TAGS[tag], offset, length))
        elif tag == "tg-emoji":
            if not (argument.isascii() and argument.isdigit() and 0 < int(argument) < 2**63):
                raise _parse_error("Invalid custom emoji identifier specified")
            self.entities.append(Entity("custom_emoji", offset, length, custom_emoji_id=argument))
        elif tag == "a":
            url = argument or self.result[open_tag.result_position :].decode("utf-8", "replace")
            if url:
                self.entities.append(Entity("text_link", offset, length, url=url))
        elif tag == "pre":
            if last is not None and same_span and last.type == "code":
                # <pre><code class="language-x">: one pre entity with that language.
                self.entities[-1] = Entity("pre", offset, length, language=last.language)
            else:
                self.entities.append(Entity("pre", offset, length))
        elif tag == "code":
            language = argument or None
            if last is not None and same_span and last.type == "pre":
                self.entities[-1] = Entity("pre", offset, length, language=language)
            else:
                self.entities.append(Entity("code", offset, length, language=language))
        elif tag == "blockquote":
            kind = "expandable_blockquote" if argument else "blockquote"
            self.entities.append(Entity(kind, offset, length))


def parse_html(text: str) -> ParsedText:
    """Parse ``text`` as Telegram's HTML parse mode; raise TelegramHTMLError as Telegram would."""
    return _Parser(text).parse()


def validate_message_text(text: str, parse_mode: str | None) -> ParsedText:
    """What Telegram makes of a message text, or the error it gives (without "Bad Request: ").

    The length limit applies to the text after entity parsing and after Telegram trims leading
    and trailing white space; it counts characters (code points), while entity offsets count
    UTF-16 code units.
    """
    mode = (parse_mode or "").lower()
    if mode == "html":
        parsed = parse_html(text)
    elif mode in {"", "markdown", "markdownv2"}:
        # Markdown modes are not parsed here: the project writes HTML everywhere.
        parsed = ParsedText(text)
    else:
        raise TelegramHTMLError("unsupported parse_mode")
    visible = parsed.text.strip()
    if not visible:
        raise TelegramHTMLError("message text is empty")
    if len(visible) > MAX_MESSAGE_LENGTH:
        raise TelegramHTMLError("message is too long")
    return parsed
