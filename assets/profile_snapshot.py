"""profile_snapshot: a nightly Parquet copy of user_profiles, so analysts can join behaviour with profiles.

Layout `profiles/snapshot_date=YYYY-MM-DD/profiles.parquet`. A date's snapshot is taken once, from one
consistent read of the table, published only when complete and recorded once its re-read row count
matches what was read from Postgres; re-running a recorded date is a no-op.
"""

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime

import adbc_driver_postgresql.dbapi as adbc
import dagster as dg
import pyarrow as pa
from psycopg.rows import dict_row

from assets.partitions import daily_partition
from resources.archive_store import Archive, ArchiveStore
from resources.postgres import PostgresResource
from resources.sql import load

PROFILE_SCHEMA_VERSION = 1
SNAPSHOT_MATCHES_READ = "snapshot_matches_read"

PROFILE_SCHEMA = pa.schema(
    [
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("profile", pa.json_(pa.string()), nullable=False),
        pa.field("version", pa.int32(), nullable=False),
        pa.field("updated_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)


def snapshot_key(snapshot_date: date) -> str:
    return f"profiles/snapshot_date={snapshot_date.isoformat()}/profiles.parquet"


@dataclass(frozen=True)
class ProfileSnapshot:
    snapshot_date: date
    status: str  # written | already_taken | mismatch
    uri: str
    rows: int
    bytes: int
    sha256: str
    seconds: float
    file_rows: int


def take_profile_snapshot(postgres: PostgresResource, archive: Archive, snapshot_date: date) -> ProfileSnapshot:
    started = time.perf_counter()
    key = snapshot_key(snapshot_date)
    with postgres.connection() as lock:
        lock.execute(load("archive/lock_profile_snapshot"), {"snapshot_date": snapshot_date})
        recorded = lock.cursor(row_factory=dict_row).execute(
            load("archive/profile_snapshot_record"), {"snapshot_date": snapshot_date}
        ).fetchone()
        if recorded and archive.size(key) == recorded["bytes"]:
            return ProfileSnapshot(
                snapshot_date, "already_taken", recorded["uri"], recorded["rows"], recorded["bytes"],
                recorded["sha256"], time.perf_counter() - started, recorded["rows"],
            )
        if not lock.execute(load("archive/user_profiles_exists")).fetchone()[0]:
            raise dg.Failure("user_profiles does not exist yet: run distillation first")
        archive.clean_leftovers(f"profiles/snapshot_date={snapshot_date.isoformat()}")
        taken_at = datetime.now(UTC)
        rows, staged_key = _export(postgres, archive, key, snapshot_date, taken_at)
        stored = archive.publish(staged_key, key)
        file_rows = archive.open_parquet(key).metadata.num_rows
        sha256 = archive.sha256(key)
        if file_rows != rows:
            archive.delete(key)
            return ProfileSnapshot(
                snapshot_date, "mismatch", stored.uri, rows, stored.bytes, sha256, time.perf_counter() - started, file_rows
            )
        lock.execute(
            load("archive/record_profile_snapshot"),
            {
                "snapshot_date": snapshot_date, "uri": stored.uri, "rows": rows, "bytes": stored.bytes,
                "sha256": sha256, "schema_version": PROFILE_SCHEMA_VERSION, "taken_at": taken_at,
            },
        )
    return ProfileSnapshot(
        snapshot_date, "written", stored.uri, rows, stored.bytes, sha256, time.perf_counter() - started, file_rows
    )


def _export(postgres: PostgresResource, archive: Archive, key: str, snapshot_date: date, taken_at: datetime) -> tuple[int, str]:
    schema = PROFILE_SCHEMA.with_metadata(
        {
            "distillery.dataset": "profiles",
            "distillery.schema_version": str(PROFILE_SCHEMA_VERSION),
            "distillery.snapshot_date": snapshot_date.isoformat(),
            "distillery.taken_at": taken_at.isoformat(),
        }
    )
    rows = 0
    with adbc.connect(postgres.conninfo) as conn, conn.cursor() as cursor:
        cursor.execute(load("archive/profile_rows"))
        batches = cursor.fetch_record_batch()
        with archive.staged_parquet(key, schema, compression="zstd", use_dictionary=["user_id"]) as staged:
            for batch in batches:
                columns = [column.cast(target.type) for column, target in zip(batch.columns, schema, strict=True)]
                staged.writer.write_batch(pa.RecordBatch.from_arrays(columns, schema=schema))
                rows += batch.num_rows
    return rows, staged.key


@dg.asset(
    partitions_def=daily_partition,
    # The snapshot taken on date D shows profiles distilled up to receive day D-1.
    deps=[dg.AssetDep("user_profiles", partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=-1))],
    kinds={"parquet"},
    group_name="archive",
    description="user_profiles as of the snapshot date: profiles/snapshot_date=YYYY-MM-DD/profiles.parquet.",
    check_specs=[
        dg.AssetCheckSpec(
            SNAPSHOT_MATCHES_READ, asset="profile_snapshot",
            description="The published snapshot, re-read, holds every profile row read from Postgres.",
        )
    ],
)
def profile_snapshot(
    context: dg.AssetExecutionContext, postgres: PostgresResource, archive_store: ArchiveStore
) -> dg.MaterializeResult:
    result = take_profile_snapshot(postgres, archive_store.open(), date.fromisoformat(context.partition_key))
    return dg.MaterializeResult(
        metadata={
            "status": result.status,
            "rows": result.rows,
            "bytes": dg.MetadataValue.int(result.bytes),
            "bytes_per_row": round(result.bytes / result.rows, 1) if result.rows else 0.0,
            "seconds": round(result.seconds, 3),
            "rows_per_second": round(result.rows / result.seconds) if result.seconds and result.rows else 0,
            "uri": dg.MetadataValue.path(result.uri),
            "checksum": result.sha256,
            "schema_version": PROFILE_SCHEMA_VERSION,
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=SNAPSHOT_MATCHES_READ,
                passed=result.status != "mismatch",
                metadata={"rows_read": result.rows, "rows_in_file": result.file_rows},
            )
        ],
    )
