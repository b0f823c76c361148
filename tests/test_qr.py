"""`interventional-bot qr`: the link printed, and a QR code that a reader decodes to that link.

The PNG is opened with Pillow and decoded with ZXing (zxing-cpp), as a phone's camera app
would. The SVG is parsed as XML, its drawing turned back into modules and compared with
segno's own matrix, then decoded with ZXing from those modules too.
"""

from __future__ import annotations

import asyncio
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import segno
import zxingcpp
from PIL import Image

from bot.cli.main import main
from bot.cli.qr_command import ERROR_CORRECTION
from bot.testing import BotAPIEmulator

_SVG = "{http://www.w3.org/2000/svg}"
# The pixels of one module when a test draws the SVG's modules for the decoder.
_PIXELS = 6


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, project_copy: tuple[Path, Path]) -> tuple[Path, Path]:
    """The CLI's environment: a copy of the content, no token, no username."""
    content, locales = project_copy
    for name in ("BOT_TOKEN", "BOT_USERNAME", "BOT_API_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CONTENT_DIR", str(content))
    monkeypatch.setenv("LOCALES_DIR", str(locales))
    return content, locales


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["qr", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def decode_png(path: Path) -> list[str]:
    with Image.open(path) as image:
        return [barcode.text for barcode in zxingcpp.read_barcodes(image)]


def svg_modules(path: Path) -> list[list[bool]]:
    """The dark and light modules an SVG written by segno draws (quiet zone included)."""
    root = ET.parse(path).getroot()
    assert root.tag == f"{_SVG}svg"
    group = root.find(f"{_SVG}g")
    assert group is not None
    scale = re.fullmatch(r"scale\((\d+)\)", group.get("transform", ""))
    assert scale is not None
    size = int(root.get("width", "0")) // int(scale.group(1))
    lines = [p for p in group.iter(f"{_SVG}path") if p.get("class") == "qrline"]
    assert len(lines) == 1 and lines[0].get("stroke") == "#000"
    modules = [[False] * size for _ in range(size)]
    x = y = 0.0
    # segno draws each row's dark runs as horizontal strokes one module wide, at y + 0.5.
    for command, first, second in re.findall(
        r"([Mmh])(-?[\d.]+)(?: (-?[\d.]+))?", lines[0].get("d", "")
    ):
        if command == "M":
            x, y = float(first), float(second)
        elif command == "m":
            x, y = x + float(first), y + float(second)
        else:
            for column in range(int(x), int(x + float(first))):
                modules[int(y)][column] = True
            x += float(first)
    return modules


def decode_modules(modules: list[list[bool]]) -> list[str]:
    size = len(modules) * _PIXELS
    pixels = bytearray(
        0 if dark else 255
        for row in modules
        for _ in range(_PIXELS)
        for dark in row
        for _ in range(_PIXELS)
    )
    image = memoryview(pixels).cast("B", (size, size))
    return [barcode.text for barcode in zxingcpp.read_barcodes(image)]


def segno_matrix(link: str, border: int = 4) -> list[list[bool]]:
    code = segno.make_qr(link, error=ERROR_CORRECTION)
    return [[bool(m) for m in row] for row in code.matrix_iter(border=border)]


@pytest.mark.parametrize("suffix", [".png", ".svg", ".PNG"])
def test_qr_writes_a_code_that_decodes_to_the_printed_link(
    env: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    suffix: str,
) -> None:
    monkeypatch.setenv("BOT_USERNAME", "@Hospital_Info_Bot")  # as BotFather shows it
    out_file = tmp_path / f"poster{suffix}"
    code, out, err = run(
        capsys, "recovery", "--lang", "zh-hans", "--source", "ward3-poster", "-o", str(out_file)
    )
    assert code == 0, err
    link = "https://t.me/Hospital_Info_Bot?start=v1_recovery_zh-Hans_ward3-poster"
    assert out == link + "\n"
    assert err.startswith(f"wrote {out_file}: QR code version ")
    if suffix.lower() == ".png":
        assert out_file.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
        assert decode_png(out_file) == [link]
    else:
        modules = svg_modules(out_file)
        assert modules == segno_matrix(link)
        assert decode_modules(modules) == [link]


def test_qr_without_language_or_source_is_the_shortest_link(
    env: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("BOT_USERNAME", "hospital_bot")
    code, out, _err = run(capsys, "stents", "-o", str(tmp_path / "a.png"))
    assert code == 0
    assert out.strip() == "https://t.me/hospital_bot?start=stents"
    assert decode_png(tmp_path / "a.png") == [out.strip()]
    code, out, _err = run(capsys, "home", "--source", "lobby", "-o", str(tmp_path / "b.svg"))
    assert code == 0 and out.strip() == "https://t.me/hospital_bot?start=v1_home__lobby"
    assert decode_modules(svg_modules(tmp_path / "b.svg")) == [out.strip()]


async def test_qr_asks_telegram_for_the_username_when_it_is_not_set(
    env: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    emulator: BotAPIEmulator,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("BOT_TOKEN", emulator.token)
    monkeypatch.setenv("BOT_API_BASE_URL", emulator.base_url)
    target = tmp_path / "poster.png"
    argv = ["qr", "about", "--lang", "en", "--source", "clinic-B", "-o", str(target)]
    assert await asyncio.to_thread(main, argv) == 0
    link = f"https://t.me/{emulator.bot_username}?start=v1_about_en_clinic-B"
    assert capsys.readouterr().out == link + "\n"
    assert decode_png(target) == [link]
    assert [r.method for r in emulator.requests] == ["getMe"]

    # A token Telegram refuses, and a Telegram that cannot be reached: one line, exit 2.
    monkeypatch.setenv("BOT_TOKEN", "123456:not-the-emulators-token")
    assert await asyncio.to_thread(main, argv) == 2
    err = capsys.readouterr().err
    assert err == "interventional-bot: BOT_TOKEN: Telegram refused the token (getMe)\n"
    assert "not-the-emulators-token" not in err
    monkeypatch.setenv("BOT_API_BASE_URL", "http://127.0.0.1:9/bot")
    assert await asyncio.to_thread(main, argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "interventional-bot: BOT_TOKEN: cannot ask Telegram for the bot's username (getMe): "
    )
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "env_vars", "message"),
    [
        (["nope", "-o", "x.png"], {}, "TOPIC: no topic 'nope' in en"),
        (["Recovery!", "-o", "x.png"], {}, "TOPIC: 'Recovery!' is not a topic id"),
        (
            ["bleeding", "--lang", "en", "-o", "x.png"],
            {"draft": "bleeding"},
            "TOPIC: 'bleeding' is not served in en (a draft, or under one)",
        ),
        (["recovery", "--lang", "fr", "-o", "x.png"], {}, "--lang: 'fr' is not a language"),
        (
            ["recovery", "--source", "ward 3", "-o", "x.png"],
            {},
            "--source: 'ward 3' is not a source id",
        ),
        (
            ["recovery", "--source", "ward_3", "-o", "x.png"],
            {},
            "--source: 'ward_3' is not a source id",
        ),
        (
            ["recovery", "--lang", "zh_Hans", "--source", "s" * 45, "-o", "x.png"],
            {},
            "shorten the source to at most 44 characters",
        ),
        (["recovery", "-o", "x.jpg"], {}, "-o: 'x.jpg' must end in .png or .svg"),
        (["recovery", "-o", "x.png"], {"BOT_USERNAME": ""}, "BOT_USERNAME: not set, and no"),
        (
            ["recovery", "-o", "x.png"],
            {"BOT_USERNAME": "hospital"},
            "BOT_USERNAME: 'hospital' is not a bot's username",
        ),
        (
            ["recovery", "-o", "x.png"],
            {"BOT_USERNAME": "a" * 30 + "bot"},
            "is not a bot's username",
        ),
        (
            ["recovery", "-o", "no/such/dir/x.png"],
            {"BOT_USERNAME": "hospital_bot"},
            "-o: cannot write no/such/dir/x.png",
        ),
    ],
)
def test_qr_errors_are_one_line_and_exit_2(
    env: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    argv: list[str],
    env_vars: dict[str, str],
    message: str,
) -> None:
    content, _locales = env
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BOT_USERNAME", "hospital_bot")
    for name, value in env_vars.items():
        if name == "draft":
            path = content / "en" / f"{value}.yaml"
            text = path.read_text(encoding="utf-8")
            path.write_text(text.replace("source:", "status: draft\nsource:", 1), "utf-8")
        elif value:
            monkeypatch.setenv(name, value)
        else:
            monkeypatch.delenv(name)
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert err.startswith("interventional-bot: ") and err.count("\n") == 1, err
    assert message in err, err
    assert list(tmp_path.glob("x.*")) == []
