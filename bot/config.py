"""Settings from the environment: one frozen dataclass, one-line errors naming the variable."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bot.env_values import (
    ALL_INTERFACES,
    WEBHOOK_PORTS,
    ConfigError,
    EnvReader,
    StartupError,
    parse_address,
    parse_admin_ids,
    parse_bot_username,
    parse_count,
    parse_days,
    parse_directory,
    parse_http_url,
    parse_locale,
    parse_log_id_key,
    parse_log_level,
    parse_per_second,
    parse_phone,
    parse_port,
    parse_rate,
    parse_seconds,
    parse_token,
    parse_webhook_url,
)

__all__ = [
    "ALL_INTERFACES",
    "DEFAULT_DATABASE_URL",
    "PROJECT_ROOT",
    "TELEGRAM_BASE_URL",
    "WEBHOOK_PORTS",
    "ConfigError",
    "HospitalContact",
    "Settings",
    "StartupError",
    "WebhookSettings",
]

TELEGRAM_BASE_URL = "https://api.telegram.org/bot"
DEFAULT_DATABASE_URL = "sqlite:///data/bot.db"
PROJECT_ROOT = Path(__file__).resolve().parent.parent

_PHONE_RE = re.compile(r"^\+?[0-9][0-9 ()./-]{2,30}$")
# Emergency numbers are short: 112, 120, 911, 999, 000, and 15 or 17 in France.
_EMERGENCY_RE = re.compile(r"^\+?[0-9][0-9 ()./-]{1,30}$")
# Telegram's rule for setWebhook's secret_token.
_WEBHOOK_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


@dataclass(frozen=True)
class HospitalContact:
    """The hospital's contact lines shown on the About topic (all optional)."""

    name: str | None = None
    phone: str | None = None
    address: str | None = None
    hours: str | None = None
    website: str | None = None

    @property
    def is_empty(self) -> bool:
        return not any((self.name, self.phone, self.address, self.hours, self.website))


@dataclass(frozen=True)
class WebhookSettings:
    """Webhook mode (``WEBHOOK_URL`` set): where Telegram posts and where this process listens."""

    url: str
    secret: str = field(repr=False)
    listen: str = ALL_INTERFACES
    port: int = 8080
    # setWebhook's max_connections: parallel deliveries Telegram makes (1-100; its default 40).
    max_connections: int = 40

    @property
    def path(self) -> str:
        """The path this process serves: the URL's own (Telegram posts to the URL as given)."""
        return urlsplit(self.url).path or "/"


