"""`interventional-bot COMMAND` (= `python -m bot COMMAND`): the parser and the dispatch.

Each command family lives in a module of its own (``run_bot`` is the wiring's ``serve``;
``check_content``, ``demo_chat``, ``translators``, ``broadcast_commands``, ``privacy_commands``,
``qr_command``, ``stats_commands``). They are imported only when their command runs, so
``check`` and ``i18n`` never load python-telegram-bot.
Every setting is read through :class:`~bot.config.Settings`; a bad one, a bad argument or an
unusable file or database is one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.cli.exits import EXIT_INTERRUPTED, EXIT_PROBLEMS, EXIT_USAGE, UsageError
from bot.cli.logs import setup_logging
from bot.config import ConfigError, Settings, StartupError
from bot.core import pseudonyms
from bot.core.content.bundle import ContentError
from bot.core.content.script_conversion import DEFAULT_VARIANT, VARIANTS
from bot.storage.errors import StorageError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="interventional-bot",
        description="Telegram bot that teaches tumour patients about interventional therapy.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser(
        "run", help="run the bot (long polling, or the webhook with WEBHOOK_URL; needs BOT_TOKEN)"
    )
    check = sub.add_parser("check", help="validate content and catalogs; exit 1 on any error")
    check.add_argument("--strict", action="store_true", help="fail on warnings too")
    demo = sub.add_parser("demo", help="chat with the bot in this terminal, no token needed")
    demo.add_argument("--lang", default=None, help="your language, e.g. en or zh_Hans")
    _add_translator_commands(sub)
    _add_broadcast_commands(sub)
    _add_privacy_commands(sub)
    _add_poster_and_stats_commands(sub)
    return parser


def _add_translator_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`render` and `i18n status | mark-translated` (bot/cli/translators.py)."""
    render = sub.add_parser("render", help="print a topic as Telegram shows it")
    render.add_argument("topic", metavar="TOPIC", help="topic id, e.g. benign")
    render.add_argument("--lang", default=None, help="locale, e.g. zh_Hans (default: en)")
    render.add_argument("--page", type=int, default=None, help="only this page (1, 2, …)")
    render.add_argument("--html", action="store_true", help="show the HTML as sent")
    render.add_argument(
        "--words",
        action="store_true",
        help='also show each page\'s "Words on this page" screen (its glossary terms)',
    )
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
    _add_conversion_commands(i18n_sub)


def _add_conversion_commands(
    i18n_sub: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """`i18n convert | mark-reviewed` (bot/cli/convert_commands.py)."""
    convert = i18n_sub.add_parser(
        "convert", help="make Traditional Chinese from Simplified by machine (OpenCC)"
    )
    convert.add_argument("source", metavar="SOURCE", help="e.g. zh_Hans")
    convert.add_argument("target", metavar="TARGET", help="e.g. zh_Hant")
    convert.add_argument(
        "--variant",
        choices=sorted(VARIANTS),
        default=DEFAULT_VARIANT,
        help="tw: Taiwan characters and phrases (OpenCC s2twp, the default); "
        "hk: Hong Kong characters (s2hk)",
    )
    convert.add_argument(
        "--force", action="store_true", help="also convert files a translator has reviewed"
    )
    convert.add_argument("--dry-run", action="store_true", help="write nothing; say what")
    reviewed = i18n_sub.add_parser(
        "mark-reviewed", help="record that a translator reviewed machine-converted parts"
    )
    reviewed.add_argument("locale", metavar="LOCALE")
    reviewed.add_argument(
        "names", metavar="NAME", nargs="*", help="topic ids, urgent, privacy, interests, messages"
    )
    reviewed.add_argument("--all", action="store_true", help="every part waiting for review")


def _add_broadcast_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`broadcast create | list | show | cancel | preview` (bot/cli/broadcast_commands.py)."""
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


def _add_privacy_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`privacy purge | forget USER_ID` (bot/cli/privacy_commands.py)."""
    privacy = sub.add_parser("privacy", help="erase users: the retention rule now, or one user")
    actions = privacy.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser(
        "purge",
        help="erase users neither subscribed nor seen within USER_RETENTION_DAYS (as `run` "
        "does daily)",
    )
    forget = actions.add_parser("forget", help="erase one user, as their /forget does")
    forget.add_argument("user_id", type=int, metavar="USER_ID")


def _add_poster_and_stats_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """`qr` (bot/cli/qr_command.py) and `stats` (bot/cli/stats_commands.py)."""
    qr = sub.add_parser(
        "qr", help="print a topic's deep link and write its QR code (for a poster)"
    )
    qr.add_argument("topic", metavar="TOPIC", help="topic id, e.g. recovery (home: main menu)")
    qr.add_argument("--lang", default=None, help="open it in this language, e.g. zh_Hans")
    qr.add_argument(
        "--source", default=None, help="where it is printed, counted in stats (e.g. ward3)"
    )
    qr.add_argument("-o", "--output", required=True, metavar="FILE", help="FILE.png or FILE.svg")
    stats = sub.add_parser("stats", help="statistics without text: views, answers, links")
    # Validated by the command (one-line errors), not by argparse.
    stats.add_argument("--days", default=None, help="the last N days, today included (7)")
    stats.add_argument("--format", default="table", help="table (default) or json")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except (ConfigError, UsageError, ContentError) as exc:
        print(f"interventional-bot: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except StorageError as exc:
        print(f"interventional-bot: DATABASE_URL: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except StartupError as exc:
        print(f"interventional-bot: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


# Each command's module is imported when it runs (see the module docstring).
# (pyproject.toml lets this module import inside functions: PLC0415.)


def _dispatch(args: argparse.Namespace) -> int:
    command: str = args.command
    settings = Settings.from_env(require_token=command == "run")
    pseudonyms.use_key(settings.log_id_key)  # user ids in logs are keyed hashes
    if command == "run":
        setup_logging(settings.log_level_or("INFO"), settings.bot_token)
        from bot.telegram_side.wiring import serve

        asyncio.run(serve(settings))
        return 0
    setup_logging(settings.log_level_or("WARNING"), settings.bot_token)
    if command == "check":
        from bot.cli.check_content import check_command

        return check_command(settings, sys.stdout, strict=args.strict)
    if command in ("render", "i18n"):
        from bot.cli import translators

        return translators.dispatch(args, settings, sys.stdout)
    if command == "demo":
        from bot.cli.demo_chat import run_demo

        return asyncio.run(run_demo(settings, args.lang))
    if command == "broadcast":
        from bot.cli import broadcast_commands

        return asyncio.run(broadcast_commands.run(args, settings))
    if command == "privacy":
        from bot.cli import privacy_commands

        return asyncio.run(privacy_commands.run(args, settings))
    if command == "qr":
        from bot.cli import qr_command

        return qr_command.run(args, settings, sys.stdout, sys.stderr)
    if command == "stats":
        from bot.cli import stats_commands

        return asyncio.run(stats_commands.run(args, settings, sys.stdout))
    raise AssertionError(command)
