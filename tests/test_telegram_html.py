"""Telegram's HTML parse mode: what Telegram shows, and the error it gives when it refuses.

Error descriptions and byte offsets follow tdlib's parse_html, which the Bot API server runs.
"""

from __future__ import annotations

import pytest

from bot.core.telegram_html import (
    Entity,
    ParsedText,
    TelegramHTMLError,
    parse_html,
    utf16_len,
    validate_message_text,
)

E = Entity


@pytest.mark.parametrize(
    ("html", "text", "entities"),
    [
        ("plain", "plain", ()),
        ("<b>bold</b> <strong>too</strong>", "bold too", (E("bold", 0, 4), E("bold", 5, 3))),
        ("<i>a</i><em>b</em>", "ab", (E("italic", 0, 1), E("italic", 1, 1))),
        ("<u>a</u><ins>b</ins>", "ab", (E("underline", 0, 1), E("underline", 1, 1))),
        (
            "<s>a</s><strike>b</strike><del>c</del>",
            "abc",
            (E("strikethrough", 0, 1), E("strikethrough", 1, 1), E("strikethrough", 2, 1)),
        ),
        (
            '<span class="tg-spoiler">a</span><tg-spoiler>b</tg-spoiler>',
            "ab",
            (E("spoiler", 0, 1), E("spoiler", 1, 1)),
        ),
        (
            '<a href="https://example.org/?a=1&amp;b=2">link</a>',
            "link",
            (E("text_link", 0, 4, url="https://example.org/?a=1&b=2"),),
        ),
        (
            "<a>https://example.org</a>",
            "https://example.org",
            (E("text_link", 0, 19, url="https://example.org"),),
        ),
        (
            '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>',
            "👍",
            (E("custom_emoji", 0, 2, custom_emoji_id="5368324170671202286"),),
        ),
        ("<code>x</code>", "x", (E("code", 0, 1),)),
        # a language counts only inside pre
        ('<code class="language-python">x</code>', "x", (E("code", 0, 1),)),
        ("<pre>x</pre>", "x", (E("pre", 0, 1),)),
        (
            '<pre><code class="language-python">x = 1</code></pre>',
            "x = 1",
            (E("pre", 0, 5, language="python"),),
        ),
        ("<blockquote>q</blockquote>", "q", (E("blockquote", 0, 1),)),
        ("<blockquote expandable>q</blockquote>", "q", (E("expandable_blockquote", 0, 1),)),
        # nesting, case-insensitive tags, end tag without a name, white space in the end tag
        (
            "<B>a<i>b</i></b >",
            "ab",
            (E("bold", 0, 2), E("italic", 1, 1)),
        ),
        ("<b>a</>", "a", (E("bold", 0, 1),)),
        # offsets in UTF-16 code units: the emoji takes two
        ("😀<b>x</b>", "😀x", (E("bold", 2, 1),)),
        ("中文<i>字</i>", "中文字", (E("italic", 2, 1),)),
        # character references, with and without ';'; unknown ones stay literal
        ("a &lt; b &gt; c &amp; &quot;", 'a < b > c & "', ()),
        ("&#65;&#x42;&#x1F600;", "AB😀", ()),
        ("&lt&amp", "<&", ()),
        ("&nbsp; &copy; & x", "&nbsp; &copy; & x", ()),
        # an empty element makes no entity
        ("<b></b>x", "x", ()),
    ],
)
def test_parses_like_telegram(html: str, text: str, entities: tuple[Entity, ...]) -> None:
    assert parse_html(html) == ParsedText(text, entities)


@pytest.mark.parametrize(
    ("html", "description"),
    [
        ("<foo>x</foo>", 'Unsupported start tag "foo" at byte offset 0'),
        ("Hello <br> there", 'Unsupported start tag "br" at byte offset 6'),
        ("12 < 15", 'Unsupported start tag "" at byte offset 3'),
        ("<p>x</p>", 'Unsupported start tag "p" at byte offset 0'),
        # byte offsets count UTF-8 bytes: 中 is three of them
        ("中<foo>", 'Unsupported start tag "foo" at byte offset 3'),
        ("x <b", "Unclosed start tag at byte offset 2"),
        ("<a href", 'Unclosed start tag "a" at byte offset 0'),
        ('<a href="x"', "Unclosed start tag at byte offset 0"),
        ('<a ="x">y</a>', 'Empty attribute name in the tag "a" at byte offset 0'),
        ("<a href=x/>y</a>", "Unexpected end of name token at byte offset 8"),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<b>x</b", "Unclosed end tag at byte offset 4"),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("<b>a<i>b</b></i>", 'Unmatched end tag at byte offset 8, expected "</i>", found "</b>"'),
        ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b><i>x</i>", 'Can\'t find end tag corresponding to start tag "b"'),
        ('<tg-emoji emoji-id="x">y</tg-emoji>', "Invalid custom emoji identifier specified"),
    ],
)
def test_refuses_like_telegram(html: str, description: str) -> None:
    with pytest.raises(TelegramHTMLError) as caught:
        parse_html(html)
    assert caught.value.description == "can't parse entities: " + description
    assert str(caught.value) == caught.value.description


def test_error_carries_the_byte_offset() -> None:
    with pytest.raises(TelegramHTMLError) as caught:
        parse_html("ab <foo>")
    assert caught.value.byte_offset == 3


def test_unmatched_surrogate_from_a_reference_is_refused() -> None:
    with pytest.raises(TelegramHTMLError, match="invalid Unicode characters"):
        parse_html("&#xD800;")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", 0), ("abc", 3), ("中文", 2), ("😀", 2), ("a😀b", 4)],
)
def test_utf16_len(text: str, expected: int) -> None:
    assert utf16_len(text) == expected


@pytest.mark.parametrize(
    ("text", "parse_mode", "error"),
    [
        ("", None, "message text is empty"),
        ("   \n ", None, "message text is empty"),
        ("<b></b>", "HTML", "message text is empty"),
        ("x" * 4097, None, "message is too long"),
        # counted after entity parsing: markup does not count, &lt; counts once
        ("<b>" + "x" * 4097 + "</b>", "HTML", "message is too long"),
        ("&lt;" * 4097, "HTML", "message is too long"),
        ("<foo>", "HTML", 'can\'t parse entities: Unsupported start tag "foo" at byte offset 0'),
        ("x", "bogus", "unsupported parse_mode"),
    ],
)
def test_validate_message_text_refuses(text: str, parse_mode: str | None, error: str) -> None:
    with pytest.raises(TelegramHTMLError) as caught:
        validate_message_text(text, parse_mode)
    assert caught.value.description == error


@pytest.mark.parametrize(
    ("text", "parse_mode"),
    [
        ("x" * 4096, None),
        ("<b>" + "x" * 4096 + "</b>", "HTML"),
        ("&lt;" * 4096, "html"),
        ("<foo>", None),  # without a parse mode tags are just text
        # 4096 emoji are 8192 UTF-16 code units, still one message
        ("😀" * 4096, None),
    ],
)
def test_validate_message_text_accepts(text: str, parse_mode: str | None) -> None:
    parsed = validate_message_text(text, parse_mode)
    assert parsed.text


def test_entity_dicts_are_bot_api_json() -> None:
    parsed = parse_html(
        '<a href="https://e.org">x</a><pre><code class="language-py">y</code></pre>'
    )
    assert parsed.entity_dicts() == [
        {"type": "text_link", "offset": 0, "length": 1, "url": "https://e.org"},
        {"type": "pre", "offset": 1, "length": 1, "language": "py"},
    ]
