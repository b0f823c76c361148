"""deploy/: the compose file, its Caddyfile and env.example agree with what the bot needs.

There is no Docker engine where the tests run, so the file is read as Docker Compose would
read it (YAML with merge keys; ``${VAR}``, ``${VAR:?message}`` and ``${VAR:-default}`` filled
in from env.example, as from the hospital's deploy/.env), and each replica's environment is
given to the bot's own ``Settings``: if it parses into webhook mode on PostgreSQL with metrics,
every variable the bot needs is there and valid.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from bot.broadcast.engine_config import EngineConfig
from bot.config import PROJECT_ROOT, Settings
from bot.storage import parse_database_url
from bot.telegram_side.webhook_server import DRAIN_SECONDS

DEPLOY = PROJECT_ROOT / "deploy"
#: What a replica needs in webhook mode on PostgreSQL (the rest have defaults).
REQUIRED = ("BOT_TOKEN", "DATABASE_URL", "WEBHOOK_URL", "WEBHOOK_SECRET", "METRICS_PORT")
#: Needed for the deployment to work as one: the same key on every replica.
SHARED = ("LOG_ID_KEY",)

_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[?-])(?P<arg>[^}]*))?\}")


def env_example() -> dict[str, str]:
    values = {}
    for line in (DEPLOY / "env.example").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def interpolate(value: object, env: dict[str, str]) -> str:
    """Compose's interpolation of one value (a missing ``${X:?…}`` fails the test)."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        given = env.get(name)
        if op in (":?", "?") and not given:
            raise AssertionError(f"{name} is required by compose.yaml but not in env.example")
        if op in (":-", "-") and not given:
            return arg or ""
        return given or ""

    return _VARIABLE.sub(one, str(value))


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def replicas(services: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services built from this repository's Dockerfile: the bot's replicas."""
    return {
        name: service
        for name, service in services.items()
        if isinstance(service.get("build"), dict) and service["build"].get("context") == ".."
    }


def replica_env(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    assert isinstance(environment, dict), "environment as a mapping"
    example = env_example()
    return {name: interpolate(value, example) for name, value in environment.items()}


def seconds(duration: str) -> float:
    match = re.fullmatch(r"(\d+)(ms|s|m)", duration)
    assert match, duration
    return int(match[1]) * {"ms": 0.001, "s": 1.0, "m": 60.0}[match[2]]


def test_two_replicas_of_one_image() -> None:
    bots = replicas(compose()["services"])
    assert len(bots) >= 2
    assert len({service["image"] for service in bots.values()}) == 1
    assert all(service["build"]["dockerfile"] == "Dockerfile" for service in bots.values())
    assert (PROJECT_ROOT / "Dockerfile").is_file()


def test_every_replica_has_what_webhook_mode_on_postgresql_needs() -> None:
    keys = []
    for name, service in replicas(compose()["services"]).items():
        env = replica_env(service)
        missing = [variable for variable in REQUIRED + SHARED if not env.get(variable)]
        assert missing == [], f"{name} lacks {missing}"
        settings = Settings.from_env(env)  # raises ConfigError naming a bad one
        assert settings.webhook is not None, name
        assert parse_database_url(settings.database_url).backend == "postgresql"
        assert settings.metrics_port is not None
        assert settings.bot_token
        keys.append((env["LOG_ID_KEY"], env["WEBHOOK_SECRET"], env["DATABASE_URL"]))
    assert len(set(keys)) == 1, "replicas must share the key, the secret and the database"


def test_the_database_is_the_postgres_service_with_a_volume_and_a_healthcheck() -> None:
    services = compose()["services"]
    postgres = services["postgres"]
    env = {k: interpolate(v, env_example()) for k, v in postgres["environment"].items()}
    for service in replicas(services).values():
        url = parse_database_url(replica_env(service)["DATABASE_URL"]).url
        assert (url.host, url.username, url.database) == ("postgres", "bot", "bot")
        assert url.password == env["POSTGRES_PASSWORD"]
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert any(str(v).endswith(":/var/lib/postgresql/data") for v in postgres["volumes"])
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])


def caddy_routes() -> tuple[str, str, list[str], dict[str, str]]:
    """(site address, handled path, upstreams, reverse_proxy options) from the Caddyfile."""
    text = (DEPLOY / "Caddyfile").read_text(encoding="utf-8")
    lines = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    site = lines[0].removesuffix("{").strip()
    handle = next(line for line in lines if line.startswith("handle /"))
    proxy = next(line for line in lines if line.startswith("reverse_proxy "))
    start = lines.index(proxy) + 1
    end = lines.index("}", start)
    options = dict(line.split(maxsplit=1) for line in lines[start:end])
    return site, handle.split()[1], proxy.removesuffix("{").split()[1:], options


def test_the_proxy_routes_the_webhook_path_to_every_replica() -> None:
    services = compose()["services"]
    bots = replicas(services)
    site, path, upstreams, options = caddy_routes()
    some_env = replica_env(next(iter(bots.values())))
    url = urlsplit(some_env["WEBHOOK_URL"])
    assert site == "{$BOT_DOMAIN}"
    assert url.hostname == env_example()["BOT_DOMAIN"]
    assert path == url.path
    assert sorted(upstreams) == sorted(
        f"{name}:{replica_env(service)['WEBHOOK_PORT']}" for name, service in bots.items()
    )
    assert options["lb_policy"] == "round_robin"
    assert options["health_uri"] == "/readyz"
    assert options["health_port"] == some_env["METRICS_PORT"]
    caddy = services["caddy"]
    assert "443:443" in caddy["ports"]  # Telegram posts to 443 (or 80, 88, 8443) only
    assert "./Caddyfile:/etc/caddy/Caddyfile:ro" in caddy["volumes"]
    assert caddy["environment"]["BOT_DOMAIN"].startswith("${BOT_DOMAIN")


def test_only_the_proxy_is_public() -> None:
    for name, service in replicas(compose()["services"]).items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port}"
    assert "ports" not in compose()["services"]["postgres"]


def test_replicas_have_a_readiness_healthcheck_with_what_the_image_has() -> None:
    for service in replicas(compose()["services"]).values():
        check = service["healthcheck"]["test"]
        assert check[:3] == ["CMD", "python", "-c"]  # python:3.11-slim has no curl or wget
        metrics_port = replica_env(service)["METRICS_PORT"]
        assert f"http://127.0.0.1:{metrics_port}/readyz" in check[3]
        compile(check[3], "healthcheck", "exec")


def test_the_grace_period_covers_a_clean_stop() -> None:
    # Stopping: the webhook drains (DRAIN_SECONDS), the broadcast engine waits for requests
    # in flight (request_timeout + 5, BroadcastEngine.stop), then PTB finishes the updates in
    # hand (a handler's requests time out after 5 s).
    needed = DRAIN_SECONDS + EngineConfig().request_timeout + 5 + 5
    for name, service in replicas(compose()["services"]).items():
        grace = seconds(service["stop_grace_period"])
        assert grace >= max(10.0, needed), f"{name}: {grace} s < {needed} s"
        assert service.get("stop_signal", "SIGTERM") == "SIGTERM"


def test_the_secrets_stay_out_of_git_and_the_image() -> None:
    assert "deploy/.env" in (PROJECT_ROOT / ".gitignore").read_text().split()
    assert "deploy" in (PROJECT_ROOT / ".dockerignore").read_text().split()


@pytest.mark.parametrize("variable", ["BOT_TOKEN", "WEBHOOK_SECRET", "POSTGRES_PASSWORD"])
def test_a_missing_secret_stops_compose(variable: str) -> None:
    example = env_example()
    del example[variable]
    services = compose()["services"]
    with pytest.raises(AssertionError, match=variable):
        for service in [*replicas(services).values(), services["postgres"]]:
            for value in (service.get("environment") or {}).values():
                interpolate(value, example)
