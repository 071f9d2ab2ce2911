from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from assets.pipeline_health import HealthPolicy
from assets.profile_snapshot import profile_snapshot
from assets.retention import retention
from assets.signal_archive import signal_archive, signal_archive_checks
from orchestration.retention_sensors import (
    CAPACITY_ALERT,
    archive_jobs,
    build_capacity_sensor,
)
from resources.alerts import AlertSink
from resources.archive_store import ArchiveStore


@pytest.fixture(scope="module")
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def evaluate(sensor, postgres, instance, capacity_bytes: int, cursor=None):
    resources = {
        "postgres": postgres,
        "health_policy": HealthPolicy(capacity_bytes=capacity_bytes),
        "alerts": AlertSink(postgres=postgres),
    }
    with dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
        return sensor(context)


def open_alerts(postgres) -> list[str]:
    return [alert.alert_key for alert in AlertSink(postgres=postgres).open_alerts()]


def test_below_the_threshold_nothing_runs(postgres, instance):
    result = evaluate(build_capacity_sensor(), postgres, instance, capacity_bytes=100 * 1024**3)
    assert isinstance(result, dg.SkipReason) and "of capacity" in result.skip_message
    assert open_alerts(postgres) == []


def test_past_the_threshold_retention_runs_early_and_an_alert_opens_until_it_is_back_under(postgres, instance):
    sensor = build_capacity_sensor(minimum_hot_days=2)
    result = evaluate(sensor, postgres, instance, capacity_bytes=1024)

    [request] = result.run_requests
    config = request.run_config["ops"]["retention"]["config"]
    assert (config["hot_days"], config["minimum_hot_days"], config["trigger"]) == (2, 2, "capacity")
    assert config["database_bytes"] > 1024 and config["capacity_bytes"] == 1024
    assert request.tags["distillery/alert"] == CAPACITY_ALERT
    assert request.job_name in (None, "retention_job")
    assert datetime.fromisoformat(result.cursor) > datetime.now(UTC) - timedelta(minutes=1)
    assert open_alerts(postgres) == [CAPACITY_ALERT]

    again = evaluate(sensor, postgres, instance, capacity_bytes=1024, cursor=result.cursor)
    assert isinstance(again, dg.SkipReason) and "already ran" in again.skip_message
    later = evaluate(sensor, postgres, instance, capacity_bytes=1024, cursor=(datetime.now(UTC) - timedelta(hours=2)).isoformat())
    assert len(later.run_requests) == 1
    assert open_alerts(postgres) == [CAPACITY_ALERT]

    evaluate(sensor, postgres, instance, capacity_bytes=100 * 1024**3, cursor=result.cursor)
    assert open_alerts(postgres) == []


def test_the_definitions_load_with_every_archive_piece(postgres, tmp_path):
    sensor = build_capacity_sensor()
    defs = dg.Definitions(
        assets=[signal_archive, retention, profile_snapshot],
        asset_checks=signal_archive_checks,
        jobs=archive_jobs,
        sensors=[sensor],
        resources={
            "postgres": postgres,
            "archive_store": ArchiveStore(root=str(tmp_path)),
            "health_policy": HealthPolicy(),
            "alerts": AlertSink(postgres=postgres),
        },
    )
    dg.Definitions.validate_loadable(defs)
    assert {job.name for job in defs.resolve_all_job_defs()} >= {"signal_archive_job", "profile_snapshot_job", "retention_job"}
    assert defs.resolve_sensor_def("retention_capacity_sensor").job_name == "retention_job"
    checks = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    assert checks == {"archive_matches_partition", "archives_intact", "no_expired_day_held",
                      "database_within_capacity", "snapshot_matches_read"}