@dataclass(frozen=True)
class Settings:
    bot_token: str | None
    api_base_url: str = TELEGRAM_BASE_URL
    database_url: str = DEFAULT_DATABASE_URL
    # Whether DATABASE_URL was set (`demo` keeps nothing unless it names a database on purpose).
    database_url_set: bool = False
    admin_ids: frozenset[int] = frozenset()
    default_locale: str = "en"
    content_dir: Path = PROJECT_ROOT / "content"
    locales_dir: Path = PROJECT_ROOT / "locales"
    hospital: HospitalContact = field(default_factory=HospitalContact)
    # LOG_LEVEL, or None when unset: `run` then logs INFO, the other commands WARNING.
    log_level: str | None = None
    # Topics whose `reviewed` date is older than this get a warning (check, i18n status).
    review_max_age_days: int = 365
    # Broadcast pace: messages per second across all chats (Telegram allows about 30), and
    # for paid broadcasts (allow_paid_broadcast, up to 1000).
    broadcast_rate: float = 30.0
    broadcast_paid_rate: float = 1000.0
    # Users neither subscribed nor seen for this many days are erased (daily, inside `run`).
    user_retention_days: int = 730
    # The key of the keyed hash that stands for a user id in logs (bot.core.pseudonyms);
    # None: a random key per process.
    log_id_key: str | None = None
    # Shown in the urgent-care message (typed warning signs): the emergency service's number
    # (else "your local emergency number") and the hospital's after-hours line (else nothing).
    emergency_number: str | None = None
    hospital_emergency_phone: str | None = None
    # Seconds one database statement (or a wait for a pooled connection) may take before it
    # fails: PostgreSQL's statement_timeout, SQLite's busy_timeout (bot/storage/connection.py).
    database_timeout: float = 5.0
    # The bot's @username, for the links of `qr` (t.me/<username>?start=…); None: ask
    # Telegram (getMe) with BOT_TOKEN.
    bot_username: str | None = None
    # Webhook mode when set (WEBHOOK_URL, WEBHOOK_SECRET, ...); None: long polling.
    webhook: WebhookSettings | None = None
    # /healthz, /readyz and /metrics on this port (METRICS_PORT), None: not served.
    metrics_port: int | None = None
    metrics_listen: str = ALL_INTERFACES
    # Floods (telegram_side/update_scheduler.py, reply_pacing.py): updates a second each user
    # may send, and the burst; replies a second to one chat, and the burst; updates processed
    # at once, and waiting.
    user_update_rate: float = 3.0
    user_update_burst: int = 5
    chat_reply_rate: float = 1.0
    chat_reply_burst: int = 2
    max_concurrent_updates: int = 64
    max_waiting_updates: int = 1000

    def __repr__(self) -> str:  # never show the token, even in a debugger or a log line
        return (
            f"Settings(api_base_url={self.api_base_url!r}, database_url=<hidden>, "
            f"admin_ids={sorted(self.admin_ids)!r}, default_locale={self.default_locale!r}, "
            f"content_dir={str(self.content_dir)!r}, locales_dir={str(self.locales_dir)!r})"
        )

    def log_level_or(self, default: str) -> str:
        return self.log_level or default

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, require_token: bool = True
    ) -> Settings:
        """Build settings from ``env`` (default ``os.environ``); raise :class:`ConfigError`."""
        read = EnvReader(os.environ if env is None else env)
        database_url = read("DATABASE_URL")
        webhook = _webhook(read)
        metrics_port = _metrics_port(read("METRICS_PORT"), webhook)
        return cls(
            bot_token=parse_token(read("BOT_TOKEN"), require_token),
            api_base_url=parse_http_url(
                read("BOT_API_BASE_URL") or TELEGRAM_BASE_URL,
                "BOT_API_BASE_URL",
                "must be an http(s) URL such as https://api.telegram.org/bot",
            ),
            database_url=database_url or DEFAULT_DATABASE_URL,
            database_url_set=database_url is not None,
            admin_ids=parse_admin_ids(read("ADMIN_IDS")),
            default_locale=parse_locale(read("DEFAULT_LOCALE") or "en", "DEFAULT_LOCALE"),
            content_dir=parse_directory(
                read("CONTENT_DIR"), "CONTENT_DIR", _default_dir("content")
            ),
            locales_dir=parse_directory(
                read("LOCALES_DIR"), "LOCALES_DIR", _default_dir("locales")
            ),
            hospital=_hospital(read),
            log_level=parse_log_level(read("LOG_LEVEL")),
            review_max_age_days=parse_days(
                read("REVIEW_MAX_AGE_DAYS"), "REVIEW_MAX_AGE_DAYS", 365
            ),
            broadcast_rate=parse_rate(read("BROADCAST_RATE"), "BROADCAST_RATE", 30.0),
            broadcast_paid_rate=parse_rate(
                read("BROADCAST_PAID_RATE"), "BROADCAST_PAID_RATE", 1000.0
            ),
            user_retention_days=parse_days(
                read("USER_RETENTION_DAYS"), "USER_RETENTION_DAYS", 730
            ),
            log_id_key=parse_log_id_key(read("LOG_ID_KEY")),
            emergency_number=parse_phone(
                read("EMERGENCY_NUMBER"), "EMERGENCY_NUMBER", _EMERGENCY_RE, "112, 120 or 999"
            ),
            hospital_emergency_phone=parse_phone(
                read("HOSPITAL_EMERGENCY_PHONE"),
                "HOSPITAL_EMERGENCY_PHONE",
                _PHONE_RE,
                "+86 10 1234 5678",
            ),
            database_timeout=parse_seconds(read("DATABASE_TIMEOUT"), "DATABASE_TIMEOUT", 5.0),
            bot_username=parse_bot_username(read("BOT_USERNAME")),
            webhook=webhook,
            metrics_port=metrics_port,
            metrics_listen=parse_address(read("METRICS_LISTEN"), "METRICS_LISTEN"),
            **_flood_settings(read),
        )


