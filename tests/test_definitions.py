import dagster as dg

from orchestration.definitions import build_definitions
from orchestration.settings import Settings

EXPECTED_ASSETS = {"raw_signals"}
EXPECTED_CHECKS = {
    ("raw_signals", "no_rows_outside_partition_day"),
    ("raw_signals", "no_duplicate_event_ids"),
    ("raw_signals", "reject_rate_under_threshold"),
}
EXPECTED_JOBS = {"ingest_job"}
EXPECTED_SENSORS = {"landing_sensor"}
EXPECTED_SCHEDULES: set[str] = set()


def test_definitions_hold_every_asset_check_job_schedule_and_sensor(tmp_path):
    defs = build_definitions(Settings.from_env({"DISTILLERY_HOME": str(tmp_path)}))
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    assert {key.to_user_string() for key in graph.get_all_asset_keys()} == EXPECTED_ASSETS
    assert {(key.asset_key.to_user_string(), key.name) for key in graph.asset_check_keys} == EXPECTED_CHECKS
    assert {job.name for job in defs.resolve_all_job_defs()} - {"__ASSET_JOB"} == EXPECTED_JOBS
    assert {sensor.name for sensor in defs.sensors or []} == EXPECTED_SENSORS
    assert {schedule.name for schedule in defs.schedules or []} == EXPECTED_SCHEDULES


def test_settings_come_from_the_environment_only_when_asked(tmp_path):
    settings = Settings.from_env({
        "DISTILLERY_HOME": str(tmp_path),
        "DATABASE_URL": "postgresql://db.example/distillery",
        "DISTILLERY_MAX_SIGNALS_PER_USER_PER_DAY": "5000",
    })
    resources = build_definitions(settings).resources
    assert resources["postgres"].database_url == "postgresql://db.example/distillery"
    assert resources["ingestor"].max_signals_per_user_per_day == 5000
    assert resources["landing"].root == str(tmp_path / "landing")
