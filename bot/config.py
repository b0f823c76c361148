"""Settings from the environment: one frozen dataclass, one-line errors naming the variable."""

from __future__ import annotations

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
_PHONE_RE = re.compile(r"^\+?[0-9][0-9 ()./-]{2,30}$")


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
class Settings:
    bot_token: str | None
    api_base_url: str = TELEGRAM_BASE_URL
    database_url: str = DEFAULT_DATABASE_URL
    admin_ids: frozenset[int] = frozenset()
    default_locale: str = "en"
    content_dir: Path = PROJECT_ROOT / "content"
    locales_dir: Path = PROJECT_ROOT / "locales"
    hospital: HospitalContact = field(default_factory=HospitalContact)
    log_level: str = "INFO"
    # Topics whose `reviewed` date is older than this get a warning (check, i18n status).
    review_max_age_days: int = 365
    # Broadcast pace: messages per second across all chats (Telegram allows about 30), and
    # for paid broadcasts (allow_paid_broadcast, up to 1000).
    broadcast_rate: float = 30.0
    broadcast_paid_rate: float = 1000.0

    def __repr__(self) -> str:  # never show the token, even in a debugger or a log line
        return (
            f"Settings(api_base_url={self.api_base_url!r}, database_url=<hidden>, "
            f"admin_ids={sorted(self.admin_ids)!r}, default_locale={self.default_locale!r}, "
            f"content_dir={str(self.content_dir)!r}, locales_dir={str(self.locales_dir)!r})"
        )

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, require_token: bool = True
    ) -> Settings:
        """Build settings from ``env`` (default ``os.environ``); raise :class:`ConfigError`."""
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(name)
            if value is None:
                return None
            value = value.strip()
            return value or None

        token = get("BOT_TOKEN")
        if token is None:
            if require_token:
                raise ConfigError(
                    "BOT_TOKEN", "not set; get a token from @BotFather (see README.md)"
                )
        elif not _TOKEN_RE.match(token):
            raise ConfigError("BOT_TOKEN", "does not look like a token from @BotFather")

        base_url = get("BOT_API_BASE_URL") or TELEGRAM_BASE_URL
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(
                "BOT_API_BASE_URL", "must be an http(s) URL such as https://api.telegram.org/bot"
            )

        admin_ids: set[int] = set()
        for raw_item in (get("ADMIN_IDS") or "").split(","):
            item = raw_item.strip()
            if not item:
                continue
            if not re.fullmatch(r"\d{1,20}", item):
                raise ConfigError(
                    "ADMIN_IDS", f"{item!r} is not a Telegram user id (comma-separated numbers)"
                )
            admin_ids.add(int(item))

        default_locale = get("DEFAULT_LOCALE") or "en"
        try:
            default_locale = str(Locale.parse(default_locale.replace("-", "_")))
        except (ValueError, UnknownLocaleError):
            raise ConfigError(
                "DEFAULT_LOCALE", f"{default_locale!r} is not a locale code such as en or zh_Hans"
            ) from None

        content_dir = _directory(env, "CONTENT_DIR", _default_dir("content"))
        locales_dir = _directory(env, "LOCALES_DIR", _default_dir("locales"))

        phone = get("HOSPITAL_PHONE")
        if phone is not None and not _PHONE_RE.match(phone):
            raise ConfigError("HOSPITAL_PHONE", "must be a phone number such as +86 10 1234 5678")
        website = get("HOSPITAL_WEBSITE")
        if website is not None:
            wparts = urlsplit(website)
            if wparts.scheme not in ("http", "https") or not wparts.netloc:
                raise ConfigError("HOSPITAL_WEBSITE", "must be an http(s) URL")
        hospital = HospitalContact(
            name=get("HOSPITAL_NAME"),
            phone=phone,
            address=get("HOSPITAL_ADDRESS"),
            hours=get("HOSPITAL_HOURS"),
            website=website,
        )

        log_level = (get("LOG_LEVEL") or "INFO").upper()
        if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ConfigError("LOG_LEVEL", "must be one of DEBUG, INFO, WARNING, ERROR")

        raw_age = get("REVIEW_MAX_AGE_DAYS") or "365"
        if not re.fullmatch(r"\d{1,5}", raw_age) or int(raw_age) == 0:
            raise ConfigError(
                "REVIEW_MAX_AGE_DAYS", f"{raw_age!r} is not a number of days such as 365"
            )

        broadcast_rate = _rate(get("BROADCAST_RATE"), "BROADCAST_RATE", 30.0)
        broadcast_paid_rate = _rate(get("BROADCAST_PAID_RATE"), "BROADCAST_PAID_RATE", 1000.0)

        return cls(
            bot_token=token,
            api_base_url=base_url,
            database_url=get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            admin_ids=frozenset(admin_ids),
            default_locale=default_locale,
            content_dir=content_dir,
            locales_dir=locales_dir,
            hospital=hospital,
            log_level=log_level,
            review_max_age_days=int(raw_age),
            broadcast_rate=broadcast_rate,
            broadcast_paid_rate=broadcast_paid_rate,
        )


def _rate(raw: str | None, name: str, default: float) -> float:
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= 100_000:
        raise ConfigError(name, f"{raw!r} is not a rate in messages a second such as {default:g}")
    return value


def _default_dir(name: str) -> Path:
    """``./<name>`` when run from a checkout or the image's /app, else next to the package."""
    here = Path.cwd() / name
    return here if here.is_dir() else PROJECT_ROOT / name


def _directory(env: Mapping[str, str], name: str, default: Path) -> Path:
    raw = (env.get(name) or "").strip()
    path = Path(raw).expanduser() if raw else default
    if not path.is_dir():
        raise ConfigError(name, f"{path} is not a directory")
    return path.resolve()
