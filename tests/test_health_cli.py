import argparse
import json
from datetime import UTC, datetime, timedelta

import pytest

from orchestration import health_cli
from resources.alerts import AlertSink


def health(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    health_cli.register_cli(parser.add_subparsers())
    args = parser.parse_args(["health", *argv])
    return args.handler(args)


@pytest.fixture
def environment(monkeypatch, database_url, tmp_path):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DISTILLERY_HOME", str(tmp_path))
    for name in ("DISTILLERY_DATABASE_CAPACITY", "DISTILLERY_ALERT_WEBHOOK_URL", "DISTILLERY_LANDING_DIR", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_a_healthy_pipeline_prints_green_and_exits_zero(environment, capsys):
    assert health() == 0
    out = capsys.readouterr().out
    assert "✔ database size" in out and "✔ semantic cache" in out and "✔ archive backlog" in out
    assert "largest tables" in out and "no open alerts" in out
    assert out.rstrip().endswith("GREEN: 0 in error, 0 warning, 0 open alerts")


def test_a_red_check_prints_red_and_exits_non_zero(environment, capsys):
    environment.setenv("DISTILLERY_DATABASE_CAPACITY", "1MB")
    assert health() == health_cli.EXIT_RED
    out = capsys.readouterr().out
    assert "✖ database size" in out and "of 1.0 MB" in out
    assert "RED: 1 in error, 0 warning, 0 open alerts" in out


def test_warnings_stay_zero_unless_strict(environment, capsys, tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    waiting_since = datetime.now(UTC) - timedelta(minutes=45)
    (landing / f"batch-{waiting_since:%Y%m%dT%H%M%S}Z-000001.ndjson").write_text("{}\n")
    environment.setenv("DISTILLERY_LANDING_DIR", str(landing))
    assert health() == 0
    out = capsys.readouterr().out
    assert "▲ landing backlog" in out and "1 files waiting" in out and "YELLOW" in out
    assert health("--strict") == health_cli.EXIT_RED


def test_an_open_run_failure_alert_makes_it_red_and_json_carries_everything(environment, capsys, postgres):
    AlertSink(postgres=postgres).raise_alert(
        "run_failure:nightly_job:2026-11-20", "run_failure", "error", "run of nightly_job for 2026-11-20 failed"
    )
    assert health("--json") == health_cli.EXIT_RED
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "error"
    assert {check["check"] for check in report["checks"]} >= {"database_size_under_capacity", "processing_lag_under_threshold"}
    assert report["open_alerts"][0]["summary"] == "run of nightly_job for 2026-11-20 failed"
    assert all(check["status"] in ("ok", "not_built") for check in report["checks"])
