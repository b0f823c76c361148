"""Screens are rendered before the first press (`run`), again after a reload."""

from __future__ import annotations

import gc

import pytest

from bot.core.render import Renderer
from bot.telegram_side.screen_warmup import ScreenWarmup
from tests.conftest import BotStarter


def count_renders(renderer: Renderer, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    rendered: list[str] = []
    render = renderer._render_topic

    def counting(locale: str, topic_id: str, page: int) -> object:
        rendered.append(f"{locale}:{topic_id}:{page}")
        return render(locale, topic_id, page)

    monkeypatch.setattr(renderer, "_render_topic", counting)
    return rendered


def served_pages(renderer: Renderer) -> list[tuple[str, str, int]]:
    return [
        (locale, topic.id, page)
        for locale in renderer.locales
        for topic in renderer.library.trees[locale].served_topics()
        for page in range(renderer.page_count(locale, topic.id))
    ]


async def test_after_the_warmup_no_press_renders_a_topic_page(
    start_bot: BotStarter, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with start_bot() as bot:
        renderer = bot.runtime.renderer
        warmup = ScreenWarmup(bot.runtime)
        await warmup.step()
        assert warmup.prepared is renderer
        rendered = count_renders(renderer, monkeypatch)
        pages = served_pages(renderer)
        assert len({locale for locale, _, _ in pages}) >= 2
        for locale, topic_id, page in pages:
            renderer.topic(locale, topic_id, page)
        renderer.home("en", subscribed=True)
        assert rendered == []
        # A press still works as before.
        user = bot.emulator.user(42, language_code="en")
        await user.send("/start")
        await user.press("Features")
        assert rendered == []


async def test_a_reloaded_renderer_is_prepared_at_the_next_step(
    start_bot: BotStarter, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with start_bot() as bot:
        warmup = ScreenWarmup(bot.runtime)
        await warmup.step()
        old = bot.runtime.renderer
        new = Renderer(old.library, old.catalogs, old.hospital)
        bot.runtime.renderer = new  # what a reload does
        await warmup.step()
        assert warmup.prepared is new
        rendered = count_renders(new, monkeypatch)
        for key in served_pages(new):
            new.topic(*key)
        assert rendered == []
        await warmup.step()  # nothing new: nothing to do
        assert rendered == []


async def test_run_freezes_the_start_up_objects_once(
    start_bot: BotStarter, monkeypatch: pytest.MonkeyPatch
) -> None:
    frozen: list[int] = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(1))
    async with start_bot() as bot:
        await ScreenWarmup(bot.runtime).step()
        assert frozen == []  # tests and the harness: not asked to
        warmup = ScreenWarmup(bot.runtime, freeze=True)
        await warmup.step()
        assert frozen == [1]
        old = bot.runtime.renderer
        bot.runtime.renderer = Renderer(old.library, old.catalogs, old.hospital)
        await warmup.step()  # a reload's content is collected as usual
        assert frozen == [1]
