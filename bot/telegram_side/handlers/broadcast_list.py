"""/broadcasts for admins: the most recent broadcasts with their state and counts."""

from __future__ import annotations

from telegram import Update

from bot.broadcast.progress import counts_line, format_time, status_label
from bot.core.limits import MAX_MESSAGE_LENGTH
from bot.core.render import Screen, esc
from bot.core.telegram_html import TelegramHTMLError, parse_html
from bot.telegram_side.context import BotContext
from bot.telegram_side.handlers.replies import send

_LIST_LIMIT = 10
_SNIPPET = 40


async def list_broadcasts(update: Update, context: BotContext) -> None:
    t = context.t
    summaries = await context.runtime.storage.list_broadcasts(limit=_LIST_LIMIT)
    if not summaries:
        await send(update, Screen(esc(t("No broadcasts yet. Start one with /broadcast.")), ()))
        return
    default = context.runtime.settings.default_locale
    blocks = ["<b>" + esc(t("Recent broadcasts")) + "</b>"]
    for s in summaries:
        # The same words as the progress message and `broadcast show` (bot.broadcast.progress).
        head = f"<b>#{s.id}</b> · {esc(status_label(s, t))} · {format_time(s.created_at)}"
        total = t.ngettext("{total} recipient", "{total} recipients", s.total).format(
            total=s.total
        )
        lines = [head, esc(f"{counts_line(s, t)} · {total}")]
        snippet = _snippet(s.texts.get(default) or next(iter(s.texts.values()), ""))
        if snippet:
            lines.append(f"<i>{esc(snippet)}</i>")
        block = "\n".join(lines)
        # Every block is short, but the message must fit whatever the counts and labels.
        if sum(len(b) + 2 for b in blocks) + len(block) > MAX_MESSAGE_LENGTH:
            break
        blocks.append(block)
    await send(update, Screen("\n\n".join(blocks), ()))


def _snippet(html_text: str) -> str:
    try:
        visible = parse_html(html_text).text
    except TelegramHTMLError:
        visible = html_text
    line = " ".join(visible.split())
    return line if len(line) <= _SNIPPET else line[: _SNIPPET - 1] + "…"
