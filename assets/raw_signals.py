"""raw_signals: the hot buffer of user signals, one Postgres partition per receive day."""

import time
from datetime import date, timedelta

import dagster as dg
from psycopg import sql

from assets.ingestion import IngestReport, SignalIngestor
from assets.partitions import daily_partition
from resources.landing import LandingStore
from resources.postgres import PostgresResource
from resources.sql import load, statement

NO_ROWS_OUTSIDE_DAY = "no_rows_outside_partition_day"
NO_DUPLICATE_EVENT_IDS = "no_duplicate_event_ids"
REJECT_RATE_UNDER_THRESHOLD = "reject_rate_under_threshold"


def partition_name(day: date) -> str:
    return f"raw_signals_{day:%Y%m%d}"


@dg.asset(
    partitions_def=daily_partition,
    kinds={"postgres"},
    group_name="ingestion",
    description="User signals buffered in Postgres, range-partitioned by receive day; "
    "materializing a day ingests that day's pending landing files.",
)
def raw_signals(
    context: dg.AssetExecutionContext,
    ingestor: SignalIngestor,
    landing: LandingStore,
    postgres: PostgresResource,
) -> dg.MaterializeResult:
    day = date.fromisoformat(context.partition_key)
    started = time.perf_counter()
    files = landing.pending(day)
    totals = IngestReport(source=f"landing {day}")
    failed_files = 0
    by_path = {file.path: file for file in files}
    batches = 0
    # Small files are committed together; each batch's files move once it has committed.
    for report in ingestor.ingest_files((file.path, file.received_at) for file in files):
        unreadable = bool(report.rejects_by_reason.get("unparseable_file"))
        for path in report.files:
            (landing.mark_failed if unreadable else landing.mark_processed)(by_path[path])
        failed_files += len(report.files) if unreadable else 0
        batches += 0 if report.already_ingested else 1
        totals.add(report)
        context.log.info(
            f"{report.source}: {report.accepted} stored, {report.duplicates} duplicates, "
            f"{report.rejected} rejected" + (" (already ingested)" if report.already_ingested else "")
        )
    seconds = time.perf_counter() - started
    with postgres.connection() as conn:
        signals, users, size = conn.execute(
            load("raw_signals/partition_stats"), {"day": day, "partition": partition_name(day)}
        ).fetchone()
    breaker = ingestor.breaker_state()
    return dg.MaterializeResult(
        metadata={
            "landing_files": len(files),
            "batches": batches,
            "failed_files": failed_files,
            "rows_in": totals.rows_in,
            "rows_stored": totals.accepted,
            "duplicates_skipped": totals.duplicates,
            "rows_rejected": totals.rejected,
            "rows_rate_limited": totals.rate_limited,
            "rejects_by_reason": dict(totals.rejects_by_reason),
            "seconds": round(seconds, 3),
            "rows_per_second": round(totals.rows_in / seconds) if seconds and totals.rows_in else 0,
            "partition_signals": signals,
            "partition_users": users,
            "partition_bytes": dg.MetadataValue.int(size),
            "circuit_breaker": "open" if breaker.open else "closed",
            "circuit_breaker_reason": breaker.reason or "",
        }
    )


def check_no_rows_outside_day(postgres: PostgresResource, day: date) -> dg.AssetCheckResult:
    """A partition holds exactly its UTC day: wrong bounds (made by hand or by another tool) show here."""
    name = partition_name(day)
    with postgres.connection() as conn:
        bounds = conn.execute(load("raw_signals/partition_bounds"), {"partition": name}).fetchone()
        if bounds is None:
            return dg.AssetCheckResult(passed=True, metadata={"partition": name, "exists": False})
        outside = conn.execute(
            statement("raw_signals/rows_outside_day").format(partition=sql.Identifier(name)), {"day": day}
        ).fetchone()[0]
    expected = f"FOR VALUES FROM ('{day} 00:00:00+00') TO ('{day + timedelta(days=1)} 00:00:00+00')"
    return dg.AssetCheckResult(
        passed=outside == 0 and bounds[0] == expected,
        metadata={"partition": name, "rows_outside_day": outside, "bounds": bounds[0], "expected_bounds": expected},
    )


def check_no_duplicate_event_ids(postgres: PostgresResource, day: date) -> dg.AssetCheckResult:
    name = partition_name(day)
    with postgres.connection() as conn:
        if conn.execute(load("raw_signals/partition_bounds"), {"partition": name}).fetchone() is None:
            return dg.AssetCheckResult(passed=True, metadata={"partition": name, "exists": False})
        duplicates, examples = conn.execute(
            statement("raw_signals/duplicate_event_ids").format(partition=sql.Identifier(name)), {"day": day}
        ).fetchone()
    return dg.AssetCheckResult(
        passed=duplicates == 0,
        metadata={"duplicate_event_ids": duplicates, "examples": ", ".join(examples or [])},
    )


def check_reject_rate(postgres: PostgresResource, day: date, threshold: float) -> dg.AssetCheckResult:
    with postgres.connection() as conn:
        rows_in, rejected, rate_limited = conn.execute(load("raw_signals/day_reject_rate"), {"day": day}).fetchone()
        by_reason = dict(conn.execute(load("raw_signals/day_rejects_by_reason"), {"day": day}).fetchall())
    invalid_rate = (rejected - rate_limited) / rows_in if rows_in else 0.0
    return dg.AssetCheckResult(
        passed=invalid_rate <= threshold,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "rows_in": rows_in,
            "rejected": rejected,
            "rate_limited": rate_limited,
            "invalid_rate": round(invalid_rate, 4),
            "threshold": threshold,
            "rejects_by_reason": by_reason,
        },
    )


@dg.asset_check(
    asset=raw_signals, name=NO_ROWS_OUTSIDE_DAY, partitions_def=daily_partition, blocking=True,
    description="Every row of the day's partition was received on that UTC day, and the partition's bounds are exactly that day.",
)
def no_rows_outside_partition_day(context: dg.AssetCheckExecutionContext, postgres: PostgresResource) -> dg.AssetCheckResult:
    return check_no_rows_outside_day(postgres, date.fromisoformat(context.partition_key))


@dg.asset_check(
    asset=raw_signals, name=NO_DUPLICATE_EVENT_IDS, partitions_def=daily_partition, blocking=True,
    description="No event_id of the day is stored twice, within the day or on another day of the hot window.",
)
def no_duplicate_event_ids(context: dg.AssetCheckExecutionContext, postgres: PostgresResource) -> dg.AssetCheckResult:
    return check_no_duplicate_event_ids(postgres, date.fromisoformat(context.partition_key))


@dg.asset_check(
    asset=raw_signals, name=REJECT_RATE_UNDER_THRESHOLD, partitions_def=daily_partition,
    description="The share of invalid rows offered on the day stays under the circuit breaker's threshold.",
)
def reject_rate_under_threshold(
    context: dg.AssetCheckExecutionContext, postgres: PostgresResource, ingestor: SignalIngestor
) -> dg.AssetCheckResult:
    return check_reject_rate(postgres, date.fromisoformat(context.partition_key), ingestor.breaker_error_rate)


raw_signals_checks = [no_rows_outside_partition_day, no_duplicate_event_ids, reject_rate_under_threshold]
