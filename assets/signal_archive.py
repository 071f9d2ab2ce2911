"""signal_archive: each closed receive day of raw_signals as one verified Parquet file.

Layout `signals/day=YYYY-MM-DD/signals.parquet` (hive), zstd, rows sorted by user then receive
time. The day's partition is sealed against late rows first, so the archive and the partition
stay identical until retention drops the partition. The file is published only when complete,
re-read, and matched against the partition (row count and an order-independent checksum of the
event_ids) before `archive_manifest` calls it verified; retention trusts nothing else.
"""

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import adbc_driver_postgresql.dbapi as adbc
import dagster as dg
import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from psycopg import sql
from psycopg.rows import dict_row
from pydantic import Field

from assets.partitions import daily_partition
from assets.raw_signals import raw_signals
from resources.archive_store import Archive, ArchiveStore
from resources.postgres import PostgresResource
from resources.sql import load, statement

SCHEMA_VERSION = 1
ARCHIVE_MATCHES_PARTITION = "archive_matches_partition"
ARCHIVES_INTACT = "archives_intact"

# Version 1 of the archive schema (docs/archive.md): promoted columns typed, props as JSON text.
SIGNAL_SCHEMA = pa.schema(
    [
        pa.field("event_id", pa.uuid(), nullable=False),
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("session_id", pa.string()),
        pa.field("event_type", pa.string(), nullable=False),
        pa.field("occurred_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("received_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("city", pa.string()),
        pa.field("item_id", pa.string()),
        pa.field("dwell_ms", pa.int32()),
        pa.field("props", pa.json_(pa.string()), nullable=False),
        pa.field("batch_id", pa.int64(), nullable=False),
    ]
)
ROW_GROUP_ROWS = 128 * 1024
# By user, then receive time: Parquet statistics then let per-user and time filters skip row groups.
ARCHIVE_ORDER = "user_id, received_at, event_id"
SORT_MEMORY = "1GB"
WRITER_OPTIONS = {
    "compression": "zstd",
    "use_dictionary": ["user_id", "session_id", "event_type", "city", "item_id", "dwell_ms", "props"],
    # Within a user, times and batch ids climb: deltas pack them to a few bits a row.
    "column_encoding": {
        "occurred_at": "DELTA_BINARY_PACKED",
        "received_at": "DELTA_BINARY_PACKED",
        "batch_id": "DELTA_BINARY_PACKED",
    },
    "sorting_columns": [pq.SortingColumn(1), pq.SortingColumn(5), pq.SortingColumn(0)],
}
TWO_64 = 1 << 64


def archive_key(day: date) -> str:
    return f"signals/day={day.isoformat()}/signals.parquet"


def day_prefix(day: date) -> str:
    return f"signals/day={day.isoformat()}"


@dataclass(frozen=True)
class Fingerprint:
    """Row count and order-independent checksum: each 64-bit half of the event_ids summed mod 2^64."""

    rows: int
    checksum: str

    @classmethod
    def from_sums(cls, rows: int, high_sum: int, low_sum: int) -> "Fingerprint":
        return cls(rows, f"{int(high_sum) % TWO_64:016x}{int(low_sum) % TWO_64:016x}")


def fingerprint_uuids(chunks) -> Fingerprint:
    """The fingerprint of a stream of uuid (or 16-byte binary) arrays, computed with NumPy."""
    rows, high, low = 0, np.uint64(0), np.uint64(0)
    for chunk in chunks:
        storage = chunk.storage if isinstance(chunk, pa.ExtensionArray) else chunk
        if len(storage) == 0:
            continue
        data = storage.buffers()[1]
        halves = np.frombuffer(data, dtype=">u8", count=2 * len(storage), offset=16 * storage.offset).reshape(-1, 2)
        # uint64 sums wrap around, which is exactly the modulo 2^64 the database side applies.
        with np.errstate(over="ignore"):
            sums = halves.sum(axis=0, dtype=np.uint64)
            high, low, rows = high + sums[0], low + sums[1], rows + len(storage)
    return Fingerprint(rows, f"{int(high):016x}{int(low):016x}")


@dataclass(frozen=True)
class DayArchive:
    day: date
    status: str  # archived | already_verified | dropped | mismatch
    uri: str
    rows: int
    bytes: int
    checksum: str
    seconds: float
    found: Fingerprint | None = None

    @property
    def verified(self) -> bool:
        return self.status != "mismatch"


def _no_step(step: str) -> None:
    """Each step of `archive_day` is announced; the asset logs them, tests interrupt at them."""


def archive_day(
    postgres: PostgresResource, archive: Archive, day: date, on_step: Callable[[str], None] = _no_step
) -> DayArchive:
    """Archives one closed receive day; a no-op when its verified archive is already in place."""
    started = time.perf_counter()
    key = archive_key(day)
    with postgres.connection() as lock:
        lock.execute(load("archive/lock_day"), {"day": day})
        on_step("locked")
        manifest = _manifest(postgres, day)
        if manifest and manifest["verified_at"] and (manifest["dropped_at"] or archive.size(key) == manifest["bytes"]):
            status = "dropped" if manifest["dropped_at"] else "already_verified"
            return DayArchive(
                day, status, manifest["uri"], manifest["rows"], manifest["bytes"], manifest["checksum"],
                time.perf_counter() - started,
            )
        if manifest and manifest["dropped_at"]:
            raise dg.Failure(f"the archive of {day} was dropped from Postgres but is missing at {manifest['uri']}")
        archive.clean_leftovers(day_prefix(day))
        on_step("cleaned")
        partition = _seal(postgres, day)
        on_step("sealed")
        source = _partition_fingerprint(postgres, partition)
        on_step("fingerprinted")
        staged_key = _export(postgres, archive, partition, key, day)
        on_step("staged")
        stored = archive.publish(staged_key, key)
        on_step("published")
        _record(postgres, "archive/record_archived", day, stored.uri, source, stored.bytes)
        on_step("recorded")
        found = read_fingerprint(archive, key)
        if found != source:
            # Readers must never see rows that do not match the partition; the next run rewrites it.
            archive.delete(key)
            return DayArchive(
                day, "mismatch", stored.uri, source.rows, stored.bytes, source.checksum,
                time.perf_counter() - started, found,
            )
        _record(postgres, "archive/record_verified", day, stored.uri, source, stored.bytes)
        on_step("verified")
    return DayArchive(
        day, "archived", stored.uri, source.rows, stored.bytes, source.checksum, time.perf_counter() - started, found
    )


def _manifest(postgres: PostgresResource, day: date) -> dict | None:
    with postgres.connection() as conn:
        return conn.cursor(row_factory=dict_row).execute(load("archive/manifest_day"), {"day": day}).fetchone()


def _seal(postgres: PostgresResource, day: date) -> str:
    with postgres.connection() as conn:
        return conn.execute(load("archive/seal_day"), {"day": day}).fetchone()[0]


def _partition_fingerprint(postgres: PostgresResource, partition: str) -> Fingerprint:
    with postgres.connection() as conn:
        rows, high, low = conn.execute(
            statement("archive/day_fingerprint").format(partition=sql.Identifier(partition))
        ).fetchone()
    return Fingerprint.from_sums(rows, high, low)


def _export(postgres: PostgresResource, archive: Archive, partition: str, key: str, day: date) -> str:
    """Streams the partition through Arrow (ADBC's binary COPY) into a staging Parquet file.

    Postgres only scans; DuckDB sorts in the worker (out of core past SORT_MEMORY), so the database
    that serves ingestion does no sorting for the archive.
    """
    query = statement("archive/day_rows").format(partition=sql.Identifier(partition)).as_string()
    schema = SIGNAL_SCHEMA.with_metadata(
        {"distillery.dataset": "signals", "distillery.schema_version": str(SCHEMA_VERSION), "distillery.day": day.isoformat()}
    )
    sorter_config = {
        "memory_limit": SORT_MEMORY,
        "temp_directory": str(Path(tempfile.gettempdir()) / "distillery-sort"),
        "arrow_lossless_conversion": True,  # uuid and json stay Arrow extension types
    }
    with adbc.connect(postgres.conninfo) as conn, conn.cursor() as cursor, duckdb.connect(config=sorter_config) as sorter:
        cursor.execute(query)
        ordered = sorter.from_arrow(cursor.fetch_record_batch()).order(ARCHIVE_ORDER).to_arrow_reader(ROW_GROUP_ROWS)
        with archive.staged_parquet(key, schema, **WRITER_OPTIONS) as staged:
            for batch in ordered:
                staged.writer.write_batch(
                    pa.RecordBatch.from_arrays(batch.columns, schema=schema), row_group_size=ROW_GROUP_ROWS
                )
    return staged.key


def read_fingerprint(archive: Archive, key: str) -> Fingerprint:
    """Re-reads a published archive's event_ids, as analysts would read them."""
    parquet = archive.open_parquet(key)
    return fingerprint_uuids(batch.column(0) for batch in parquet.iter_batches(columns=["event_id"], batch_size=1 << 20))


def _record(postgres: PostgresResource, name: str, day: date, uri: str, source: Fingerprint, size: int) -> None:
    with postgres.connection() as conn:
        conn.execute(
            load(name),
            {
                "day": day, "uri": uri, "rows": source.rows, "bytes": size,
                "checksum": source.checksum, "schema_version": SCHEMA_VERSION,
            },
        )


def archive_problem(archive: Archive, manifest: dict) -> str | None:
    """Why a verified archive can no longer stand in for its partition, or None when it still can.

    Cheap enough to run before every drop: the object's size and Parquet footer, not its data.
    """
    key = archive_key(manifest["day"])
    if manifest["uri"] != archive.uri(key):
        return f"recorded at {manifest['uri']}, not under this archive root"
    size = archive.size(key)
    if size is None:
        return "missing"
    if size != manifest["bytes"]:
        return f"{size} bytes, manifest says {manifest['bytes']}"
    try:
        footer = archive.open_parquet(key).metadata
    except (OSError, pa.ArrowInvalid) as error:
        return f"unreadable: {error}"
    if footer.num_rows != manifest["rows"]:
        return f"{footer.num_rows} rows, manifest says {manifest['rows']}"
    return None


class ArchiveConfig(dg.Config):
    close_grace_minutes: int = Field(
        default=15, ge=0, description="A day is archived only this long after it ended, so in-flight batches land first."
    )


@dg.asset(
    partitions_def=daily_partition,
    deps=[raw_signals],
    kinds={"parquet"},
    group_name="archive",
    description="Each closed receive day of raw_signals as verified, zstd Parquet: "
    "signals/day=YYYY-MM-DD/signals.parquet under the archive root, recorded in archive_manifest.",
    check_specs=[
        dg.AssetCheckSpec(
            ARCHIVE_MATCHES_PARTITION, asset="signal_archive", blocking=True,
            description="The published file, re-read, has the partition's row count and event_id checksum.",
        )
    ],
)
def signal_archive(
    context: dg.AssetExecutionContext, config: ArchiveConfig, postgres: PostgresResource, archive_store: ArchiveStore
) -> dg.MaterializeResult:
    day = date.fromisoformat(context.partition_key)
    closes = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1, minutes=config.close_grace_minutes)
    if datetime.now(UTC) < closes:
        raise dg.Failure(f"{day} is still open; it can be archived from {closes:%Y-%m-%d %H:%M} UTC")
    result = archive_day(postgres, archive_store.open(), day, on_step=lambda step: context.log.debug(f"{day}: {step}"))
    context.log.info(f"{day}: {result.status}, {result.rows} rows, {result.bytes} bytes at {result.uri}")
    return dg.MaterializeResult(
        metadata=archive_metadata(result),
        check_results=[
            dg.AssetCheckResult(
                check_name=ARCHIVE_MATCHES_PARTITION,
                passed=result.verified,
                metadata={
                    "partition_rows": result.rows,
                    "partition_checksum": result.checksum,
                    "archive_rows": result.found.rows if result.found else result.rows,
                    "archive_checksum": result.found.checksum if result.found else result.checksum,
                },
            )
        ],
    )


