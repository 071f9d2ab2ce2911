from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from assets.ingestion import SignalIngestor
from assets.pipeline_health import (
    ARCHIVE_BACKLOG,
    CACHE_HIT_RATE,
    DATABASE_SIZE,
    INGESTION_ACCEPTING,
    LANDING_BACKLOG,
    PROCESSING_LAG,
    HealthPolicy,
    measure_health,
    pipeline_health,
)
from orchestration.definitions import build_definitions
from orchestration.ops_sensors import (
    parse_bytes,
    pipeline_health_schedule,
)
from orchestration.settings import Settings
from resources.alerts import AlertSink
from resources.landing import LandingStore
from tests.archive_support import fill_day

NOW = datetime.now(UTC)


@pytest.fixture
def resources(postgres, tmp_path):
    return {
        "postgres": postgres,
        "landing": LandingStore(root=str(tmp_path / "landing")),
        "ingestor": SignalIngestor(postgres=postgres),
        "health_policy": HealthPolicy(),
        "alerts": AlertSink(postgres=postgres),
    }


def measure(resources, now=NOW, **policy):
    return measure_health(
        resources["postgres"], resources["landing"], resources["ingestor"], HealthPolicy(**policy), now=now
    )


def add_batch(postgres, received_at: datetime, accepted: int = 100, rejected: int = 0) -> int:
    with postgres.connection() as conn:
        return conn.execute(
            "INSERT INTO ingest_batches (source, received_at, rows_in, accepted, duplicates, rejected, seconds) "
            "VALUES ('test', %s, %s, %s, 0, %s, 0.1) RETURNING batch_id",
            (received_at, accepted + rejected, accepted, rejected),
        ).fetchone()[0]


def sql(postgres, query: str, params=None):
    with postgres.connection() as conn:
        conn.execute(query, params)


def test_a_healthy_database_passes_every_check_and_every_figure_is_numeric_metadata(resources, postgres):
    fill_day(postgres, NOW.date(), rows=5_000)
    result = dg.materialize([pipeline_health], resources=resources)
    assert result.success
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert set(checks) == {DATABASE_SIZE, PROCESSING_LAG, INGESTION_ACCEPTING, LANDING_BACKLOG, ARCHIVE_BACKLOG, CACHE_HIT_RATE}
    assert all(check.passed for check in checks.values())
    metadata = result.asset_materializations_for_node("pipeline_health")[0].metadata
    for name in ("database_bytes", "capacity_share", "processing_lag_minutes", "undistilled_signals", "reject_rate",
                 "breaker_open", "landing_files", "landing_oldest_minutes", "unarchived_days", "raw_signals_bytes",
                 "raw_signals_index_bytes", "alerts_raised", "seconds"):
        assert isinstance(metadata[name], dg.IntMetadataValue | dg.FloatMetadataValue), name
    assert metadata["database_bytes"].value > 1_000_000
    assert "| raw_signals |" in metadata["largest_tables"].value
    sql(postgres, "ANALYZE raw_signals")
    assert next(t for t in measure(resources).tables if t.table_name == "raw_signals").rows_estimate == 5_000


def test_database_size_warns_at_75_percent_and_errors_at_90(resources):
    size = measure(resources).finding(DATABASE_SIZE).figures["database_bytes"]
    warning = measure(resources, capacity_bytes=int(size / 0.8)).finding(DATABASE_SIZE)
    assert warning.status == "warning" and warning.figures["capacity_share"] == pytest.approx(0.8, abs=0.01)
    error = measure(resources, capacity_bytes=size).finding(DATABASE_SIZE)
    assert error.status == "error" and not error.check_result().passed
    assert error.check_result().severity == dg.AssetCheckSeverity.ERROR
    assert measure(resources, capacity_bytes=size * 2).finding(DATABASE_SIZE).status == "ok"


