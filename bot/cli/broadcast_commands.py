"""``interventional-bot broadcast create FILE | list | show ID | cancel ID | preview ID --to U``.

The running bot (``interventional-bot run``) delivers what ``create`` queues: both read the
same ``DATABASE_URL``. Problems a person can cause print one line and exit 1 (a bad broadcast
file: one ``file:line: message`` line per problem), or 2 for bad settings. The arguments
are declared in ``bot/cli/main.py`` (so that other commands need not import this module).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from telegram import Bot, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import TelegramError

from bot.broadcast.draft import broadcast_screen, choose_text, queue_broadcast
from bot.broadcast.file import load_broadcast_file
from bot.broadcast.progress import format_duration, format_time, short_reason, top_reasons
from bot.cli.exits import EXIT_OK, EXIT_PROBLEMS
from bot.config import Settings
from bot.core.content.bundle import load_content
from bot.storage import BroadcastSummary, Storage, open_storage
from bot.telegram_side.markup import to_markup


async def run(
    args: argparse.Namespace,
    settings: Settings,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    action: str = args.action
    if action == "preview" and settings.bot_token is None:
        settings = Settings.from_env(require_token=True)  # raises the BOT_TOKEN ConfigError
    if action == "create":
        return await _create(settings, args.file, out, err)
    async with await open_storage(settings.database_url) as storage:
        if action == "list":
            return await _list(storage, out)
        if action == "show":
            return await _show(storage, args.id, out, err)
        if action == "cancel":
            return await _cancel(storage, args.id, out, err)
        if action == "preview":
            return await _preview(
                settings, storage=storage, broadcast_id=args.id, user_id=args.to, out=out, err=err
            )
    raise AssertionError(action)


async def _create(settings: Settings, path: Path, out: TextIO, err: TextIO) -> int:
    content = load_content(settings)
    draft, problems = load_broadcast_file(
        path,
        available_locales=content.locales,
        default_locale=settings.default_locale,
        available_interests=list(content.interests.ids),
    )
    if draft is None:
        for problem in problems:
            print(f"{problem.location()}: {problem.message}", file=err)
        return EXIT_PROBLEMS
    async with await open_storage(settings.database_url) as storage:
        broadcast_id = await queue_broadcast(storage, draft, created_by=None)
        summary = await storage.broadcast_summary(broadcast_id)
    assert summary is not None
    print(broadcast_id, file=out)
    for locale in draft.converted:
        print(f"{locale}: no text in the file, converted by machine from zh_Hans", file=err)
    when = "now" if draft.send_at is None else format_time(summary.send_at)
    print(
        f"queued broadcast {broadcast_id}: {summary.total} recipient(s), sends {when}"
        f"{' (paid)' if summary.paid else ''}; `interventional-bot run` delivers it",
        file=err,
    )
    return EXIT_OK


#: Failure reasons `broadcast show` lists (the most frequent first), then "and N more".
SHOW_REASONS = 20


def _counts(s: BroadcastSummary) -> str:
    return (
        f"sent {s.sent}, blocked {s.blocked}, failed {s.failed}, skipped {s.skipped}, "
        f"in doubt {s.in_doubt}, remaining {s.remaining}"
    )


async def _list(storage: Storage, out: TextIO) -> int:
    summaries = await storage.list_broadcasts(limit=20)
    if not summaries:
        print("no broadcasts yet", file=out)
        return EXIT_OK
    header = f"{'id':>5}  {'status':<10} {'send at':<21} {'total':>7} {'sent':>7} "
    header += f"{'blocked':>7} {'failed':>7} {'skipped':>7} {'doubt':>7} {'left':>7}  paid"
    print(header, file=out)
    for s in summaries:
        print(
            f"{s.id:>5}  {s.status:<10} {format_time(s.send_at):<21} {s.total:>7} {s.sent:>7} "
            f"{s.blocked:>7} {s.failed:>7} {s.skipped:>7} {s.in_doubt:>7} {s.remaining:>7}  "
            f"{'yes' if s.paid else 'no'}",
            file=out,
        )
    return EXIT_OK


async def _show(storage: Storage, broadcast_id: int, out: TextIO, err: TextIO) -> int:
    s = await storage.broadcast_summary(broadcast_id)
    if s is None:
        print(f"broadcast {broadcast_id}: no such broadcast", file=err)
        return EXIT_PROBLEMS
    audience = []
    audience.append("locales " + (", ".join(s.locales) if s.locales else "all"))
    audience.append("interests " + (", ".join(s.interests) if s.interests else "any"))
    lines = [
        f"broadcast {s.id}: {s.status}{' (paid)' if s.paid else ''}",
        f"created:   {format_time(s.created_at)}"
        + (f" by user {s.created_by}" if s.created_by else " from the command line"),
        f"send at:   {format_time(s.send_at)}",
    ]
    if s.started_at:
        lines.append(f"started:   {format_time(s.started_at)}")
    if s.finished_at:
        lines.append(f"finished:  {format_time(s.finished_at)}")
    lines += [
        f"audience:  {'; '.join(audience)}",
        f"texts:     {', '.join(sorted(s.texts))}",
        f"recipients {s.total}: {_counts(s)}",
        f"progress:  {s.progress * 100:.1f}%"
        + (f", about {format_duration(s.eta_seconds)} left" if s.eta_seconds is not None else ""),
    ]
    if s.in_doubt:
        lines.append(
            f"in doubt:  {s.in_doubt} recipient(s): no answer came in time, so they may have "
            "been delivered; not sent again"
        )
    if s.resent_after_crash:
        lines.append(
            f"resumed after a crash: {s.resent_after_crash} recipient(s) were sent again "
            "(they may have got it twice)"
        )
    if s.failure_reasons:
        shown, more, recipients = top_reasons(s.failure_reasons, SHOW_REASONS)
        lines.append("failures:")
        lines += [f"  {count:>6}  {short_reason(reason, 200)}" for reason, count in shown]
        if more:
            lines.append(f"  … and {more} more reason(s), {recipients} recipient(s)")
    if s.skip_reasons:
        lines.append("skipped (consent gone before their turn; not sent):")
        lines += [f"  {count:>6}  {reason}" for reason, count in s.skip_reasons]
    print("\n".join(lines), file=out)
    return EXIT_OK


async def _cancel(storage: Storage, broadcast_id: int, out: TextIO, err: TextIO) -> int:
    if await storage.cancel_broadcast(broadcast_id):
        print(f"broadcast {broadcast_id}: cancelled", file=out)
        return EXIT_OK
    s = await storage.broadcast_summary(broadcast_id)
    if s is None:
        print(f"broadcast {broadcast_id}: no such broadcast", file=err)
    else:
        print(f"broadcast {broadcast_id}: already {s.status}, nothing to cancel", file=err)
    return EXIT_PROBLEMS


async def _preview(
    settings: Settings,
    *,
    storage: Storage,
    broadcast_id: int,
    user_id: int,
    out: TextIO,
    err: TextIO,
) -> int:
    s = await storage.broadcast_summary(broadcast_id)
    if s is None:
        print(f"broadcast {broadcast_id}: no such broadcast", file=err)
        return EXIT_PROBLEMS
    subscription = await storage.get_subscription(user_id)
    user = await storage.get_user(user_id)
    locale = (
        subscription.locale
        if subscription is not None
        else (user.locale if user is not None and user.locale else settings.default_locale)
    )
    text_locale, _text = choose_text(s.texts, locale, settings.default_locale)
    catalogs = load_content(settings).catalogs
    screen = broadcast_screen(s.texts, locale, settings.default_locale, catalogs)
    assert settings.bot_token is not None
    bot = Bot(settings.bot_token, base_url=settings.api_base_url)
    try:
        async with bot:
            message = await bot.send_message(
                chat_id=user_id,
                text=screen.text,
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
                reply_markup=to_markup(screen.keyboard),
            )
    except TelegramError as exc:
        print(f"preview to {user_id}: Telegram refused: {exc.message}", file=err)
        return EXIT_PROBLEMS
    print(
        f"sent broadcast {broadcast_id} ({text_locale}) to {user_id} as message "
        f"{message.message_id} at {datetime.now(UTC):%H:%M:%S} UTC",
        file=out,
    )
    return EXIT_OK
