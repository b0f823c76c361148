"""The statistics report: the daily counts of a period and today's totals, as a table (the
``stats`` command), JSON (``stats --format json``) or Telegram HTML (/stats for admins).

Pure: the storage reads the rows (``storage/statistics.py``), this module adds them up. Every
number is a count of a day, a metric and a topic or source: nothing says who.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from bot.core import daily_counts as m
from bot.core.i18n import Translator, display_name
from bot.core.screen import esc

#: The longest period a report covers.
MAX_DAYS = 3660
#: Topics and sources listed by /stats (a Telegram message has room for about this many);
#: the command line lists them all.
CHAT_TOPICS = 15
CHAT_SOURCES = 10
#: Users who never chose a language, in the JSON (a locale is never called that).
NOT_CHOSEN = "none"


@dataclass(frozen=True)
class CountRow:
    """One stored count: on ``day``, ``metric`` happened ``count`` times to ``key``."""

    day: date
    metric: str
    key: str
    count: int


@dataclass(frozen=True)
class Totals:
    """Counted when asked: users by the language they chose (None: never chose one) and
    active subscribers by the language their news comes in."""

    users: Mapping[str | None, int] = field(default_factory=dict)
    subscribers: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class TopicLine:
    topic_id: str
    views: int
    views_by_locale: Mapping[str, int]
    helpful: int
    not_helpful: int

    @property
    def helpful_ratio(self) -> float | None:
        """The share of 👍 among the answers given in the period (None: no answer)."""
        answers = self.helpful + self.not_helpful
        return self.helpful / answers if answers else None


def period(days: int, today: date) -> tuple[date, date]:
    """The first and last day of the ``days`` days that end today."""
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days must be 1-{MAX_DAYS}, got {days}")
    return today - timedelta(days=days - 1), today


@dataclass(frozen=True)
class StatsReport:
    first: date
    last: date
    rows: Sequence[CountRow]
    totals: Totals

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def by_key(self, metric: str) -> dict[str, int]:
        """The period's count of each key of ``metric``, largest first (negatives as 0)."""
        sums: defaultdict[str, int] = defaultdict(int)
        for row in self.rows:
            if row.metric == metric:
                sums[row.key] += row.count
        return dict(sorted(((k, max(n, 0)) for k, n in sums.items()), key=_largest_first))

    def total(self, metric: str) -> int:
        return sum(self.by_key(metric).values())

    def topics(self) -> list[TopicLine]:
        """Every topic viewed or answered in the period, the most viewed first."""
        views: defaultdict[str, dict[str, int]] = defaultdict(dict)
        for key, n in self.by_key(m.VIEW).items():
            topic_id, locale = m.split_view_key(key)
            views[topic_id][locale] = n
        helpful, not_helpful = self.by_key(m.HELPFUL), self.by_key(m.NOT_HELPFUL)
        lines = [
            TopicLine(
                topic_id,
                sum(views[topic_id].values()),
                dict(sorted(views[topic_id].items())),
                helpful.get(topic_id, 0),
                not_helpful.get(topic_id, 0),
            )
            for topic_id in {*views, *helpful, *not_helpful}
        ]
        return sorted(lines, key=lambda line: (-line.views, line.topic_id))

    # -- output ----------------------------------------------------------------------------

    def as_json(self) -> dict[str, Any]:
        users = {_language_key(k): n for k, n in sorted(self.totals.users.items(), key=_by_locale)}
        return {
            "first_day": self.first.isoformat(),
            "last_day": self.last.isoformat(),
            "days": self.days,
            "days_are": "UTC",
            "now": {
                "users": {"total": sum(users.values()), "by_chosen_language": users},
                "subscribers": {
                    "total": sum(self.totals.subscribers.values()),
                    "by_language": dict(sorted(self.totals.subscribers.items())),
                },
            },
            "period": {
                "new_users": self.total(m.NEW_USER),
                "subscriptions_started": self.total(m.SUBSCRIPTION_STARTED),
                "subscriptions_ended": self.by_key(m.SUBSCRIPTION_ENDED),
                "searches": {
                    "matched": self.by_key(m.SEARCH).get("matched", 0),
                    "unmatched": self.by_key(m.SEARCH).get("unmatched", 0),
                },
                "urgent_replies": self.total(m.URGENT),
                "deep_links": self.by_key(m.DEEP_LINK),
                "topic_views": self.total(m.VIEW),
            },
            "topics": [
                {
                    "topic": line.topic_id,
                    "views": line.views,
                    "views_by_language": dict(line.views_by_locale),
                    "helpful": line.helpful,
                    "not_helpful": line.not_helpful,
                    "helpful_ratio": (
                        None if line.helpful_ratio is None else round(line.helpful_ratio, 3)
                    ),
                }
                for line in self.topics()
            ],
            "daily": [
                {"day": r.day.isoformat(), "metric": r.metric, "key": r.key, "count": r.count}
                for r in self.rows
            ],
        }

    def table(self) -> str:
        """The command line's table (English, like every command's output)."""
        searches = self.by_key(m.SEARCH)
        ended = self.by_key(m.SUBSCRIPTION_ENDED)
        lines = [
            f"statistics for {self.days} day(s): {self.first} to {self.last} (UTC days)",
            "",
            "now",
            _count_line("users", sum(self.totals.users.values()), self._users_detail()),
            _count_line(
                "subscribers",
                sum(self.totals.subscribers.values()),
                _pairs(sorted(self.totals.subscribers.items())),
            ),
            "",
            "in the period",
            _count_line("new users", self.total(m.NEW_USER)),
            _count_line("subscriptions started", self.total(m.SUBSCRIPTION_STARTED)),
            _count_line("subscriptions ended", sum(ended.values()), _pairs(ended.items())),
            _count_line(
                "typed questions",
                sum(searches.values()),
                f"matched {searches.get('matched', 0)}, unmatched {searches.get('unmatched', 0)}",
            ),
            _count_line("urgent-care replies", self.total(m.URGENT)),
            _count_line("deep links", self.total(m.DEEP_LINK)),
            *(f"    {source:<30} {n:>7}" for source, n in self.by_key(m.DEEP_LINK).items()),
            _count_line("topic views", self.total(m.VIEW)),
            "",
            f"{'topic':<32} {'views':>7} {'helpful':>8} {'not':>5} {'ratio':>6}",
        ]
        topics = self.topics()
        lines += [
            f"{t.topic_id:<32} {t.views:>7} {t.helpful:>8} {t.not_helpful:>5} "
            f"{_percent(t.helpful_ratio):>6}"
            for t in topics
        ]
        if not topics:
            lines.append("(no topic opened in the period)")
        return "\n".join(lines)

    def telegram_html(self, t: Translator) -> str:
        """/stats: the same in the admin's language, short enough for one message."""
        searches = self.by_key(m.SEARCH)
        ended = self.by_key(m.SUBSCRIPTION_ENDED)
        heading = t("Statistics from {first} to {last} (UTC days)")
        parts = [
            "<b>" + esc(heading.format(first=self.first, last=self.last)) + "</b>",
            "\n".join(
                [
                    "<b>" + esc(t("Now")) + "</b>",
                    esc(t("Users: {count}").format(count=sum(self.totals.users.values())))
                    + _detail(t, self._users_by_language(t)),
                    esc(
                        t("News subscribers: {count}").format(
                            count=sum(self.totals.subscribers.values())
                        )
                    )
                    + _detail(t, self._subscribers_by_language()),
                ]
            ),
            "\n".join(
                [
                    "<b>" + esc(t("In these days")) + "</b>",
                    esc(t("New users: {count}").format(count=self.total(m.NEW_USER))),
                    esc(
                        t("Subscriptions started: {count}, ended: {ended}").format(
                            count=self.total(m.SUBSCRIPTION_STARTED), ended=sum(ended.values())
                        )
                    ),
                    esc(
                        t("Typed questions: {matched} answered with a topic, {unmatched} not")
                    ).format(
                        matched=searches.get("matched", 0),
                        unmatched=searches.get("unmatched", 0),
                    ),
                    esc(t("Urgent-care messages: {count}").format(count=self.total(m.URGENT))),
                ]
            ),
            self._sources_html(t),
            self._topics_html(t),
        ]
        return "\n\n".join(p for p in parts if p)

    # -- pieces ----------------------------------------------------------------------------

    def _users_detail(self) -> str:
        chosen = sorted((k, n) for k, n in self.totals.users.items() if k is not None)
        detail = "chose " + _pairs(chosen) if chosen else ""
        if None in self.totals.users:
            detail += ("; " if detail else "") + f"not chosen {self.totals.users[None]}"
        return detail

    def _users_by_language(self, t: Translator) -> list[str]:
        items = sorted(self.totals.users.items(), key=_by_locale)
        # TRANSLATORS: /stats, users who never chose a language (they follow Telegram's).
        not_chosen = t("language not chosen")
        return [f"{display_name(k) if k else not_chosen}: {n}" for k, n in items]

    def _subscribers_by_language(self) -> list[str]:
        return [f"{display_name(k)}: {n}" for k, n in sorted(self.totals.subscribers.items())]

    def _sources_html(self, t: Translator) -> str:
        sources = self.by_key(m.DEEP_LINK)
        heading = t("Opened from links (source: count): {count}")
        lines = ["<b>" + esc(heading.format(count=sum(sources.values()))) + "</b>"]
        shown = list(sources.items())[:CHAT_SOURCES]
        lines += [f"{esc(source)}: {n}" for source, n in shown]
        return "\n".join(lines + _more(t, len(sources) - len(shown)))

    def _topics_html(self, t: Translator) -> str:
        topics = self.topics()
        lines = ["<b>" + esc(t("Topics (views · 👍 · 👎 · helpful)")) + "</b>"]
        if not topics:
            lines.append(esc(t("No topic was opened in these days.")))
        shown = topics[:CHAT_TOPICS]
        lines += [
            f"{esc(line.topic_id)}: {line.views} · 👍 {line.helpful} · 👎 {line.not_helpful}"
            f" · {_percent(line.helpful_ratio)}"
            for line in shown
        ]
        return "\n".join(lines + _more(t, len(topics) - len(shown)))


def _largest_first(item: tuple[str, int]) -> tuple[int, str]:
    return (-item[1], item[0])


def _by_locale(item: tuple[str | None, int]) -> tuple[bool, str]:
    return (item[0] is None, item[0] or "")


def _language_key(locale: str | None) -> str:
    return locale if locale is not None else NOT_CHOSEN


def _pairs(items: Iterable[tuple[object, int]]) -> str:
    return ", ".join(f"{k} {n}" for k, n in items)


def _count_line(label: str, count: int, detail: str = "") -> str:
    return f"  {label:<30} {count:>7}" + (f"   ({detail})" if detail else "")


def _percent(ratio: float | None) -> str:
    return "–" if ratio is None else f"{ratio:.0%}"


def _detail(t: Translator, items: list[str]) -> str:
    return f" ({esc(t.join(items))})" if items else ""


def _more(t: Translator, count: int) -> list[str]:
    if count <= 0:
        return []
    more = t("… and {count} more (interventional-bot stats lists them all)")
    return ["<i>" + esc(more.format(count=count)) + "</i>"]
