import threading
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assets.signal_archive import (
    ARCHIVE_MATCHES_PARTITION,
    SCHEMA_VERSION,
    archive_day,
    archive_key,
    archives_intact,
    signal_archive,
)
from orchestration.analyst import connect
from resources.archive_store import ArchiveStore
from tests.archive_support import fill_day, manifest
from tests.s3_server import bucket_keys, incomplete_uploads, s3_archive_store, s3_endpoint, s3_resource  # noqa: F401

DAY = date(2025, 3, 1)


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path) -> ArchiveStore:
    if request.param == "local":
        return ArchiveStore(root=str(tmp_path / "archive"))
    return request.getfixturevalue("s3_archive_store")


def read_signals(store: ArchiveStore):
    """Every archived signal as analysts see it: all of signals/**/*.parquet with hive day=."""
    conn, _ = connect(store)
    return conn.sql("SELECT * FROM signals").to_arrow_table()


def test_a_closed_day_becomes_one_verified_sorted_parquet_file(postgres, store):
    fill_day(postgres, DAY, 3000, users=40)
    result = archive_day(postgres, store.open(), DAY)

    assert (result.status, result.rows) == ("archived", 3000)
    assert result.found == (result.found.__class__(3000, result.checksum))
    assert manifest(postgres) == {DAY: {"rows": 3000, "verified": True, "dropped": False}}
    archived = read_signals(store)
    with postgres.connection() as conn:
        ids = {str(row[0]) for row in conn.execute("SELECT event_id FROM raw_signals")}
    assert {str(u) for u in archived.column("event_id").to_pylist()} == ids
    assert set(archived.column("day").to_pylist()) == {DAY}
    users = archived.column("user_id").to_pylist()
    assert users == sorted(users)
    parquet = store.open().open_parquet(archive_key(DAY))
    assert parquet.schema_arrow.metadata[b"distillery.schema_version"] == str(SCHEMA_VERSION).encode()
    assert parquet.metadata.row_group(0).column(0).compression == "ZSTD"
    assert result.bytes / result.rows < 60


def test_rerunning_a_verified_day_is_a_no_op(postgres, store):
    fill_day(postgres, DAY, 500)
    first = archive_day(postgres, store.open(), DAY)
    second = archive_day(postgres, store.open(), DAY)
    assert second.status == "already_verified"
    assert (second.uri, second.bytes, second.checksum) == (first.uri, first.bytes, first.checksum)
    assert store.open().list_files("") == [archive_key(DAY)]


def test_an_archived_day_refuses_late_rows(postgres, tmp_path):
    fill_day(postgres, DAY, 100)
    archive_day(postgres, ArchiveStore(root=str(tmp_path)).open(), DAY)
    with pytest.raises(psycopg.errors.CheckViolation):
        fill_day(postgres, DAY, 1)


def test_a_day_without_signals_is_archived_as_an_empty_file(postgres, tmp_path):
    result = archive_day(postgres, ArchiveStore(root=str(tmp_path)).open(), DAY)
    assert (result.status, result.rows) == ("archived", 0)
    assert pq.read_table(tmp_path / archive_key(DAY)).num_rows == 0


def test_a_corruption_before_verification_is_caught_and_nothing_wrong_stays_visible(postgres, store):
    fill_day(postgres, DAY, 2000)
    fill_day(postgres, DAY + timedelta(days=1), 700, seed=2)
    archive = store.open()
    archive_day(postgres, archive, DAY + timedelta(days=1))
    other_day = archive.open_parquet(archive_key(DAY + timedelta(days=1))).read()

    def corrupt(step: str) -> None:
        if step == "published":
            with archive.filesystem.open_output_stream(archive.path(archive_key(DAY))) as out:
                pq.write_table(other_day, out)

    result = archive_day(postgres, archive, DAY, on_step=corrupt)

    assert result.status == "mismatch" and not result.verified
    assert result.found.rows == 700
    assert manifest(postgres)[DAY] == {"rows": 2000, "verified": False, "dropped": False}
    assert archive.size(archive_key(DAY)) is None
    assert archive_day(postgres, archive, DAY).status == "archived"
    assert manifest(postgres)[DAY]["verified"]


def test_two_runs_of_the_same_day_at_once_leave_one_archive_and_one_manifest_row(postgres, store):
    fill_day(postgres, DAY, 3000)
    start = threading.Barrier(2)
    statuses = []

    def run():
        archive = store.open()
        start.wait()
        statuses.append(archive_day(postgres, archive, DAY).status)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == ["already_verified", "archived"]
    assert store.open().list_files("") == [archive_key(DAY)]
    assert len(manifest(postgres)) == 1
    if store.is_s3:
        assert bucket_keys(store) == [f"distillery/{archive_key(DAY)}"]
        assert incomplete_uploads(store) == []


