"""Settings from the environment: one frozen dataclass, one-line errors naming the variable."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from babel import Locale, UnknownLocaleError

TELEGRAM_BASE_URL = "https://api.telegram.org/bot"
DEFAULT_DATABASE_URL = "sqlite:///data/bot.db"
PROJECT_ROOT = Path(__file__).resolve().parent.parent

_TOKEN_RE = re.compile(r"^\d{1,20}:[A-Za-z0-9_-]{1,100}$")
# A bot's username: 5-32 of A-Za-z0-9_, ending in "bot" (any case), as @BotFather requires.
BOT_USERNAME_RE = re.compile(r"[A-Za-z0-9_]{2,29}[Bb][Oo][Tt]")
MIN_LOG_ID_KEY_LENGTH = 16
_PHONE_RE = re.compile(r"^\+?[0-9][0-9 ()./-]{2,30}$")
# Emergency numbers are short: 112, 120, 911, 999, 000, and 15 or 17 in France.
_EMERGENCY_RE = re.compile(r"^\+?[0-9][0-9 ()./-]{1,30}$")
# Telegram's rule for setWebhook's secret_token.
_WEBHOOK_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
#: The ports Telegram posts webhooks to (over HTTPS only).
WEBHOOK_PORTS = (443, 80, 88, 8443)
#: Where the webhook and metrics servers listen unless told otherwise: every interface, as a
#: container must (the reverse proxy and the health checks reach it from outside).
ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - see above; WEBHOOK_LISTEN/METRICS_LISTEN narrow it


class ConfigError(Exception):
    """A setting is missing or invalid; ``str()`` is one line that names the variable."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


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
        read = _Reader(os.environ if env is None else env)
        database_url = read("DATABASE_URL")
        webhook = _webhook(read)
        metrics_port = _metrics_port(read("METRICS_PORT"), webhook)
        return cls(
            bot_token=_token(read("BOT_TOKEN"), require_token),
            api_base_url=_http_url(
                read("BOT_API_BASE_URL") or TELEGRAM_BASE_URL,
                "BOT_API_BASE_URL",
                "must be an http(s) URL such as https://api.telegram.org/bot",
            ),
            database_url=database_url or DEFAULT_DATABASE_URL,
            database_url_set=database_url is not None,
            admin_ids=_admin_ids(read("ADMIN_IDS")),
            default_locale=_locale(read("DEFAULT_LOCALE") or "en", "DEFAULT_LOCALE"),
            content_dir=_directory(read("CONTENT_DIR"), "CONTENT_DIR", _default_dir("content")),
            locales_dir=_directory(read("LOCALES_DIR"), "LOCALES_DIR", _default_dir("locales")),
            hospital=_hospital(read),
            log_level=_log_level(read("LOG_LEVEL")),
            review_max_age_days=_days(read("REVIEW_MAX_AGE_DAYS"), "REVIEW_MAX_AGE_DAYS", 365),
            broadcast_rate=_rate(read("BROADCAST_RATE"), "BROADCAST_RATE", 30.0),
            broadcast_paid_rate=_rate(read("BROADCAST_PAID_RATE"), "BROADCAST_PAID_RATE", 1000.0),
            user_retention_days=_days(read("USER_RETENTION_DAYS"), "USER_RETENTION_DAYS", 730),
            log_id_key=_log_id_key(read("LOG_ID_KEY")),
            emergency_number=_phone(
                read("EMERGENCY_NUMBER"), "EMERGENCY_NUMBER", _EMERGENCY_RE, "112, 120 or 999"
            ),
            hospital_emergency_phone=_phone(
                read("HOSPITAL_EMERGENCY_PHONE"),
                "HOSPITAL_EMERGENCY_PHONE",
                _PHONE_RE,
                "+86 10 1234 5678",
            ),
            database_timeout=_seconds(read("DATABASE_TIMEOUT"), "DATABASE_TIMEOUT", 5.0),
            bot_username=_bot_username(read("BOT_USERNAME")),
            webhook=webhook,
            metrics_port=metrics_port,
            metrics_listen=_address(read("METRICS_LISTEN"), "METRICS_LISTEN"),
        )


