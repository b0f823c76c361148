"""Progress and report texts of a broadcast, in the admin's language (Telegram HTML).

Failure reasons are capped: the :data:`REPORT_REASONS` most frequent, each cut to
:data:`REASON_CHARS`, then "and N more"; the whole text always fits one Telegram message.
Reasons pass through :func:`~bot.core.redaction.redact` (a stored reason from before redaction
was added may quote a request URL with the token).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime

from bot.core.i18n import Translator
from bot.core.limits import MAX_MESSAGE_LENGTH
from bot.core.redaction import redact
from bot.storage import BroadcastSummary

#: Failure reasons listed in a progress report (the most frequent first).
REPORT_REASONS = 5
#: A reason longer than this is cut (Telegram's own are far shorter).
REASON_CHARS = 120


def status_label(summary: BroadcastSummary, t: Translator) -> str:
    labels = {
        # TRANSLATORS: status of a broadcast: queued, waiting for its send time
        "scheduled": t("scheduled"),
        # TRANSLATORS: status of a broadcast: messages are going out now
        "sending": t("sending"),
        # TRANSLATORS: status of a broadcast: every recipient was tried
        "done": t("finished"),
        # TRANSLATORS: status of a broadcast: stopped by staff before the end
        "cancelled": t("cancelled"),
    }
    return labels.get(summary.status, summary.status)


def format_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def counts_line(summary: BroadcastSummary, t: Translator) -> str:
    """Counts by state; skipped and in doubt only when there are any."""
    parts = [
        t("Sent {sent} · Blocked {blocked} · Failed {failed} · Remaining {remaining}").format(
            sent=summary.sent,
            blocked=summary.blocked,
            failed=summary.failed,
            remaining=summary.remaining,
        )
    ]
    if summary.skipped:
        # TRANSLATORS: recipients not sent to: consent ended after the broadcast was queued
        parts.append(t("Skipped {count}").format(count=summary.skipped))
    if summary.in_doubt:
        # TRANSLATORS: recipients whose message may have arrived or not (no answer came)
        parts.append(t("In doubt {count}").format(count=summary.in_doubt))
    return " · ".join(parts)


def skip_reason_label(reason: str, t: Translator) -> str:
    labels = {
        # TRANSLATORS: why a recipient was skipped
        "unsubscribed": t("unsubscribed before their turn"),
        # TRANSLATORS: why a recipient was skipped
        "blocked": t("blocked the bot before their turn"),
        # TRANSLATORS: why a recipient was skipped (/forget)
        "erased": t("erased their data before their turn"),
    }
    return labels.get(reason, reason)


def explanation_lines(summary: BroadcastSummary, t: Translator) -> list[str]:
    """What skipped and in doubt mean, for the report (HTML-escaped)."""
    lines: list[str] = []
    if summary.skip_reasons:
        lines.append(html.escape(t("Skipped (not sent):")))
        lines += [
            f"• {html.escape(skip_reason_label(reason, t))}: {count}"
            for reason, count in summary.skip_reasons
        ]
    if summary.in_doubt:
        lines.append(
            html.escape(
                t(
                    "In doubt: Telegram did not answer in time, so these may have been "
                    "delivered; they were not sent again."
                )
            )
        )
    return lines


def short_reason(reason: str, limit: int = REASON_CHARS) -> str:
    """A failure reason as shown to people: redacted, one line, at most ``limit`` characters."""
    text = " ".join(redact(reason).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def top_reasons(
    reasons: Sequence[tuple[str, int]], limit: int
) -> tuple[list[tuple[str, int]], int, int]:
    """The ``limit`` most frequent reasons, and how many other reasons and recipients remain."""
    shown = list(reasons[:limit])
    rest = reasons[limit:]
    return shown, len(rest), sum(count for _reason, count in rest)


def format_progress(summary: BroadcastSummary, t: Translator) -> str:
    """The progress message, edited in place while the broadcast sends; the report at the end."""
    head = t("Broadcast #{id}: {status}").format(id=summary.id, status=status_label(summary, t))
    lines = [f"<b>{html.escape(head)}</b>", html.escape(counts_line(summary, t))]
    if summary.status == "scheduled":
        lines.append(html.escape(t("Starts at {time}").format(time=format_time(summary.send_at))))
    elif summary.status == "sending":
        lines.append(
            html.escape(
                t("{done} of {total} done ({percent}%)").format(
                    done=summary.settled,
                    total=summary.total,
                    percent=int(summary.progress * 100),
                )
            )
        )
        if summary.eta_seconds is not None:
            lines.append(
                html.escape(t("About {eta} left").format(eta=format_duration(summary.eta_seconds)))
            )
    else:
        if summary.started_at is not None and summary.finished_at is not None:
            took = (summary.finished_at - summary.started_at).total_seconds()
            lines.append(html.escape(t("Took {duration}").format(duration=format_duration(took))))
        lines += _reason_lines(summary, t)
        lines += explanation_lines(summary, t)
    text = "\n".join(lines)
    return text if len(text) <= MAX_MESSAGE_LENGTH else text[: MAX_MESSAGE_LENGTH - 1] + "…"


def _reason_lines(summary: BroadcastSummary, t: Translator) -> list[str]:
    if not summary.failure_reasons:
        return []
    shown, more, recipients = top_reasons(summary.failure_reasons, REPORT_REASONS)
    lines = [html.escape(t("Failure reasons:"))]
    lines += [f"• {html.escape(short_reason(reason))}: {count}" for reason, count in shown]
    if more:
        rest = t.ngettext(
            "… and {count} more reason ({recipients} recipients)",
            "… and {count} more reasons ({recipients} recipients)",
            more,
        ).format(count=more, recipients=recipients)
        lines.append(html.escape(rest))
    return lines
