"""Reading environment variables: one small validator per kind of value.

Each returns the value or raises :class:`ConfigError` with one line that names the variable.
:mod:`bot.config` puts them together into :class:`~bot.config.Settings`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from babel import Locale, UnknownLocaleError

_TOKEN_RE = re.compile(r"^\d{1,20}:[A-Za-z0-9_-]{1,100}$")


# A bot's username: 5-32 of A-Za-z0-9_, ending in "bot" (any case), as @BotFather requires.
BOT_USERNAME_RE = re.compile(r"[A-Za-z0-9_]{2,29}[Bb][Oo][Tt]")


MIN_LOG_ID_KEY_LENGTH = 16


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


class StartupError(Exception):
    """The settings are valid but the bot cannot start for a reason outside them (Telegram
    cannot be reached); ``str()`` is one line, without the token. Exit code 1."""


class EnvReader:
    """``env[name]`` stripped; None when unset or blank."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def __call__(self, name: str) -> str | None:
        value = self.env.get(name)
        if value is None:
            return None
        return value.strip() or None


def parse_token(token: str | None, required: bool) -> str | None:
    if token is None:
        if required:
            raise ConfigError("BOT_TOKEN", "not set; get a token from @BotFather (see README.md)")
        return None
    if not _TOKEN_RE.match(token):
        raise ConfigError("BOT_TOKEN", "does not look like a token from @BotFather")
    return token


def parse_bot_username(raw: str | None) -> str | None:
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


def parse_http_url(value: str, name: str, problem: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(name, problem)
    return value


def parse_admin_ids(raw: str | None) -> frozenset[int]:
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


def parse_locale(value: str, name: str) -> str:
    try:
        return str(Locale.parse(value.replace("-", "_")))
    except (ValueError, UnknownLocaleError):
        raise ConfigError(name, f"{value!r} is not a locale code such as en or zh_Hans") from None


def parse_phone(raw: str | None, name: str, pattern: re.Pattern[str], example: str) -> str | None:
    if raw is not None and not pattern.match(raw):
        raise ConfigError(name, f"{raw!r} is not a phone number such as {example}")
    return raw


def parse_log_level(raw: str | None) -> str | None:
    if raw is None:
        return None
    level = raw.upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError("LOG_LEVEL", "must be one of DEBUG, INFO, WARNING, ERROR")
    return level


def parse_log_id_key(raw: str | None) -> str | None:
    if raw is not None and len(raw) < MIN_LOG_ID_KEY_LENGTH:
        raise ConfigError(
            "LOG_ID_KEY",
            f"must be at least {MIN_LOG_ID_KEY_LENGTH} characters "
            "(for example the output of `openssl rand -hex 32`)",
        )
    return raw


def parse_days(raw: str | None, name: str, default: int) -> int:
    if raw is None:
        return default
    if not re.fullmatch(r"\d{1,5}", raw) or int(raw) == 0:
        raise ConfigError(name, f"{raw!r} is not a number of days such as {default}")
    return int(raw)


def parse_rate(raw: str | None, name: str, default: float) -> float:
    return parse_number(raw, name, default, 100_000, "a rate in messages a second")


def parse_seconds(raw: str | None, name: str, default: float) -> float:
    return parse_number(raw, name, default, 600, "a number of seconds")


def parse_number(raw: str | None, name: str, default: float, most: float, what: str) -> float:
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


def parse_webhook_url(url: str) -> str:
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


def parse_port(raw: str | None, name: str, default: int) -> int:
    if raw is None:
        return default
    if not re.fullmatch(r"\d{1,5}", raw) or not 0 < int(raw) <= 65535:
        raise ConfigError(name, f"{raw!r} is not a TCP port (1-65535)")
    return int(raw)


def parse_address(raw: str | None, name: str) -> str:
    if raw is None:
        return ALL_INTERFACES
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        raise ConfigError(
            name, f"{raw!r} is not an IP address to listen on, such as 0.0.0.0 or 127.0.0.1"
        ) from None


def parse_per_second(raw: str | None, name: str, default: float) -> float:
    return parse_number(raw, name, default, 10_000, "a number a second")


def parse_count(raw: str | None, name: str, default: int) -> int:
    if raw is None:
        return default
    if not re.fullmatch(r"\d{1,6}", raw) or int(raw) == 0:
        raise ConfigError(name, f"{raw!r} is not a whole number such as {default}")
    return int(raw)


def parse_directory(raw: str | None, name: str, default: Path) -> Path:
    path = Path(raw).expanduser() if raw else default
    if not path.is_dir():
        raise ConfigError(name, f"{path} is not a directory")
    return path.resolve()
