"""deploy/prometheus/prometheus.yml: scrapes every worker service and the API, and loads the
alert rules beside it."""

from __future__ import annotations

from pathlib import Path

import yaml

from services.runtime.process import STAGES

HERE = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


def test_the_scrape_config_covers_every_worker_service_and_the_api() -> None:
    config = yaml.safe_load((HERE / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    assert (HERE / "alerts.yml").is_file()
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    (discovery,) = jobs["b2bpay-workers"]["dns_sd_configs"]
    assert set(discovery["names"]) == {str(stage) for stage in STAGES}
    assert discovery["port"] == 9100
    assert jobs["b2bpay-api"]["metrics_path"] == "/metrics"