class _Reader:
    """``env[name]`` stripped; None when unset or blank."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def __call__(self, name: str) -> str | None:
        value = self.env.get(name)
        if value is None:
            return None
        return value.strip() or None


def _token(token: str | None, required: bool) -> str | None:
    if token is None:
        if required:
            raise ConfigError("BOT_TOKEN", "not set; get a token from @BotFather (see README.md)")
        return None
    if not _TOKEN_RE.match(token):
        raise ConfigError("BOT_TOKEN", "does not look like a token from @BotFather")
    return token


def _bot_username(raw: str | None) -> str | None:
    if raw is None:
        return None
    name = raw.removeprefix("@")
    if not BOT_USERNAME_RE.fullmatch(name):
        raise ConfigError(
            "BOT_USERNAME",
            f"{raw!r} is not a bot's username: 5-32 letters, digits or _, ending in 'bot' "
            "(as @BotFather gave it, e.g. my_hospital_bot)",
        )
    return name


def _http_url(value: str, name: str, problem: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(name, problem)
    return value


def _admin_ids(raw: str | None) -> frozenset[int]:
    admin_ids: set[int] = set()
    for raw_item in (raw or "").split(","):
        item = raw_item.strip()
        if not item:
            continue
        if not re.fullmatch(r"\d{1,20}", item):
            raise ConfigError(
                "ADMIN_IDS", f"{item!r} is not a Telegram user id (comma-separated numbers)"
            )
        admin_ids.add(int(item))
    return frozenset(admin_ids)


def _locale(value: str, name: str) -> str:
    try:
        return str(Locale.parse(value.replace("-", "_")))
    except (ValueError, UnknownLocaleError):
        raise ConfigError(name, f"{value!r} is not a locale code such as en or zh_Hans") from None


def _hospital(read: _Reader) -> HospitalContact:
    phone = read("HOSPITAL_PHONE")
    if phone is not None and not _PHONE_RE.match(phone):
        raise ConfigError("HOSPITAL_PHONE", "must be a phone number such as +86 10 1234 5678")
    website = read("HOSPITAL_WEBSITE")
    if website is not None:
        _http_url(website, "HOSPITAL_WEBSITE", "must be an http(s) URL")
    return HospitalContact(
        name=read("HOSPITAL_NAME"),
        phone=phone,
        address=read("HOSPITAL_ADDRESS"),
        hours=read("HOSPITAL_HOURS"),
        website=website,
    )


def _phone(raw: str | None, name: str, pattern: re.Pattern[str], example: str) -> str | None:
    if raw is not None and not pattern.match(raw):
        raise ConfigError(name, f"{raw!r} is not a phone number such as {example}")
    return raw


def _log_level(raw: str | None) -> str | None:
    if raw is None:
        return None
    level = raw.upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError("LOG_LEVEL", "must be one of DEBUG, INFO, WARNING, ERROR")
    return level


def _log_id_key(raw: str | None) -> str | None:
    if raw is not None and len(raw) < MIN_LOG_ID_KEY_LENGTH:
        raise ConfigError(
            "LOG_ID_KEY",
            f"must be at least {MIN_LOG_ID_KEY_LENGTH} characters "
            "(for example the output of `openssl rand -hex 32`)",
        )
    return raw


def _days(raw: str | None, name: str, default: int) -> int:
    if raw is None:
        return default
    if not re.fullmatch(r"\d{1,5}", raw) or int(raw) == 0:
        raise ConfigError(name, f"{raw!r} is not a number of days such as {default}")
    return int(raw)


def _rate(raw: str | None, name: str, default: float) -> float:
    return _number(raw, name, default, 100_000, "a rate in messages a second")


def _seconds(raw: str | None, name: str, default: float) -> float:
    return _number(raw, name, default, 600, "a number of seconds")


def _number(raw: str | None, name: str, default: float, most: float, what: str) -> float:
    """A positive number up to ``most``; ``default`` when unset; else one line naming it."""
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= most:
        raise ConfigError(name, f"{raw!r} is not {what} such as {default:g}")
    return value


def _webhook(read: _Reader) -> WebhookSettings | None:
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
    max_connections = _port(read("WEBHOOK_MAX_CONNECTIONS"), "WEBHOOK_MAX_CONNECTIONS", 40)
    if max_connections > 100:
        raise ConfigError("WEBHOOK_MAX_CONNECTIONS", f"{max_connections} is not within 1-100")
    return WebhookSettings(
        url=_webhook_url(url),
        secret=secret,
        listen=_address(read("WEBHOOK_LISTEN"), "WEBHOOK_LISTEN"),
        port=_port(read("WEBHOOK_PORT"), "WEBHOOK_PORT", 8080),
        max_connections=max_connections,
    )


def _webhook_url(url: str) -> str:
    """An https URL on a port Telegram posts to; its path is the one served."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ConfigError("WEBHOOK_URL", "must be an https URL (Telegram posts over HTTPS only)")
    try:
        port = parts.port or 443
    except ValueError:
        port = 0
    if port not in WEBHOOK_PORTS:
        raise ConfigError(
            "WEBHOOK_URL", "must use port 443, 80, 88 or 8443 (the ports Telegram posts to)"
        )
    if parts.username is not None or parts.fragment:
        raise ConfigError("WEBHOOK_URL", "must not hold a user name, password or #fragment")
    return url


def _metrics_port(raw: str | None, webhook: WebhookSettings | None) -> int | None:
    if raw is None:
        return None
    port = _port(raw, "METRICS_PORT", 0)
    if webhook is not None and port == webhook.port:
        raise ConfigError(
            "METRICS_PORT", "must differ from WEBHOOK_PORT (metrics stay off the public port)"
        )
    return port


def _port(raw: str | None, name: str, default: int) -> int:
    if raw is None:
        return default
    if not re.fullmatch(r"\d{1,5}", raw) or not 0 < int(raw) <= 65535:
        raise ConfigError(name, f"{raw!r} is not a TCP port (1-65535)")
    return int(raw)


def _address(raw: str | None, name: str) -> str:
    if raw is None:
        return ALL_INTERFACES
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        raise ConfigError(
            name, f"{raw!r} is not an IP address to listen on, such as 0.0.0.0 or 127.0.0.1"
        ) from None


def _default_dir(name: str) -> Path:
    """``./<name>`` when run from a checkout or the image's /app, else next to the package."""
    here = Path.cwd() / name
    return here if here.is_dir() else PROJECT_ROOT / name


def _directory(raw: str | None, name: str, default: Path) -> Path:
    path = Path(raw).expanduser() if raw else default
    if not path.is_dir():
        raise ConfigError(name, f"{path} is not a directory")
    return path.resolve()
