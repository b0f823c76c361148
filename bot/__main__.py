"""Command line: `interventional-bot run | check | demo` (the same as `python -m bot`)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence

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
    from bot.app import ContentError
    from bot.storage import StorageError

    command: str = args.command
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
    except (ContentError, StorageError) as exc:
        prefix = "DATABASE_URL: " if isinstance(exc, StorageError) else ""
        print(f"interventional-bot: {prefix}{exc}", file=sys.stderr)
        return EXIT_USAGE
    raise AssertionError(command)


if __name__ == "__main__":
    sys.exit(main())
