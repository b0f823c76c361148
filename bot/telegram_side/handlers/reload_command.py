"""/reload for admins (Settings.admin_ids): reload content and catalogs, reply with the result.

Anyone else gets exactly the answer to an unknown command, so the command stays invisible.
With replicas (PostgreSQL) the others reload too (``hot_reload.reload_everywhere``): the admin
gets this replica's result at once, then, a few seconds later, what the others answered.
"""

from __future__ import annotations

import html

from telegram import Update

from bot.config import Settings
from bot.core.i18n import Translator
from bot.core.render import Screen
from bot.telegram_side.context import BotContext
from bot.telegram_side.handlers import menu
from bot.telegram_side.handlers.replies import send
from bot.telegram_side.hot_reload import ReloadOutcome, problem_base, reload_everywhere
from bot.telegram_side.replica_sync import ReplicaResult

# Room for the problems in one Telegram message (4096), with the heading and the last line.
_MAX_PROBLEM_CHARS = 3400
_MAX_PROBLEMS = 25
#: Seconds the other replicas' answers are waited for at most.
OTHERS_WITHIN = 10.0


async def reload_command(update: Update, context: BotContext) -> None:
    user = update.effective_user
    message = update.effective_message
    if user is None or user.id not in context.runtime.settings.admin_ids:
        await menu.unknown_command(update, context)
        return
    if message is None:
        return
    runtime = context.runtime
    outcome = await reload_everywhere(context.bot, runtime, trigger="admin")
    replicas = runtime.replicas
    text = reply_text(outcome, context.t, runtime.settings)
    if replicas is None or not replicas.shared:  # one process (SQLite)
        await send(update, Screen(text, ()))
        return
    expected = 0 if outcome.announced is None else await replicas.peers()
    note = others_note(outcome, expected, context.t)
    if note:
        text += "\n\n" + html.escape(note, quote=False)
    await send(update, Screen(text, ()))
    if outcome.announced is not None and expected:
        request = outcome.announced
        results = await replicas.results(request, expected=expected, within=OTHERS_WITHIN)
        text = others_text(results, context.t, missing=expected - len(results))
        await send(update, Screen(text, ()))


def others_note(outcome: ReloadOutcome, others: int, t: Translator) -> str:
    """About the other replicas (``others`` of them listen); empty when there are none."""
    if outcome.announced is None:
        return t(
            "The other replicas could not be told (database unavailable): "
            "send /reload again when it is back."
        )
    if not others:
        return ""
    return t("The other replicas reload too; their results follow.")


def others_text(results: list[ReplicaResult], t: Translator, *, missing: int = 0) -> str:
    """What the other replicas answered, one line each; how many did not answer in time."""
    lines = [html.escape(t("Other replicas:"), quote=False)]
    for result in sorted(results, key=lambda r: r.replica):
        if result.ok:
            line = t("{replica}: reloaded").format(replica=result.replica)
        else:
            count = int(result.detail) if result.detail.isdigit() else 0
            line = t.ngettext(
                "{replica}: kept the previous content ({count} problem)",
                "{replica}: kept the previous content ({count} problems)",
                count,
            ).format(replica=result.replica, count=count)
        lines.append("• " + html.escape(line, quote=False))
    if missing > 0:
        late = t.ngettext(
            "{count} replica did not answer within {seconds} s.",
            "{count} replicas did not answer within {seconds} s.",
            missing,
        ).format(count=missing, seconds=int(OTHERS_WITHIN))
        lines.append(html.escape(late, quote=False))
    return "\n".join(lines)


def reply_text(outcome: ReloadOutcome, t: Translator, settings: Settings) -> str:
    """The admin's reply: what was loaded, or every error with its file:line."""
    if outcome.ok:
        return html.escape(
            t(
                "Reloaded: {topics} topics in {locales}. The next screen shows the new content."
            ).format(topics=outcome.topics, locales=t.join(outcome.locales)),
            quote=False,
        )
    base = problem_base(settings)
    lines: list[str] = []
    used = 0
    for problem in outcome.errors[:_MAX_PROBLEMS]:
        line = f"• {problem.location(base)}: {problem.message}"
        if used + len(line) > _MAX_PROBLEM_CHARS:
            break
        lines.append(html.escape(line, quote=False))
        used += len(line) + 1
    rest = len(outcome.errors) - len(lines)
    heading = t(
        "Reload failed: the bot keeps serving the previous content. "
        "Fix these problems, then send /reload again:"
    )
    parts = [f"<b>{html.escape(heading, quote=False)}</b>", "\n".join(lines)]
    if rest:
        more = t.ngettext(
            "… and {count} more problem (run `interventional-bot check`).",
            "… and {count} more problems (run `interventional-bot check`).",
            rest,
        )
        parts.append(html.escape(more.format(count=rest), quote=False))
    return "\n\n".join(parts)
