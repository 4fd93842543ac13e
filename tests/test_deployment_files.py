"""docker-compose.yml cannot run here (no Docker engine), so it is checked by parsing."""

from __future__ import annotations

from pathlib import Path

import yaml

from services.cli.worker import STAGES

ROOT = Path(__file__).resolve().parent.parent


def _compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_runs_each_stage_as_its_own_service_with_a_known_stage_name() -> None:
    services = _compose()["services"]
    for stage in STAGES:
        command = services[stage]["command"]
        assert command[:2] == ["worker", stage]
        assert set(command[1:]) - {"--threads", "4"} <= set(STAGES)


def test_compose_workers_share_redis_and_take_the_session_secret_from_the_environment() -> None:
    services = _compose()["services"]
    for stage in STAGES:
        env = services[stage]["environment"]
        assert env["B2BPAY_REDIS_URL"] == "redis://redis:6379/0"
        assert env["B2BPAY_SESSION_SECRET"].startswith("${B2BPAY_SESSION_SECRET:?")
        assert services[stage]["stop_grace_period"]


def test_compose_redis_is_durable_with_an_fsynced_append_only_file() -> None:
    command = _compose()["services"]["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--appendfsync") + 1] in {"always", "everysec"}
    assert any(v.endswith(":/data") for v in _compose()["services"]["redis"]["volumes"])


def test_the_ci_script_runs_the_readme_test_command() -> None:
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme


def test_compose_gives_each_signing_stage_only_its_own_private_key() -> None:
    services = _compose()["services"]
    for stage in ("apply", "review", "authorize", "interbank", "query", "sweeper", "audit"):
        env = services[stage]["environment"]
        assert env["B2BPAY_SIGNING_PUBLIC_KEYS"].startswith("${B2BPAY_SIGNING_PUBLIC_KEYS:?")
        private = {k for k in env if k.startswith("B2BPAY_SIGNING_KEY_")}
        expected = (
            {f"B2BPAY_SIGNING_KEY_{stage.upper()}"}
            if stage in ("apply", "review", "authorize")
            else set()
        )
        assert private == expected, stage