def test_processing_lag_is_the_age_of_the_oldest_signal_past_its_days_watermark(resources, postgres):
    noon = NOW.replace(hour=12, minute=0, second=0, microsecond=0)
    first = add_batch(postgres, noon - timedelta(hours=2), accepted=300)
    add_batch(postgres, noon - timedelta(minutes=10), accepted=50)
    add_batch(postgres, noon - timedelta(minutes=5), accepted=0, rejected=7)  # nothing stored, nothing to distill
    lag = measure(resources, now=noon).finding(PROCESSING_LAG)
    assert lag.status == "warning" and not lag.check_result().passed
    assert lag.figures["processing_lag_minutes"] == pytest.approx(120)
    assert lag.figures["undistilled_signals"] == 350

    # Every shard of the day has merged the first batch: only the later one waits.
    sql(postgres, "INSERT INTO distill_watermarks (day, shard, shards, batch_id) VALUES (%s, 0, 2, %s), (%s, 1, 2, %s)",
        (noon.date(), first, noon.date(), first))
    later = measure(resources, now=noon).finding(PROCESSING_LAG)
    assert later.status == "ok" and later.figures["undistilled_signals"] == 50
    assert later.figures["processing_lag_minutes"] == pytest.approx(10)

    # One shard behind is enough to keep the batch waiting.
    sql(postgres, "UPDATE distill_watermarks SET batch_id = 0 WHERE shard = 1")
    assert measure(resources, now=noon).finding(PROCESSING_LAG).figures["undistilled_signals"] == 350

    add_batch(postgres, noon - timedelta(hours=40))
    assert measure(resources, now=noon).finding(PROCESSING_LAG).status == "error"


def test_an_open_circuit_breaker_is_an_error_and_a_high_reject_rate_a_warning(resources, postgres):
    add_batch(postgres, NOW, accepted=90, rejected=10)
    high = measure(resources).finding(INGESTION_ACCEPTING)
    assert high.status == "warning" and high.figures["reject_rate"] == pytest.approx(0.1)

    sql(postgres, "UPDATE ingestion_state SET breaker_open = true, opened_at = now(), reason = '12% invalid'")
    opened = measure(resources).finding(INGESTION_ACCEPTING)
    assert opened.status == "error" and "OPEN" in opened.summary and "12% invalid" in opened.summary
    assert opened.figures["breaker_open"] == 1

    resources["ingestor"].reset_breaker(reset_by="test")
    assert measure(resources).finding(INGESTION_ACCEPTING).status == "ok"


def test_landing_backlog_grades_the_oldest_waiting_file_and_the_count(resources, tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / f"batch-{NOW - timedelta(minutes=45):%Y%m%dT%H%M%S}Z-000001.ndjson").write_text("{}\n")
    (landing / ".batch-in-flight.ndjson").write_text("")  # still being written: not waiting yet
    backlog = measure(resources).finding(LANDING_BACKLOG)
    assert backlog.status == "warning" and backlog.figures["landing_files"] == 1
    assert backlog.figures["landing_oldest_minutes"] == pytest.approx(45, abs=1)

    (landing / f"batch-{NOW - timedelta(hours=7):%Y%m%dT%H%M%S}Z-000002.ndjson").write_text("{}\n")
    assert measure(resources).finding(LANDING_BACKLOG).status == "error"

    for path in landing.glob("batch-*"):
        path.unlink()
    for number in range(3):
        (landing / f"batch-{NOW:%Y%m%dT%H%M%S}Z-00000{number}.ndjson").write_text("{}\n")
    assert measure(resources, landing_warn_files=2).finding(LANDING_BACKLOG).status == "warning"
    assert measure(resources).finding(LANDING_BACKLOG).status == "ok"


def test_archive_backlog_counts_closed_days_without_a_verified_archive(resources, postgres):
    today = NOW.date()
    days = [today - timedelta(days=n) for n in (3, 2, 1)]
    for day in [*days, today]:
        sql(postgres, "SELECT ensure_raw_signals_partition(%s)", (day,))
    backlog = measure(resources, archive_grace_hours=0).finding(ARCHIVE_BACKLOG)
    assert backlog.status == "error" and backlog.figures["unarchived_days"] == 3  # today is still open
    assert backlog.figures["oldest_unarchived_day"] == days[0].isoformat()

    for day in days[:2]:
        sql(postgres, "INSERT INTO archive_manifest (day, uri, rows, bytes, checksum, schema_version, verified_at) "
                      "VALUES (%s, 'file:///a', 0, 0, '0', 1, now())", (day,))
    sql(postgres, "INSERT INTO archive_manifest (day, uri, rows, bytes, checksum, schema_version) "
                  "VALUES (%s, 'file:///b', 0, 0, '0', 1)", (days[2],))  # written but not verified
    one_left = measure(resources, archive_grace_hours=0).finding(ARCHIVE_BACKLOG)
    assert one_left.status == "warning" and one_left.figures["unarchived_days"] == 1
    # Within the grace period after midnight, yesterday is not overdue yet.
    assert measure(resources, archive_grace_hours=NOW.hour + 1).finding(ARCHIVE_BACKLOG).status == "ok"