def resources(postgres, store) -> dict:
    return {"postgres": postgres, "archive_store": store}


def test_the_asset_reports_metadata_and_its_check_passes(postgres, tmp_path):
    fill_day(postgres, DAY, 1500)
    store = ArchiveStore(root=str(tmp_path))
    result = dg.materialize([signal_archive], partition_key=DAY.isoformat(), resources=resources(postgres, store))
    assert result.success
    metadata = result.asset_materializations_for_node("signal_archive")[0].metadata
    for name in ("rows", "bytes", "bytes_per_row", "seconds", "rows_per_second", "uri", "checksum", "schema_version"):
        assert name in metadata
    assert metadata["rows"].value == 1500
    [check] = result.get_asset_check_evaluations()
    assert (check.check_name, check.passed) == (ARCHIVE_MATCHES_PARTITION, True)


class TruncatingStore(ArchiveStore):
    """An archive whose disk silently loses rows between writing and publishing."""

    def open(self):
        archive = super().open()
        publish = archive.publish

        def publish_truncated(staging_key, key):
            table = archive.open_parquet(staging_key).read()
            with archive.filesystem.open_output_stream(archive.path(staging_key)) as out:
                pq.write_table(table.slice(0, 10), out)
            return publish(staging_key, key)

        archive.publish = publish_truncated
        return archive


def test_the_asset_check_fails_when_the_archive_does_not_match(postgres, tmp_path):
    fill_day(postgres, DAY, 800)
    store = TruncatingStore(root=str(tmp_path))
    result = dg.materialize(
        [signal_archive], partition_key=DAY.isoformat(), resources=resources(postgres, store), raise_on_error=False
    )
    [check] = result.get_asset_check_evaluations()
    assert (check.check_name, check.passed) == (ARCHIVE_MATCHES_PARTITION, False)
    assert check.metadata["archive_rows"].value == 10
    assert manifest(postgres)[DAY]["verified"] is False
    assert not (tmp_path / archive_key(DAY)).exists()


def test_an_open_day_is_refused(postgres, tmp_path):
    today = datetime.now(UTC).date()
    result = dg.materialize(
        [signal_archive], partition_key=today.isoformat(),
        resources=resources(postgres, ArchiveStore(root=str(tmp_path))), raise_on_error=False,
    )
    assert not result.success
    assert "still open" in str(result.all_events)


def test_archives_intact_passes_then_fails_when_an_archive_goes_missing_or_changes(postgres, store):
    fill_day(postgres, DAY, 400)
    fill_day(postgres, DAY + timedelta(days=1), 300, seed=3)
    archive = store.open()
    archive_day(postgres, archive, DAY)
    archive_day(postgres, archive, DAY + timedelta(days=1))
    assert archives_intact(postgres=postgres, archive_store=store).passed

    archive.delete(archive_key(DAY))
    with archive.filesystem.open_output_stream(archive.path(archive_key(DAY + timedelta(days=1)))) as out:
        out.write(b"not parquet")
    check = archives_intact(postgres=postgres, archive_store=store)
    assert not check.passed
    problems = check.metadata["problems"].value
    assert problems[DAY.isoformat()] == "missing"
    assert "bytes" in problems[(DAY + timedelta(days=1)).isoformat()]


def test_leftovers_of_a_killed_upload_are_cleaned_by_the_next_run(postgres, s3_archive_store):  # noqa: F811
    fill_day(postgres, DAY, 300)
    archive = s3_archive_store.open()
    client, bucket = archive.s3_client, archive.bucket
    for key in (f"distillery/_staging/signals/day={DAY}/signals.parquet.dead", f"distillery/signals/day={DAY}/signals.parquet"):
        upload = client.create_multipart_upload(Bucket=bucket, Key=key)
        client.upload_part(Bucket=bucket, Key=key, UploadId=upload["UploadId"], PartNumber=1, Body=b"partial")
    client.put_object(Bucket=bucket, Key=f"distillery/_staging/signals/day={DAY}/signals.parquet.old", Body=b"partial")
    assert len(incomplete_uploads(s3_archive_store)) == 2

    assert archive_day(postgres, archive, DAY).status == "archived"
    assert incomplete_uploads(s3_archive_store) == []
    assert bucket_keys(s3_archive_store) == [f"distillery/{archive_key(DAY)}"]


def test_a_write_that_fails_midway_never_reaches_its_final_name(store):
    archive = store.open()
    table = pa.table({"n": list(range(1000))})
    with pytest.raises(RuntimeError, match="disk full"), archive.staged_parquet("signals/day=2025-03-01/x.parquet", table.schema) as staged:
        staged.writer.write_table(table)
        raise RuntimeError("disk full")
    assert archive.list_files("") == []
