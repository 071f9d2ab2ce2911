import json
import uuid
from datetime import UTC, date, datetime

import dagster as dg
import pytest

from assets.ingestion import SignalIngestor
from assets.raw_signals import (
    NO_DUPLICATE_EVENT_IDS,
    NO_ROWS_OUTSIDE_DAY,
    REJECT_RATE_UNDER_THRESHOLD,
    check_no_duplicate_event_ids,
    check_no_rows_outside_day,
    check_reject_rate,
    raw_signals,
    raw_signals_checks,
)
from orchestration.sensors import landing_sensor
from resources.landing import LandingStore

DAY = date(2026, 11, 20)


def batch_file(folder, stamp: str, rows: int, bad: int = 0, user: str = "u_1"):
    lines = [
        json.dumps({
            "event_id": str(uuid.uuid4()), "user_id": user, "event_type": "click",
            "occurred_at": f"{DAY}T08:00:00Z", "props": {"city": "Oslo"},
        })
        for _ in range(rows)
    ] + ["{broken"] * bad
    path = folder / f"batch-{stamp}-000001.ndjson"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def resources(postgres, tmp_path):
    return {
        "postgres": postgres,
        "ingestor": SignalIngestor(postgres=postgres, breaker_min_rows=100_000),
        "landing": LandingStore(root=str(tmp_path / "landing")),
    }


def materialize_day(resources, day=DAY):
    return dg.materialize(
        [raw_signals, *raw_signals_checks], partition_key=day.isoformat(), resources=resources, raise_on_error=False
    )


def test_materializing_a_day_ingests_its_landing_files_and_reports_the_story(resources, tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    batch_file(landing, "20261120T080000Z", rows=300, bad=3)
    batch_file(landing, "20261120T080045Z", rows=200)
    other_day = batch_file(landing, "20261121T000010Z", rows=50)

    result = materialize_day(resources)

    assert result.success
    metadata = result.asset_materializations_for_node("raw_signals")[0].metadata
    assert metadata["rows_stored"].value == 500
    assert metadata["rows_rejected"].value == 3
    assert metadata["rejects_by_reason"].value == {"malformed_json": 3}
    assert metadata["partition_signals"].value == 500
    assert metadata["circuit_breaker"].value == "closed"
    assert sorted(p.name for p in (landing / "processed" / "2026-11-20").iterdir()) == [
        "batch-20261120T080000Z-000001.ndjson", "batch-20261120T080045Z-000001.ndjson"
    ]
    assert other_day.exists()  # another day's file waits for its own partition
    evaluations = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert evaluations == {NO_ROWS_OUTSIDE_DAY: True, NO_DUPLICATE_EVENT_IDS: True, REJECT_RATE_UNDER_THRESHOLD: True}

    rerun = materialize_day(resources)
    assert rerun.success
    assert rerun.asset_materializations_for_node("raw_signals")[0].metadata["partition_signals"].value == 500


def test_check_fails_when_a_partition_holds_rows_of_another_day(postgres):
    with postgres.connection() as conn:
        # A partition made by hand with bounds two days wide, holding a row of the next day.
        conn.execute(
            "CREATE TABLE raw_signals_20261120 PARTITION OF raw_signals "
            "FOR VALUES FROM ('2026-11-20 00:00+00') TO ('2026-11-22 00:00+00')"
        )
        conn.execute(
            "INSERT INTO raw_signals (event_id, user_id, event_type, occurred_at, received_at, batch_id) "
            "VALUES (gen_random_uuid(), 'u', 'view', '2026-11-21 10:00+00', '2026-11-21 10:00+00', 0)"
        )
    result = check_no_rows_outside_day(postgres, DAY)
    assert not result.passed
    assert result.metadata["rows_outside_day"].value == 1


def test_check_fails_on_duplicate_event_ids_within_and_across_days(resources, postgres):
    resources["ingestor"].ingest_records(
        [{"event_id": str(uuid.uuid4()), "user_id": "u", "event_type": "view", "occurred_at": f"{DAY}T01:00:00Z"}],
        received_at=datetime(2026, 11, 20, 2, tzinfo=UTC),
    )
    assert check_no_duplicate_event_ids(postgres, DAY).passed
    with postgres.connection() as conn:
        # A writer that bypasses ingestion copies the day's row again.
        conn.execute("INSERT INTO raw_signals SELECT * FROM raw_signals_20261120")
    result = check_no_duplicate_event_ids(postgres, DAY)
    assert not result.passed and result.metadata["duplicate_event_ids"].value == 1


def test_check_warns_when_the_days_reject_rate_is_over_the_threshold(resources, postgres, tmp_path):
    path = batch_file(tmp_path, "20261120T080000Z", rows=80, bad=20)
    resources["ingestor"].ingest_file(path, datetime(2026, 11, 20, 8, tzinfo=UTC))
    result = check_reject_rate(postgres, DAY, threshold=0.05)
    assert not result.passed
    assert result.severity == dg.AssetCheckSeverity.WARN
    assert result.metadata["invalid_rate"].value == 0.2
    assert check_reject_rate(postgres, DAY, threshold=0.25).passed


def test_landing_sensor_requests_one_run_per_day_once_and_survives_a_corrupt_file(resources, tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    batch_file(landing, "20261120T080000Z", rows=10)
    batch_file(landing, "20261121T080000Z", rows=10)
    (landing / "batch-20261121T090000Z-000002.parquet").write_bytes(b"not parquet at all")
    (landing / ".batch-20261121T090500Z-000003.ndjson.tmp").write_text("{partial")

    with dg.instance_for_test() as instance:
        with dg.build_sensor_context(instance=instance, resources=resources) as context:
            result = landing_sensor(context)
        requests = {r.partition_key: r.run_key for r in result.run_requests}
        assert set(requests) == {"2026-11-20", "2026-11-21"}
        # The same waiting files map to the same run keys: Dagster never launches them twice.
        with dg.build_sensor_context(instance=instance, resources=resources) as context:
            again = landing_sensor(context)
        assert {r.partition_key: r.run_key for r in again.run_requests} == requests

    assert materialize_day(resources, date(2026, 11, 21)).success
    assert (landing / "failed" / "2026-11-21" / "batch-20261121T090000Z-000002.parquet").exists()
    assert (landing / "processed" / "2026-11-21" / "batch-20261121T080000Z-000001.ndjson").exists()
    with dg.instance_for_test() as instance, dg.build_sensor_context(instance=instance, resources=resources) as context:
        remaining = landing_sensor(context)
        assert [r.partition_key for r in remaining.run_requests] == ["2026-11-20"]


def test_landing_sensor_skips_while_the_circuit_breaker_is_open(resources, postgres, tmp_path):
    (tmp_path / "landing").mkdir()
    batch_file(tmp_path / "landing", "20261120T080000Z", rows=10)
    with postgres.connection() as conn:
        conn.execute("UPDATE ingestion_state SET breaker_open = true, reason = 'too many invalid rows'")
    with dg.instance_for_test() as instance, dg.build_sensor_context(instance=instance, resources=resources) as context:
        result = landing_sensor(context)
    assert isinstance(result, dg.SkipReason) and "too many invalid rows" in result.skip_message
    failed = materialize_day(resources)
    assert not failed.success  # an open breaker fails the run loudly; the file stays in landing
    assert (tmp_path / "landing" / "batch-20261120T080000Z-000001.ndjson").exists()