def archive_metadata(result: DayArchive) -> dict:
    return {
        "status": result.status,
        "rows": result.rows,
        "bytes": dg.MetadataValue.int(result.bytes),
        "bytes_per_row": round(result.bytes / result.rows, 1) if result.rows else 0.0,
        "seconds": round(result.seconds, 3),
        "rows_per_second": round(result.rows / result.seconds) if result.seconds and result.rows else 0,
        "uri": dg.MetadataValue.path(result.uri),
        "checksum": result.checksum,
        "schema_version": SCHEMA_VERSION,
    }


@dg.asset_check(
    asset=signal_archive,
    name=ARCHIVES_INTACT,
    blocking=True,
    description="Every verified archive whose day is still in Postgres is in place, with the size and row "
    "count the manifest recorded; it gates retention, which drops those days.",
)
def archives_intact(postgres: PostgresResource, archive_store: ArchiveStore) -> dg.AssetCheckResult:
    archive = archive_store.open()
    with postgres.connection() as conn:
        manifests = conn.cursor(row_factory=dict_row).execute(load("archive/verified_kept_days")).fetchall()
    problems = {str(m["day"]): problem for m in manifests if (problem := archive_problem(archive, m))}
    return dg.AssetCheckResult(
        passed=not problems,
        metadata={"days_checked": len(manifests), "days_with_problems": len(problems), "problems": problems},
    )


signal_archive_checks = [archives_intact]
