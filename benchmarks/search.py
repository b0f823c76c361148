"""Typed-question search, in process: index build time, queries per second, p50/p99 a query.

For English and Chinese, over the shipped content and over the content repeated N times (each
topic copied under a new id, all reachable: how the cost grows with the content). A query is
what the bot does for one typed message: the urgent signs of every language, the search in
every language's index, and the reply's screens (``QuestionDesk.reply``), once every topic
screen has been rendered (the renderer caches them; "render" is that first render, once per
topic and content version); "cold" is the same with every word new to the stemmer; "search"
is the index lookup alone. The questions are the patients' questions of
tests/search_questions.yaml. Target: p99 under 5 ms a query for the shipped content.

    .venv/bin/python benchmarks/search.py [--repeat 20] [--rounds 20]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import PROJECT_ROOT, Settings
from bot.core.content.bundle import LoadedContent, load_content
from bot.core.content.model import ROOT_ID, ContentTree, Library, Topic
from bot.core.search.desk import QuestionDesk

QUESTIONS = PROJECT_ROOT / "tests" / "search_questions.yaml"


def questions() -> dict[str, list[str]]:
    data = yaml.safe_load(QUESTIONS.read_text(encoding="utf-8"))
    return {
        locale: [item["q"] for item in data[locale] + data["held_out"][locale]]
        for locale in ("en", "zh_Hans")
    }


def repeated(library: Library, times: int) -> Library:
    """Every topic but the main menu ``times`` times, copies under ids ``<id>-r<k>``."""
    trees = {}
    for locale, tree in library.trees.items():
        topics: dict[str, Topic] = dict(tree.topics)
        root = tree.topics[ROOT_ID]
        extra_children: list[str] = []
        for k in range(1, times):

            def renamed(topic_id: str, k: int = k) -> str:
                return f"{topic_id}-r{k}"

            for topic in tree.topics.values():
                if topic.id == ROOT_ID:
                    continue
                children = tuple(renamed(c) for c in topic.children)
                topics[renamed(topic.id)] = replace(topic, id=renamed(topic.id), children=children)
            extra_children.extend(renamed(c) for c in root.children)
        topics[ROOT_ID] = replace(root, children=(*root.children, *extra_children))
        trees[locale] = ContentTree(locale, topics)
    return Library(trees)


def timed(run: Callable[[], object], rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        samples.append(time.perf_counter() - start)
    return samples


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def first_renders(desk: QuestionDesk, locale: str) -> list[float]:
    """Render every served topic once (the renderer caches screens, as a running bot has
    after serving each once); the time of each first render."""
    tree = desk.renderer.library.trees[locale]
    return [
        sample
        for topic in tree.served_topics()
        for sample in timed(partial(desk.renderer.topic, locale, topic.id), 1)
    ]


def measure(desk: QuestionDesk, texts: list[str], locale: str, rounds: int) -> dict[str, float]:
    """Warm: as a running bot that has seen the words (stems cached); cold: every word of
    every question new to the stemmer (its cache cleared before each question)."""
    renders = first_renders(desk, locale)
    reply: list[float] = []
    search: list[float] = []
    cold: list[float] = []
    for text in texts:
        for index in desk.index.locales.values():
            index.analyzer.clear_cache()
        cold.extend(timed(partial(desk.reply, text, locale), 1))
    for _ in range(rounds):
        for text in texts:
            reply.extend(timed(partial(desk.reply, text, locale), 1))
            search.extend(timed(partial(desk.index.search, text), 1))
    return {
        "qps": len(reply) / sum(reply),
        "p50": percentile(reply, 50) * 1000,
        "p99": percentile(reply, 99) * 1000,
        "max": max(reply) * 1000,
        "cold_p99": percentile(cold, 99) * 1000,
        "search_p50": percentile(search, 50) * 1000,
        "search_p99": percentile(search, 99) * 1000,
        "render_p50": percentile(renders, 50) * 1000,
        "render_max": max(renders) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="copies of the content")
    parser.add_argument("--rounds", type=int, default=20, help="passes over the questions")
    args = parser.parse_args()

    settings = Settings.from_env({}, require_token=False)
    content = load_content(settings)
    texts = questions()

    start = time.perf_counter()
    QuestionDesk.build(content, settings).reply("介入", "zh_Hans")
    print(f"first build and first Chinese text (loads jieba's dictionary once): "
          f"{time.perf_counter() - start:.3f} s")  # fmt: skip

    print(f"{len(texts['en'])} English and {len(texts['zh_Hans'])} Chinese questions, "
          f"{args.rounds} rounds; times per query in ms")  # fmt: skip
    load = os.getloadavg()[0]
    print(f"load average {load:.1f} on {os.cpu_count()} cores (other work inflates p99)")
    header = (
        f"{'content':<16}{'topics':>7}{'build s':>9}{'lang':>9}{'q/s':>7}"
        f"{'p50':>7}{'p99':>7}{'max':>7}{'cold p99':>10}{'search p50':>12}{'p99':>7}"
        f"{'render p50':>12}{'max':>7}"
    )
    print(header)
    for label, times in (("shipped", 1), (f"repeated {args.repeat}x", args.repeat)):
        library = content.library if times == 1 else repeated(content.library, times)
        loaded = LoadedContent(
            library, content.catalogs, content.interests, content.privacy, content.urgent
        )
        build = min(timed(partial(QuestionDesk.build, loaded, settings), 3))
        desk = QuestionDesk.build(loaded, settings)
        topics = len(library.trees["en"].topics)
        for locale in ("en", "zh_Hans"):
            m = measure(desk, texts[locale], locale, args.rounds)
            print(
                f"{label:<16}{topics:>7}{build:>9.3f}{locale:>9}{m['qps']:>7.0f}"
                f"{m['p50']:>7.2f}{m['p99']:>7.2f}{m['max']:>7.2f}{m['cold_p99']:>10.2f}"
                f"{m['search_p50']:>12.2f}{m['search_p99']:>7.2f}"
                f"{m['render_p50']:>12.2f}{m['render_max']:>7.2f}"
            )


if __name__ == "__main__":
    main()