def _hospital(read: EnvReader) -> HospitalContact:
    phone = read("HOSPITAL_PHONE")
    if phone is not None and not _PHONE_RE.match(phone):
        raise ConfigError("HOSPITAL_PHONE", "must be a phone number such as +86 10 1234 5678")
    website = read("HOSPITAL_WEBSITE")
    if website is not None:
        parse_http_url(website, "HOSPITAL_WEBSITE", "must be an http(s) URL")
    return HospitalContact(
        name=read("HOSPITAL_NAME"),
        phone=phone,
        address=read("HOSPITAL_ADDRESS"),
        hours=read("HOSPITAL_HOURS"),
        website=website,
    )


def _webhook(read: EnvReader) -> WebhookSettings | None:
    """WEBHOOK_*: webhook mode when WEBHOOK_URL is set; every other WEBHOOK_* needs it (a
    replica that silently polled would delete the webhook the other replicas serve)."""
    url = read("WEBHOOK_URL")
    others = ("WEBHOOK_SECRET", "WEBHOOK_LISTEN", "WEBHOOK_PORT", "WEBHOOK_MAX_CONNECTIONS")
    if url is None:
        stray = [name for name in others if read(name) is not None]
        if stray:
            raise ConfigError(
                "WEBHOOK_URL", f"not set, but {stray[0]} is (webhook mode needs WEBHOOK_URL)"
            )
        return None
    secret = read("WEBHOOK_SECRET")
    if secret is None:
        raise ConfigError("WEBHOOK_SECRET", "required with WEBHOOK_URL (1-256 of A-Za-z0-9_-)")
    if not _WEBHOOK_SECRET_RE.match(secret):
        raise ConfigError(
            "WEBHOOK_SECRET", "must be 1-256 characters of A-Z, a-z, 0-9, _ and - only"
        )
    max_connections = parse_port(read("WEBHOOK_MAX_CONNECTIONS"), "WEBHOOK_MAX_CONNECTIONS", 40)
    if max_connections > 100:
        raise ConfigError("WEBHOOK_MAX_CONNECTIONS", f"{max_connections} is not within 1-100")
    return WebhookSettings(
        url=parse_webhook_url(url),
        secret=secret,
        listen=parse_address(read("WEBHOOK_LISTEN"), "WEBHOOK_LISTEN"),
        port=parse_port(read("WEBHOOK_PORT"), "WEBHOOK_PORT", 8080),
        max_connections=max_connections,
    )


def _metrics_port(raw: str | None, webhook: WebhookSettings | None) -> int | None:
    if raw is None:
        return None
    port = parse_port(raw, "METRICS_PORT", 0)
    if webhook is not None and port == webhook.port:
        raise ConfigError(
            "METRICS_PORT", "must differ from WEBHOOK_PORT (metrics stay off the public port)"
        )
    return port


def _flood_settings(read: EnvReader) -> dict[str, Any]:
    return {
        "user_update_rate": parse_per_second(read("USER_UPDATE_RATE"), "USER_UPDATE_RATE", 3.0),
        "user_update_burst": parse_count(read("USER_UPDATE_BURST"), "USER_UPDATE_BURST", 5),
        "chat_reply_rate": parse_per_second(read("CHAT_REPLY_RATE"), "CHAT_REPLY_RATE", 1.0),
        "chat_reply_burst": parse_count(read("CHAT_REPLY_BURST"), "CHAT_REPLY_BURST", 2),
        "max_concurrent_updates": parse_count(
            read("MAX_CONCURRENT_UPDATES"), "MAX_CONCURRENT_UPDATES", 64
        ),
        "max_waiting_updates": parse_count(
            read("MAX_WAITING_UPDATES"), "MAX_WAITING_UPDATES", 1000
        ),
    }


def _default_dir(name: str) -> Path:
    """``./<name>`` when run from a checkout or the image's /app, else next to the package."""
    here = Path.cwd() / name
    return here if here.is_dir() else PROJECT_ROOT / name
