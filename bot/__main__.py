"""Command line: `interventional-bot run | check | demo | render | i18n …` (= `python -m bot`)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.config import ConfigError, Settings

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


class _RedactToken(logging.Filter):
    """Belt and braces: no log record may carry the bot token, whoever logs it."""

    def __init__(self, token: str | None) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        if self.token:
            message = record.getMessage()
            if self.token in message:
                record.msg = message.replace(self.token, "<token>")
                record.args = None
        return True


def setup_logging(level: str, token: str | None) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(
        logging.Formatter("%(asctime)s level=%(levelname)s logger=%(name)s %(message)s")
    )
    handler.addFilter(_RedactToken(token))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request URL at INFO, and the URL contains the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="interventional-bot",
        description="Telegram bot that teaches tumour patients about interventional therapy.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("run", help="run the bot (long polling; needs BOT_TOKEN)")
    check = sub.add_parser("check", help="validate content and catalogs; exit 1 on any error")
    check.add_argument("--strict", action="store_true", help="fail on warnings too")
    demo = sub.add_parser("demo", help="chat with the bot in this terminal, no token needed")
    demo.add_argument("--lang", default=None, help="your language, e.g. en or zh_Hans")
    # Translators' tools (bot/translating.py; see TRANSLATING.md).
    render = sub.add_parser("render", help="print a topic as Telegram shows it")
    render.add_argument("topic", metavar="TOPIC", help="topic id, e.g. benign")
    render.add_argument("--lang", default=None, help="locale, e.g. zh_Hans (default: en)")
    render.add_argument("--page", type=int, default=None, help="only this page (1, 2, …)")
    render.add_argument("--html", action="store_true", help="show the HTML as sent")
    i18n = sub.add_parser("i18n", help="translation status and stale translations")
    i18n_sub = i18n.add_subparsers(dest="i18n_command", required=True, metavar="ACTION")
    status = i18n_sub.add_parser("status", help="per language: what is translated, stale, due")
    status.add_argument("--locale", default=None, help="only this locale")
    status.add_argument(
        "--min-percent", type=float, default=0.0, help="exit 1 below this %% translated"
    )
    status.add_argument("--format", choices=("table", "json"), default="table")
    status.add_argument(
        "--review-max-age-days", type=int, default=None, help="default: REVIEW_MAX_AGE_DAYS"
    )
    status.add_argument("--no-diff", action="store_true", help="do not show stale diffs")
    mark = i18n_sub.add_parser(
        "mark-translated", help="record that topics now follow the current English"
    )
    mark.add_argument("locale", metavar="LOCALE")
    mark.add_argument("topics", metavar="TOPIC", nargs="*")
    mark.add_argument("--all", action="store_true", help="every topic of LOCALE")
    # Broadcasts to subscribers (bot/broadcast/cli.py); `run` delivers them.
    broadcast = sub.add_parser("broadcast", help="queue, list, show, cancel or preview broadcasts")
    actions = broadcast.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="validate a broadcast file and queue it")
    create.add_argument("file", type=Path, help="the broadcast file (YAML, see README.md)")
    actions.add_parser("list", help="recent broadcasts with their counts")
    for action, text in (
        ("show", "one broadcast: counts by state, failure reasons, progress"),
        ("cancel", "stop a scheduled or sending broadcast"),
        ("preview", "send it to one user in their language (needs BOT_TOKEN)"),
    ):
        one = actions.add_parser(action, help=text)
        one.add_argument("id", type=int, metavar="ID")
        if action == "preview":
            one.add_argument("--to", type=int, required=True, metavar="USER_ID")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except ConfigError as exc:
        print(f"interventional-bot: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    command: str = args.command
    if command in ("i18n", "render"):  # before importing PTB: i18n needs none of it
        return _translating(args)
    from bot.app import ContentError
    from bot.storage import StorageError

    try:
        if command == "check":
            settings = Settings.from_env(require_token=False)
            from bot.content.checks import run_checks
            from bot.content.report import print_report

            report = run_checks(settings)
            print_report(report, settings, sys.stdout)
            failed = bool(report.errors) or (args.strict and bool(report.warnings))
            return EXIT_PROBLEMS if failed else EXIT_OK
        if command == "run":
            settings = Settings.from_env()
            setup_logging(settings.log_level, settings.bot_token)
            from bot.app import serve

            asyncio.run(serve(settings))
            return EXIT_OK
        if command == "demo":
            settings = Settings.from_env(require_token=False)
            setup_logging(os.environ.get("LOG_LEVEL", "WARNING").upper(), None)
            from bot.demo import run_demo

            return asyncio.run(run_demo(settings, args.lang))
        if command == "broadcast":
            setup_logging(os.environ.get("LOG_LEVEL", "WARNING").upper(), None)
            from bot.broadcast import cli as broadcast_cli

            return asyncio.run(broadcast_cli.run(args))
    except (ContentError, StorageError) as exc:
        prefix = "DATABASE_URL: " if isinstance(exc, StorageError) else ""
        print(f"interventional-bot: {prefix}{exc}", file=sys.stderr)
        return EXIT_USAGE
    raise AssertionError(command)


def _translating(args: argparse.Namespace) -> int:
    """`i18n status`, `i18n mark-translated` and `render` (bot/translating.py)."""
    from bot import translating

    settings = Settings.from_env(require_token=False)
    try:
        if args.command == "render":
            from bot.app import ContentError, load_content
            from bot.render import Renderer

            try:
                content = load_content(settings)
            except ContentError as exc:
                raise translating.UsageError(str(exc)) from None
            renderer = Renderer(content.library, content.catalogs, settings.hospital)
            return translating.render_command(
                renderer,
                sys.stdout,
                topic_id=args.topic,
                locale=args.lang or settings.default_locale,
                page=args.page,
                raw_html=args.html,
            )
        if args.i18n_command == "status":
            return translating.status_command(
                settings,
                sys.stdout,
                locale=args.locale,
                min_percent=args.min_percent,
                output_format=args.format,
                review_max_age_days=args.review_max_age_days,
                diffs=not args.no_diff,
            )
        return translating.mark_command(
            settings, sys.stdout, locale=args.locale, topics=args.topics, all_topics=args.all
        )
    except translating.UsageError as exc:
        print(f"interventional-bot: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
