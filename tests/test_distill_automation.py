"""The user_profiles asset in Dagster, its backlog sensor, and the `profile` command."""

import argparse
from datetime import UTC, datetime, timedelta

import dagster as dg

from assets.ingestion import SignalIngestor
from assets.raw_signals import raw_signals
from assets.user_profiles import user_profiles, user_profiles_checks
from orchestration.distill_automation import distill_backlog_sensor, distill_job
from orchestration.profile_cli import register_cli
from tests.test_distill import DAY, ingest, make_distiller, mixed, signal


def test_materializing_a_day_runs_the_asset_and_its_checks(postgres):
    ingest(postgres, mixed(1, users=10, count=80))
    result = dg.materialize(
        [user_profiles, *user_profiles_checks],
        partition_key=DAY.isoformat(),
        resources={"distiller": make_distiller(postgres)},
    )
    assert result.success
    metadata = result.asset_materializations_for_node("user_profiles")[0].metadata
    assert metadata["signals_in"].value == 80 and metadata["profiles_updated"].value == 10
    evaluations = result.get_asset_check_evaluations()
    assert {e.check_name: e.passed for e in evaluations} == {
        "every_user_has_a_fresh_profile": True, "stored_profiles_validate": True,
        "llm_calls_within_bound": True, "no_injection_canary": True,
    }


def test_definitions_hold_the_distillation_pieces(postgres):
    defs = dg.Definitions(
        assets=[user_profiles],
        asset_checks=user_profiles_checks,
        jobs=[distill_job],
        sensors=[distill_backlog_sensor],
        resources={"distiller": make_distiller(postgres)},
    )
    job = defs.resolve_job_def("distill_job")
    assert job.partitions_def is not None
    assert defs.resolve_sensor_def("distill_backlog_sensor").job_name == "distill_job"
    assert user_profiles.asset_deps[user_profiles.key] == {raw_signals.key}


def test_the_backlog_sensor_asks_for_a_run_when_the_backlog_is_large_or_old(postgres):
    now = datetime.now(UTC)
    today = now.date()
    instance = dg.DagsterInstance.ephemeral()

    def evaluate(**overrides):
        resources = {"distiller": make_distiller(postgres, **overrides)}
        with dg.build_sensor_context(instance=instance, resources=resources) as context:
            return distill_backlog_sensor(context)

    assert isinstance(evaluate(), dg.SkipReason)
    arrived = max(now - timedelta(minutes=30), datetime(today.year, today.month, today.day, tzinfo=UTC))
    for offset in range(2):
        report = ingest_now(postgres, [signal(f"u_{i}", day=today) for i in range(5)], arrived + timedelta(seconds=offset))
        assert report.accepted == 5
    age = int((now - arrived).total_seconds() // 60)

    waiting = evaluate(backlog_signals=100, backlog_max_age_minutes=age + 10)
    by_size = evaluate(backlog_signals=10, backlog_max_age_minutes=age + 10)
    by_age = evaluate(backlog_signals=100, backlog_max_age_minutes=max(age - 1, 0))

    assert isinstance(waiting, dg.SkipReason) and "10 signals" in waiting.skip_message
    assert by_size.partition_key == today.isoformat() and by_size.tags["distillery/backlog_signals"] == "10"
    assert by_age.run_key == by_size.run_key
    make_distiller(postgres).distill_day(today)
    assert isinstance(evaluate(backlog_signals=1, backlog_max_age_minutes=0), dg.SkipReason)


def ingest_now(postgres, records, received_at):
    for record in records:
        record["occurred_at"] = (received_at - timedelta(seconds=5)).isoformat()
    return SignalIngestor(postgres=postgres).ingest_records(records, received_at=received_at)


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="distillery")
    register_cli(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args)


def test_the_profile_command_prints_a_profile_its_history_and_rolls_back(postgres, database_url, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DISTILLERY_HOME", str(tmp_path))
    distiller = make_distiller(postgres)
    for offset in range(2):
        day = DAY + timedelta(days=offset)
        ingest(postgres, [signal("u_7", "book", day=day, city="Porto", item="stay_0042", vibe="foodie")], day=day)
        distiller.distill_day(day)
    capsys.readouterr()

    assert run_cli(["profile", "u_7"]) == 0
    shown = capsys.readouterr().out
    assert "u_7 · version 2 · local" in shown and "cities      Porto 15.817" in shown and "booked      stay_0042" in shown

    assert run_cli(["profile", "u_7", "--history"]) == 0
    history = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in history] == ["v2", "v1"]

    assert run_cli(["profile", "u_7", "--rollback", "1"]) == 0
    assert "version 1 is current again as version 3" in capsys.readouterr().out
    assert run_cli(["profile", "u_7", "--json"]) == 0
    assert '"version": 3' in capsys.readouterr().out

    assert run_cli(["profile", "nobody"]) == 1
    assert "no profile for nobody" in capsys.readouterr().err