def test_the_cache_hit_rate_warns_under_target(resources, postgres):
    # 140 of 200 requests served from the cache (exact, near or shared), 60 misses; generations are not requests.
    sql(postgres, "INSERT INTO semantic_cache_ledger (at, event, kind, segment_key) "
                  "SELECT now() - interval '1 hour', CASE WHEN n % 10 < 7 THEN (ARRAY['hit', 'near_hit', 'shared'])[1 + n % 3] ELSE 'miss' END, "
                  "'ideas', 's' "
                  "FROM generate_series(0, 199) AS n")
    sql(postgres, "INSERT INTO semantic_cache_ledger (event, kind, segment_key) SELECT 'generation', 'ideas', 's' FROM generate_series(1, 50)")
    sql(postgres, "INSERT INTO semantic_cache_ledger (at, event, kind, segment_key) VALUES (now() - interval '2 days', 'miss', 'ideas', 's')")
    low = measure(resources).finding(CACHE_HIT_RATE)
    assert low.status == "warning" and low.figures["cache_lookups"] == 200
    assert low.figures["cache_hit_rate"] == pytest.approx(0.7)
    assert measure(resources, cache_hit_rate_target=0.6).finding(CACHE_HIT_RATE).status == "ok"
    too_few = measure(resources, cache_min_lookups=500).finding(CACHE_HIT_RATE)
    assert too_few.status == "ok" and "too few to judge" in too_few.summary


def test_parts_of_the_lifecycle_not_built_yet_are_reported_as_such_not_failed(resources, postgres):
    sql(postgres, "DROP TABLE archive_manifest, semantic_cache_ledger CASCADE")
    result = dg.materialize([pipeline_health], resources=resources)
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    for name in (ARCHIVE_BACKLOG, CACHE_HIT_RATE):
        assert checks[name].passed and checks[name].metadata["status"].value == "not_built"
        assert "not yet built" in checks[name].description


def test_failing_checks_raise_one_alert_each_and_recovery_resolves_it(resources, postgres):
    resources["health_policy"] = HealthPolicy(capacity_bytes=1024)
    first = dg.materialize([pipeline_health], resources=resources)
    checks = {c.check_name: c for c in first.get_asset_check_evaluations()}
    assert not checks[DATABASE_SIZE].passed and checks[DATABASE_SIZE].severity == dg.AssetCheckSeverity.ERROR
    again = dg.materialize([pipeline_health], resources=resources)
    assert again.asset_materializations_for_node("pipeline_health")[0].metadata["alerts_raised"].value == 0
    alerts = resources["alerts"].open_alerts()
    assert [a.alert_key for a in alerts] == [f"health:{DATABASE_SIZE}:error"]
    assert alerts[0].severity == "error" and alerts[0].details["check"] == DATABASE_SIZE

    resources["health_policy"] = HealthPolicy()
    dg.materialize([pipeline_health], resources=resources)
    assert resources["alerts"].open_alerts() == []


@pytest.mark.parametrize(("text", "size"), [("8GB", 8 * 1024**3), ("500 MB", 500 * 1024**2), ("1.5TiB", int(1.5 * 1024**4)), ("4096", 4096)])
def test_capacity_sizes_read_like_people_write_them(text, size):
    assert parse_bytes(text) == size


def test_a_capacity_that_is_not_a_size_is_a_clear_error():
    with pytest.raises(ValueError, match="not a size"):
        parse_bytes("lots")


def test_the_operations_definitions_load_beside_the_lifecycles(tmp_path):
    defs = build_definitions(Settings.from_env({"DISTILLERY_HOME": str(tmp_path)}))
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    assert {key.name for key in graph.asset_check_keys if key.asset_key.to_user_string() == "pipeline_health"} == {
        DATABASE_SIZE, PROCESSING_LAG, INGESTION_ACCEPTING, LANDING_BACKLOG, ARCHIVE_BACKLOG, CACHE_HIT_RATE,
    }
    assert {s.name for s in defs.sensors} >= {"run_failure_alert_sensor", "run_success_resolve_sensor", "pipeline_health_after_runs_sensor"}
    assert pipeline_health_schedule.cron_schedule == "*/15 * * * *"
    assert pipeline_health_schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert len(pipeline_health_schedule.evaluate_tick(dg.build_schedule_context(scheduled_execution_time=NOW)).run_requests) == 1
    job = defs.resolve_job_def("pipeline_health_job")
    assert {key.to_user_string() for key in job.asset_layer.selected_asset_keys} == {"pipeline_health"}
