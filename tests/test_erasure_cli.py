"""`distillery erase`, the salt's configuration, and the erasure job with its schedule in Dagster."""

import argparse
import stat
from datetime import UTC, datetime

import dagster as dg
import pytest

from assets.erasure import (
    ERASED_USERS_LEAVE_NO_ROWS,
    NO_ERASED_USER_IN_LIVE_STORES,
    OTHER_USERS_ROWS_KEPT,
    REQUESTS_WITHIN_CYCLE,
    erasure_checks,
    erasure_log,
)
from assets.ingestion import SignalIngestor
from orchestration import erasure_cli
from orchestration.erasure_automation import erasure_job, erasure_schedule
from resources.archive_store import ArchiveStore
from resources.erasure import SALT_FILE, ErasurePolicy, resolve_salt
from tests.test_erasure import DAYS, SALT, USERS, received, signal

RUN_AT = datetime(2026, 3, 4, 1, 30, tzinfo=UTC)


def erase(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    erasure_cli.register_cli(parser.add_subparsers())
    args = parser.parse_args(["erase", *argv])
    return args.handler(args)


@pytest.fixture
def environment(monkeypatch, database_url, tmp_path):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DISTILLERY_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DISTILLERY_ARCHIVE_ROOT", str(tmp_path / "archive"))
    monkeypatch.setenv("DISTILLERY_ERASURE_SALT", SALT)
    return monkeypatch


def test_erase_now_then_status_reports_by_hashed_id(environment, postgres, capsys):
    ingestor = SignalIngestor(postgres=postgres, erasure_salt=SALT)
    ingestor.ingest_records([signal(user, DAYS[0], n) for n in range(3) for user in USERS], received_at=received(DAYS[0]))

    assert erase("u_03", "ghost-never-seen", "--now", "--by", "privacy desk") == 0
    out = capsys.readouterr().out
    assert "2 queued for erasure" in out
    assert "2 of 2 requests completed (1 ids were in no store), 3 rows removed" in out

    assert erase("u_04") == 0
    assert "the nightly erasure_job carries them out" in capsys.readouterr().out
    assert erase("u_04") == 0
    assert "1 already pending: u_04" in capsys.readouterr().out

    assert erase("--status") == 0
    overview = capsys.readouterr().out
    assert overview.startswith("1 pending erasure requests, the oldest received 0.0 h ago")
    assert "unknown id: found in no store" in overview and 'removed {"raw_signals": 3}' in overview
    assert "u_03" not in overview and "ghost" not in overview

    assert erase("--status", "u_03", "u_04", "u_05") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("u_03: erased on ") and lines[0].endswith('removed {"raw_signals": 3}')
    assert lines[1].startswith("u_04: pending since ") and lines[2] == "u_05: not requested"


def test_erase_without_ids_is_a_usage_error(environment, capsys):
    assert erase() == 2
    assert "give the user ids to erase" in capsys.readouterr().err


def test_a_changed_salt_is_refused_with_a_clear_message(environment, capsys):
    assert erase("u_03") == 0
    environment.setenv("DISTILLERY_ERASURE_SALT", "a-different-salt-0000000000")
    assert erase("u_04") == 1
    assert "not the one the tombstones were made with" in capsys.readouterr().err


def test_without_a_configured_salt_one_is_made_once_and_kept_private(tmp_path):
    salt = resolve_salt(tmp_path, None)
    assert len(salt) == 64 and resolve_salt(tmp_path, None) == salt
    assert stat.S_IMODE((tmp_path / SALT_FILE).stat().st_mode) == 0o600
    assert resolve_salt(tmp_path, "configured-salt-123456") == "configured-salt-123456"
    ErasurePolicy(salt=salt)
    with pytest.raises(ValueError):
        ErasurePolicy(salt="short")


def test_the_nightly_job_runs_the_asset_and_every_check(postgres, tmp_path):
    resources = {
        "postgres": postgres,
        "archive_store": ArchiveStore(root=str(tmp_path / "archive")),
        "erasure": ErasurePolicy(salt=SALT),
    }
    defs = dg.Definitions(
        assets=[erasure_log], asset_checks=erasure_checks, jobs=[erasure_job], schedules=[erasure_schedule], resources=resources,
    )
    resources["erasure"].request(postgres, ["u_03"])

    result = defs.resolve_job_def("erasure_job").execute_in_process(instance=dg.DagsterInstance.ephemeral())

    evaluations = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert evaluations == {
        ERASED_USERS_LEAVE_NO_ROWS: True, OTHER_USERS_ROWS_KEPT: True,
        NO_ERASED_USER_IN_LIVE_STORES: True, REQUESTS_WITHIN_CYCLE: True,
    }
    assert erasure_schedule.cron_schedule == "30 1 * * *"
    with dg.build_schedule_context(scheduled_execution_time=RUN_AT) as context:
        assert len(erasure_schedule.evaluate_tick(context).run_requests) == 1
    assert erasure_schedule.job_name == "erasure_job"
