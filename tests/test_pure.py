"""Table tests of the pure core: locale resolution, callback data, settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, Settings
from bot.core import callbacks
from bot.core.i18n import display_name, resolve_locale, telegram_language_code

AVAILABLE = ["en", "zh_Hans"]
SHIPPED = ["en", "zh_Hans", "zh_Hant"]


@pytest.mark.parametrize(
    ("telegram_code", "without_hant", "shipped"),
    [
        ("en", "en", "en"),
        ("en-GB", "en", "en"),
        ("en-us", "en", "en"),
        ("EN", "en", "en"),
        ("zh", "zh_Hans", "zh_Hans"),
        ("zh-hans", "zh_Hans", "zh_Hans"),
        ("zh-Hans", "zh_Hans", "zh_Hans"),
        ("zh-cn", "zh_Hans", "zh_Hans"),
        ("zh-CN", "zh_Hans", "zh_Hans"),
        ("zh-sg", "zh_Hans", "zh_Hans"),
        ("zh-my", "zh_Hans", "zh_Hans"),
        # Traditional Chinese readers get zh_Hant; without it, Simplified serves them better
        # than English.
        ("zh-hant", "zh_Hans", "zh_Hant"),
        ("zh-Hant", "zh_Hans", "zh_Hant"),
        ("zh-tw", "zh_Hans", "zh_Hant"),
        ("zh-TW", "zh_Hans", "zh_Hant"),
        ("zh-hk", "zh_Hans", "zh_Hant"),
        ("zh-mo", "zh_Hans", "zh_Hant"),
        ("zh-Hant-HK", "zh_Hans", "zh_Hant"),
        ("zh_Hant_TW", "zh_Hans", "zh_Hant"),
        ("zh-hans-hk", "zh_Hans", "zh_Hans"),  # the script said wins over the region
        ("yue", "zh_Hans", "zh_Hant"),  # Cantonese reads written Chinese, Traditional
        ("yue-hk", "zh_Hans", "zh_Hant"),
        ("fr", "en", "en"),
        ("pt-br", "en", "en"),
        ("xx", "en", "en"),
        ("", "en", "en"),
        (None, "en", "en"),
        ("-", "en", "en"),
        ("zh-", "en", "en"),
        ("🙂", "en", "en"),
    ],
)
def test_telegram_language_code_resolves(
    telegram_code: str | None, without_hant: str, shipped: str
) -> None:
    assert resolve_locale(None, telegram_code, AVAILABLE, "en") == without_hant
    assert resolve_locale(None, telegram_code, SHIPPED, "en") == shipped


@pytest.mark.parametrize(
    ("saved", "code", "default", "expected"),
    [
        ("zh_Hans", "en", "en", "zh_Hans"),  # the saved choice wins over Telegram's
        ("en", "zh-hans", "zh_Hans", "en"),
        ("fr", "zh-hans", "en", "zh_Hans"),  # a saved locale that no longer exists is ignored
        (None, None, "zh_Hans", "zh_Hans"),  # then DEFAULT_LOCALE
        (None, "de", "zh_Hans", "zh_Hans"),
    ],
)
def test_saved_choice_then_telegram_then_default(
    saved: str | None, code: str | None, default: str, expected: str
) -> None:
    assert resolve_locale(saved, code, AVAILABLE, default) == expected


def test_locale_names_come_from_cldr() -> None:
    assert display_name("en") == "English"
    assert display_name("zh_Hans") == "中文 (简体)"
    assert display_name("zh_Hant") == "中文 (繁體)"
    assert telegram_language_code("zh_Hans") == "zh"
    assert telegram_language_code("zh_Hant") == "zh"  # Telegram's menus know no script


@pytest.mark.parametrize(
    "action",
    [
        callbacks.Home(),
        callbacks.LanguageMenu(),
        callbacks.SetLanguage("zh_Hans"),
        callbacks.ShowTopic("home"),
        callbacks.ShowTopic("bone-cement", 3),
        callbacks.ShowTopic("a" * 32, 99),
        callbacks.ShowTerms("stents"),
        callbacks.ShowTerms("bone-cement", 1, 2),
        callbacks.ShowTerms("a" * 32, 99, 99),
    ],
)
def test_callback_data_round_trips_within_64_bytes(action: callbacks.Action) -> None:
    data = callbacks.encode(action)
    assert 1 <= len(data.encode()) <= 64
    assert callbacks.decode(data) == action


@pytest.mark.parametrize(
    "forged",
    [
        "",
        None,
        "1",
        "1:",
        "1:x",
        "2:t:home",  # another format version
        "1:t:",
        "1:t:Home",  # ids are lowercase
        "1:t:home:0",
        "1:t:home:-1",
        "1:t:home:100",
        "1:t:home:²",
        "1:t:../../etc",
        "1:t:home:1:2",
        "1:L:",
        "1:L:zh Hans",
        "1:h:extra",
        "x" * 200,
        "1:t:" + "a" * 70,
        "\x00\x01",
        "1:w:stents",  # the words of a page always name the page and the list page
        "1:w:stents:0",
        "1:w:stents:0:0:0",
        "1:w:stents:00:0",
        "1:w:stents:0:100",
        "1:w:stents:-1:0",
        "1:w:Stents:0:0",
        "1:w::0:0",
        "1:w:../x:0:0",
    ],
)
def test_forged_callback_data_decodes_to_invalid(forged: str | None) -> None:
    assert isinstance(callbacks.decode(forged), callbacks.Invalid)


def test_encode_refuses_data_over_64_bytes() -> None:
    with pytest.raises(ValueError, match="64 bytes"):
        callbacks.encode(callbacks.SetLanguage("x" * 80))


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    (tmp_path / "c").mkdir(exist_ok=True)
    (tmp_path / "l").mkdir(exist_ok=True)
    env = {
        "BOT_TOKEN": "123456:ABCdef_ghi-jkl",
        "CONTENT_DIR": str(tmp_path / "c"),
        "LOCALES_DIR": str(tmp_path / "l"),
    }
    env.update(extra)
    return env


def test_settings_from_a_complete_environment(tmp_path: Path) -> None:
    settings = Settings.from_env(
        _env(
            tmp_path,
            ADMIN_IDS=" 12, 34 ,",
            DEFAULT_LOCALE="zh-hans",
            BOT_API_BASE_URL="http://127.0.0.1:9/bot",
            HOSPITAL_PHONE="+86 10 1234 5678",
            HOSPITAL_NAME="City Hospital",
            USER_RETENTION_DAYS="365",
            LOG_ID_KEY="a-key-of-sixteen-or-more",
        )
    )
    assert settings.admin_ids == {12, 34}
    assert settings.user_retention_days == 365
    assert settings.log_id_key == "a-key-of-sixteen-or-more"
    assert "sixteen" not in repr(settings)
    assert settings.default_locale == "zh_Hans"
    assert settings.api_base_url == "http://127.0.0.1:9/bot"
    assert settings.hospital.name == "City Hospital"
    assert settings.database_url == "sqlite:///data/bot.db"
    assert settings.database_timeout == 5.0
    assert Settings.from_env(_env(tmp_path, DATABASE_TIMEOUT="2.5")).database_timeout == 2.5
    assert "ABCdef" not in repr(settings)


def test_privacy_settings_have_defaults(tmp_path: Path) -> None:
    settings = Settings.from_env(_env(tmp_path))
    assert settings.user_retention_days == 730
    assert settings.log_id_key is None


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("BOT_TOKEN", "not a token"),
        ("BOT_API_BASE_URL", "ftp://example"),
        ("BOT_API_BASE_URL", "api.telegram.org"),
        ("ADMIN_IDS", "12,abc"),
        ("DEFAULT_LOCALE", "xx-nowhere"),
        ("CONTENT_DIR", "/nonexistent/dir"),
        ("LOCALES_DIR", "/nonexistent/dir"),
        ("HOSPITAL_PHONE", "call us"),
        ("HOSPITAL_WEBSITE", "hospital"),
        ("LOG_LEVEL", "LOUD"),
        ("USER_RETENTION_DAYS", "two years"),
        ("USER_RETENTION_DAYS", "0"),
        ("USER_RETENTION_DAYS", "-5"),
        ("LOG_ID_KEY", "short"),
        ("DATABASE_TIMEOUT", "0"),
        ("DATABASE_TIMEOUT", "soon"),
    ],
)
def test_invalid_setting_names_the_variable(tmp_path: Path, variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env(_env(tmp_path, **{variable: value}))
    message = str(info.value)
    assert message.startswith(f"{variable}: ")
    assert "\n" not in message
    assert "ABCdef" not in message


def test_missing_token_is_required_only_to_run(tmp_path: Path) -> None:
    env = _env(tmp_path)
    del env["BOT_TOKEN"]
    with pytest.raises(ConfigError, match=r"^BOT_TOKEN: not set"):
        Settings.from_env(env)
    assert Settings.from_env(env, require_token=False).bot_token is None
