"""docker-compose.yml cannot run here (no Docker engine), so it is checked by parsing: every
service runs a command the CLI has, every stage is a service that scales, every service has
a health check, and every key and password is a compose secret file, never an environment
value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.main import get_command

from services.cli.main import COMMANDS, GROUPS, app
from services.cli.secret_files import secret_values
from services.runtime.process import STAGES
from shared.config import Settings
from shared.messaging.routes import SIGNING_STAGES
from shared.security.secret_names import is_secret_name

ROOT = Path(__file__).resolve().parent.parent
#: Services that are not b2bpay's own processes.
INFRASTRUCTURE = {"redis", "postgres", "rabbitmq"}
#: The settings that hold a key or a password: never in an environment.
SECRET_SETTINGS = {
    f"B2BPAY_{name.upper()}"
    for name, field in Settings.model_fields.items()
    if "SecretStr" in str(field.annotation)
} | {"B2BPAY_DATABASE_URL", "B2BPAY_AMQP_URL", "B2BPAY_REDIS_PASSWORD"}


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def _b2bpay_services() -> dict[str, Any]:
    return {k: v for k, v in _compose()["services"].items() if k not in INFRASTRUCTURE}


def _secrets_of(service: dict[str, Any]) -> set[str]:
    """The top-level secret names a service mounts (short or long syntax)."""
    return {s if isinstance(s, str) else s["source"] for s in service.get("secrets", [])}


def test_every_stage_is_a_service_running_that_real_stage() -> None:
    services = _compose()["services"]
    for stage in STAGES:
        command = services[stage]["command"]
        assert command[:2] == ["worker", stage]
        assert set(command[2:]) <= {"--threads", "4"}


def test_every_b2bpay_service_runs_a_command_the_cli_has() -> None:
    cli = get_command(app)
    for name, service in _b2bpay_services().items():
        command = service["command"]
        assert command[0] in COMMANDS or command[0] in GROUPS, name
        # The command the CLI builds for it, as `b2bpay <command>` would.
        assert cli.get_command(None, command[0]) is not None, name  # type: ignore[attr-defined]
        if command[0] == "worker":
            stages = [a for a in command[1:] if not a.startswith("--") and not a.isdigit()]
            assert stages and set(stages) <= set(STAGES), name
        else:
            assert command[0] == "serve", name
    healthcheck = _compose()["x-b2bpay"]["healthcheck"]["test"]
    assert healthcheck[1] == "b2bpay" and healthcheck[2] in COMMANDS


def test_stages_scale_with_no_container_name_nor_host_port() -> None:
    services = _compose()["services"]
    for stage in STAGES:
        assert "container_name" not in services[stage], stage
        assert "ports" not in services[stage], stage


def test_every_service_has_a_health_check() -> None:
    for name, service in _compose()["services"].items():
        assert service["healthcheck"]["test"], name
    serve = _compose()["services"]["serve"]["healthcheck"]["test"]
    assert any("/readyz" in part for part in serve)


def test_every_secret_a_service_mounts_is_a_top_level_secret_file_that_admin_secrets_writes() -> (
    None
):
    top = _compose()["secrets"]
    written = set(secret_values())
    for name, service in _compose()["services"].items():
        assert _secrets_of(service) <= set(top), name
    for secret in top.values():
        assert secret["file"].startswith("./secrets/")
        assert secret["file"].removeprefix("./secrets/") in written


def test_no_key_or_password_is_an_environment_value() -> None:
    for name, service in _compose()["services"].items():
        for variable, value in (service.get("environment") or {}).items():
            assert variable not in SECRET_SETTINGS, (name, variable)
            if variable in {"B2BPAY_SECRETS_DIR", "POSTGRES_PASSWORD_FILE"}:
                # Where the secrets are, not what they are.
                assert str(value).startswith("/run/secrets"), (name, variable)
                continue
            assert not is_secret_name(variable), (name, variable)
            assert "@" not in str(value), (name, variable)  # no credentials in a URL


def test_b2bpay_services_read_their_settings_from_the_secrets_folder() -> None:
    for name, service in _b2bpay_services().items():
        assert service["environment"]["B2BPAY_SECRETS_DIR"] == "/run/secrets", name
        assert service["environment"]["B2BPAY_REDIS_URL"] == "redis://redis:6379/0", name
        assert service["stop_grace_period"], name


@pytest.mark.parametrize("stage", [str(s) for s in STAGES])
def test_each_stage_gets_only_the_keys_it_uses_and_only_its_own_private_key(stage: str) -> None:
    mounted = _secrets_of(_compose()["services"][stage])
    private = {s for s in mounted if s.startswith("B2BPAY_SIGNING_KEY_")}
    expected = {f"B2BPAY_SIGNING_KEY_{stage.upper()}"} if stage in SIGNING_STAGES else set()
    assert private == expected
    needs = {
        "apply": {"B2BPAY_SESSION_SECRET", "B2BPAY_TOTP_KEYS", "B2BPAY_SIGNING_PUBLIC_KEYS"},
        "review": {"B2BPAY_SESSION_SECRET", "B2BPAY_TOTP_KEYS", "B2BPAY_SIGNING_PUBLIC_KEYS"},
        "authorize": {"B2BPAY_SESSION_SECRET", "B2BPAY_TOTP_KEYS", "B2BPAY_SIGNING_PUBLIC_KEYS"},
        "interbank": {"B2BPAY_SIGNING_PUBLIC_KEYS"},
        "query": {"B2BPAY_DATABASE_URL"},
        "sweeper": set(),
        "audit": {"B2BPAY_AUDIT_KEYS"},
        "webhooks": {"B2BPAY_TOTP_KEYS"},
        "relay": {"B2BPAY_AMQP_URL"},
        "intake": {"B2BPAY_AMQP_URL", "B2BPAY_TOTP_KEYS"},
    }
    assert mounted - private == needs[stage]


def test_compose_redis_is_durable_with_an_fsynced_append_only_file() -> None:
    redis = _compose()["services"]["redis"]
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--appendfsync") + 1] in {"always", "everysec"}
    assert any(v.endswith(":/data") for v in redis["volumes"])


def test_the_infrastructure_takes_its_passwords_from_secret_files() -> None:
    services = _compose()["services"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"] == (
        "/run/secrets/postgres_password"
    )
    (conf,) = services["rabbitmq"]["secrets"]
    assert conf["target"].startswith("/etc/rabbitmq/conf.d/")


def test_the_ci_script_runs_the_readme_test_command() -> None:
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
