"""WEBHOOK_* and METRICS_*: defaults, and one line naming the variable for every bad value."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, Settings
from tests.conftest import make_settings

URL = "https://bot.example.org/telegram/webhook"
SECRET = "a-secret_OK"


def test_polling_is_the_default() -> None:
    settings = make_settings()
    assert settings.webhook is None
    assert settings.metrics_port is None


def test_webhook_settings_and_their_defaults() -> None:
    settings = make_settings(WEBHOOK_URL=URL, WEBHOOK_SECRET=SECRET, METRICS_PORT="9090")
    hook = settings.webhook
    assert hook is not None
    assert (hook.url, hook.secret, hook.path) == (URL, SECRET, "/telegram/webhook")
    assert (hook.listen, hook.port, hook.max_connections) == ("0.0.0.0", 8080, 40)
    assert (settings.metrics_port, settings.metrics_listen) == (9090, "0.0.0.0")
    assert SECRET not in repr(hook) and SECRET not in repr(settings)


def test_webhook_settings_given() -> None:
    settings = make_settings(
        WEBHOOK_URL="https://bot.example.org:8443",
        WEBHOOK_SECRET="x" * 256,
        WEBHOOK_LISTEN="::1",
        WEBHOOK_PORT="8443",
        WEBHOOK_MAX_CONNECTIONS="100",
        METRICS_LISTEN="127.0.0.1",
        METRICS_PORT="9100",
    )
    hook = settings.webhook
    assert hook is not None
    assert (hook.path, hook.listen, hook.port, hook.max_connections) == ("/", "::1", 8443, 100)
    assert settings.metrics_listen == "127.0.0.1"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"WEBHOOK_URL": "http://bot.example.org/hook"}, "WEBHOOK_URL"),
        ({"WEBHOOK_URL": "https://bot.example.org:8080/hook"}, "WEBHOOK_URL"),
        ({"WEBHOOK_URL": "https://bot.example.org:99999/hook"}, "WEBHOOK_URL"),
        ({"WEBHOOK_URL": "https:///hook"}, "WEBHOOK_URL"),
        ({"WEBHOOK_URL": "https://user:pw@bot.example.org/hook"}, "WEBHOOK_URL"),
        ({"WEBHOOK_URL": URL, "WEBHOOK_SECRET": None}, "WEBHOOK_SECRET"),
        ({"WEBHOOK_SECRET": "has space"}, "WEBHOOK_SECRET"),
        ({"WEBHOOK_SECRET": "x" * 257}, "WEBHOOK_SECRET"),
        ({"WEBHOOK_SECRET": "ключ"}, "WEBHOOK_SECRET"),
        ({"WEBHOOK_PORT": "0"}, "WEBHOOK_PORT"),
        ({"WEBHOOK_PORT": "65536"}, "WEBHOOK_PORT"),
        ({"WEBHOOK_PORT": "http"}, "WEBHOOK_PORT"),
        ({"WEBHOOK_LISTEN": "everywhere"}, "WEBHOOK_LISTEN"),
        ({"WEBHOOK_MAX_CONNECTIONS": "0"}, "WEBHOOK_MAX_CONNECTIONS"),
        ({"WEBHOOK_MAX_CONNECTIONS": "101"}, "WEBHOOK_MAX_CONNECTIONS"),
        ({"METRICS_PORT": "abc"}, "METRICS_PORT"),
        ({"METRICS_PORT": "8080"}, "METRICS_PORT"),  # the webhook's port
        ({"METRICS_LISTEN": "localhost:9090"}, "METRICS_LISTEN"),
        # A replica that silently polled would delete the webhook the others serve.
        ({"WEBHOOK_URL": None, "WEBHOOK_SECRET": SECRET}, "WEBHOOK_URL"),
        ({"WEBHOOK_URL": None, "WEBHOOK_SECRET": None, "WEBHOOK_PORT": "8080"}, "WEBHOOK_URL"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(
    env: dict[str, str | None], variable: str
) -> None:
    values = {"WEBHOOK_URL": URL, "WEBHOOK_SECRET": SECRET, **env}
    given = {name: value for name, value in values.items() if value is not None}
    with pytest.raises(ConfigError) as info:
        Settings.from_env(given, require_token=False)
    message = str(info.value)
    assert message.startswith(f"{variable}: ")
    assert "\n" not in message
    assert SECRET not in message


def test_metrics_without_webhook_may_use_any_port() -> None:
    assert Settings.from_env({"METRICS_PORT": "8080"}, require_token=False).metrics_port == 8080
