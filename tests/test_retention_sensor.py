from datetime import UTC, datetime, timedelta

import dagster as dg

from assets.profile_snapshot import profile_snapshot
from assets.retention import retention
from assets.signal_archive import signal_archive, signal_archive_checks
from orchestration.retention_sensors import (
    archive_jobs,
    archive_schedules,
    build_capacity_sensor,
    signal_archive_schedule,
)
from resources.archive_store import ArchiveStore


def evaluate(sensor, postgres, cursor=None):
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"postgres": postgres})
        return sensor(context)


def test_below_the_threshold_nothing_runs(postgres):
    result = evaluate(build_capacity_sensor(capacity_bytes=100 * 1024**3), postgres)
    assert isinstance(result, dg.SkipReason) and "of capacity" in result.skip_message


def test_past_the_threshold_retention_runs_early_down_to_the_minimum_window(postgres):
    sensor = build_capacity_sensor(capacity_bytes=1024, minimum_hot_days=2)
    result = evaluate(sensor, postgres)

    [request] = result.run_requests
    config = request.run_config["ops"]["retention"]["config"]
    assert (config["hot_days"], config["minimum_hot_days"], config["trigger"]) == (2, 2, "capacity")
    assert config["database_bytes"] > 1024 and config["capacity_bytes"] == 1024
    assert request.tags["distillery/alert"] == "database_capacity"
    assert request.job_name in (None, "retention_job")
    assert datetime.fromisoformat(result.cursor) > datetime.now(UTC) - timedelta(minutes=1)

    again = evaluate(sensor, postgres, cursor=result.cursor)
    assert isinstance(again, dg.SkipReason) and "already ran" in again.skip_message
    later = evaluate(sensor, postgres, cursor=(datetime.now(UTC) - timedelta(hours=2)).isoformat())
    assert len(later.run_requests) == 1


def test_the_archive_schedule_asks_for_yesterday():
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2025, 3, 2, 0, 30, tzinfo=UTC))
    request = signal_archive_schedule(context)
    assert request.partition_key == "2025-03-01"


def test_the_definitions_load_with_every_archive_piece(postgres, tmp_path):
    sensor = build_capacity_sensor(capacity_bytes=10 * 1024**3)
    defs = dg.Definitions(
        assets=[signal_archive, retention, profile_snapshot],
        asset_checks=signal_archive_checks,
        jobs=archive_jobs,
        schedules=archive_schedules,
        sensors=[sensor],
        resources={"postgres": postgres, "archive_store": ArchiveStore(root=str(tmp_path))},
    )
    dg.Definitions.validate_loadable(defs)
    assert {job.name for job in defs.resolve_all_job_defs()} >= {"signal_archive_job", "profile_snapshot_job", "retention_job"}
    assert defs.resolve_sensor_def("retention_capacity_sensor").job_name == "retention_job"
    checks = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    assert checks == {"archive_matches_partition", "archives_intact", "no_expired_day_held",
                      "database_within_capacity", "snapshot_matches_read"}
