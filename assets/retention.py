"""retention: what leaves Postgres, and when.

raw_signals days past the hot window are detached and dropped only when `archive_manifest` says
the day's archive is verified, the archive is still in place, and the day was distilled into
profiles; any other expired day is held, and the held-days check fails loudly. The same engine
applies declared policies to other tables: partition drops, batched time-based deletes, and
keep-the-last-N-per-key, each optionally archiving the rows to Parquet in the transaction that
removes them.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Literal

import adbc_driver_postgresql.dbapi as adbc
import dagster as dg
import psycopg
import pyarrow as pa
from psycopg import sql
from psycopg.rows import dict_row
from pydantic import Field

from assets.signal_archive import archive_problem, signal_archive
from resources.archive_store import Archive, ArchiveStore
from resources.postgres import PostgresResource
from resources.sql import load, statement

NO_DAY_HELD = "no_expired_day_held"
WITHIN_CAPACITY = "database_within_capacity"


class TablePolicy(dg.Config):
    """How long one table's rows stay in Postgres."""

    table: str = Field(description="Table name, optionally schema-qualified.")
    method: Literal["drop_partitions", "delete_older", "keep_last_per_key"] = Field(
        description="drop_partitions: drop range partitions wholly past the window; delete_older: batched "
        "deletes by time; keep_last_per_key: keep the newest keep_last rows of each key hot."
    )
    time_column: str
    keep_days: int = Field(default=30, ge=0, description="drop_partitions and delete_older: days kept.")
    key_column: str | None = Field(default=None, description="keep_last_per_key: the key, e.g. conversation_id.")
    keep_last: int = Field(default=100, ge=0, description="keep_last_per_key: rows kept per key.")
    inactive_days: int | None = Field(
        default=None, ge=0, description="keep_last_per_key: only keys with no row for this long; empty = every key."
    )
    archive: bool = Field(default=False, description="Write the rows to Parquet under tables/<table>/ before removing them.")
    batch_rows: int = Field(default=10_000, ge=1)


DEFAULT_TABLE_POLICIES = [
    TablePolicy(table="signal_rejects", method="delete_older", time_column="received_at", keep_days=30),
    TablePolicy(table="ingest_batches", method="delete_older", time_column="created_at", keep_days=90),
    # Spend records: out of Postgres after 90 days, kept in Parquet for cost questions.
    TablePolicy(table="llm_usage", method="delete_older", time_column="created_at", keep_days=90, archive=True),
]


class RetentionConfig(dg.Config):
    hot_days: int = Field(default=14, ge=1, description="Receive days kept in Postgres, today included (30 for a rolling month).")
    minimum_hot_days: int = Field(
        default=3, ge=1, description="Floor under hot_days, kept even when the capacity sensor runs retention early."
    )
    trigger: Literal["schedule", "capacity"] = "schedule"
    database_bytes: int = Field(default=0, ge=0, description="Set by the capacity sensor: the size that triggered it.")
    capacity_bytes: int = Field(default=0, ge=0, description="Set by the capacity sensor: the configured capacity.")
    ledger_batch_rows: int = Field(default=50_000, ge=1)
    policies: list[TablePolicy] = Field(default_factory=lambda: list(DEFAULT_TABLE_POLICIES))


@dataclass
class SignalRetention:
    dropped: list[date] = field(default_factory=list)
    held: dict[str, str] = field(default_factory=dict)
    rows_dropped: int = 0
    ledger_rows_deleted: int = 0
    seconds: float = 0.0


@dataclass
class PolicyOutcome:
    table: str
    method: str
    status: str  # applied | missing
    rows_removed: int = 0
    partitions_dropped: int = 0
    rows_archived: int = 0
    files_archived: int = 0
    seconds: float = 0.0


def _no_step(step: str) -> None:
    """Retention announces each step; the asset logs them, tests interrupt at them."""


def last_expired_day(today: date, hot_days: int) -> date:
    """The newest receive day outside a window of `hot_days` days ending today."""
    return today - timedelta(days=hot_days)


def drop_expired_signal_days(
    postgres: PostgresResource,
    archive: Archive,
    hot_days: int,
    today: date,
    ledger_batch_rows: int = 50_000,
    on_step: Callable[[str], None] = _no_step,
) -> SignalRetention:
    """Drops each raw_signals day past the window that is verified, archived in place and distilled."""
    started = time.perf_counter()
    report = SignalRetention()
    # Autocommit, for DETACH CONCURRENTLY; the session lock goes with the connection, even on a kill.
    with psycopg.connect(postgres.conninfo, autocommit=True) as conn:
        conn.execute(load("retention/lock_retention"))
        on_step("locked")
        days = conn.cursor(row_factory=dict_row).execute(
            load("retention/expired_signal_days"), {"last_expired_day": last_expired_day(today, hot_days)}
        ).fetchall()
        for day in days:
            reason = _hold_reason(archive, day)
            if reason:
                report.held[day["day"].isoformat()] = reason
                continue
            _detach(conn, day, on_step)
            if _drop_day(conn, day):
                report.dropped.append(day["day"])
                report.rows_dropped += day["rows"]
                on_step("dropped")
            else:
                report.held[day["day"].isoformat()] = "no longer droppable when locked"
        report.ledger_rows_deleted = _clear_ledger(conn, ledger_batch_rows, on_step)
    report.seconds = time.perf_counter() - started
    return report


def _hold_reason(archive: Archive, day: dict) -> str | None:
    if day["dropped_before"]:
        return "dropped before, yet the day table is back: rows arrived after the drop"
    if day["manifest_day"] is None:
        return "not archived"
    if not day["verified"]:
        return "archive not verified"
    if not day["distilled"]:
        return "not distilled into profiles"
    problem = archive_problem(archive, day)
    return f"archive {problem}" if problem else None


def _detach(conn: psycopg.Connection, day: dict, on_step: Callable[[str], None]) -> None:
    partition = sql.Identifier(day["partition"])
    if day["detach_pending"]:
        conn.execute(statement("retention/finalize_detach").format(partition=partition))
    elif day["attached"]:
        conn.execute(statement("retention/detach_partition").format(partition=partition))
    on_step("detached")


def _drop_day(conn: psycopg.Connection, day: dict) -> bool:
    """Drops the detached day table and marks the manifest, re-checking the rule under a row lock."""
    with conn.transaction():
        droppable = conn.execute(load("retention/lock_droppable_day"), {"day": day["day"]}).fetchone()
        if not (droppable and droppable[0]):
            return False
        conn.execute(statement("retention/drop_table").format(table=sql.Identifier(day["partition"])))
        conn.execute(load("retention/mark_dropped"), {"day": day["day"]})
    return True


def _clear_ledger(conn: psycopg.Connection, batch_rows: int, on_step: Callable[[str], None]) -> int:
    deleted = 0
    while True:
        batch = conn.execute(load("retention/clear_ledger_batch"), {"batch_rows": batch_rows}).rowcount
        deleted += batch
        if batch < batch_rows:
            break
        on_step("ledger_batch")
    on_step("ledger_cleared")
    return deleted


def apply_table_policy(
    postgres: PostgresResource,
    archive: Archive,
    policy: TablePolicy,
    now: datetime,
    on_step: Callable[[str], None] = _no_step,
) -> PolicyOutcome:
    started = time.perf_counter()
    outcome = PolicyOutcome(policy.table, policy.method, "applied")
    with postgres.connection() as conn:
        kind = conn.execute(load("retention/table_kind"), {"table": policy.table}).fetchone()
    if kind is None:
        outcome.status = "missing"
        return outcome
    if policy.archive:
        _remove_unrecorded_files(postgres, archive, policy.table)
    if policy.method == "drop_partitions":
        _drop_expired_partitions(postgres, archive, policy, now - timedelta(days=policy.keep_days), outcome, on_step)
    else:
        _delete_in_batches(postgres, archive, policy, now, outcome, on_step)
    outcome.seconds = time.perf_counter() - started
    return outcome


def _table_prefix(table: str) -> str:
    return f"tables/{table}"


def _remove_unrecorded_files(postgres: PostgresResource, archive: Archive, table: str) -> None:
    """Files a killed run published but never recorded hold rows that are still in the table."""
    archive.clean_leftovers(_table_prefix(table))
    with postgres.connection() as conn:
        recorded = {row[0] for row in conn.execute(load("retention/archived_file_uris"), {"table": table})}
    for key in archive.list_files(_table_prefix(table)):
        if archive.uri(key) not in recorded:
            archive.delete(key)


def _batch_statement(policy: TablePolicy, returning: bool) -> sql.Composed:
    name = "retention/delete_expired_batch" if policy.method == "delete_older" else "retention/delete_beyond_last_batch"
    return statement(name).format(
        table=sql.Identifier(*policy.table.split(".")),
        time_column=sql.Identifier(policy.time_column),
        key_column=sql.Identifier(policy.key_column or policy.time_column),
        returning=sql.SQL("RETURNING *" if returning else ""),
    )


def _batch_params(policy: TablePolicy, now: datetime) -> dict:
    if policy.method == "delete_older":
        return {"cutoff": now - timedelta(days=policy.keep_days), "batch_rows": policy.batch_rows}
    idle_before = now - timedelta(days=policy.inactive_days) if policy.inactive_days is not None else datetime.max.replace(tzinfo=UTC)
    return {"keep_last": policy.keep_last, "idle_before": idle_before, "batch_rows": policy.batch_rows}


def _delete_in_batches(
    postgres: PostgresResource, archive: Archive, policy: TablePolicy, now: datetime,
    outcome: PolicyOutcome, on_step: Callable[[str], None],
) -> None:
    if policy.method == "keep_last_per_key" and not policy.key_column:
        raise dg.Failure(f"retention policy for {policy.table}: keep_last_per_key needs key_column")
    params = _batch_params(policy, now)
    while True:
        if policy.archive:
            removed = _archive_and_delete_batch(postgres, archive, policy, params)
            outcome.rows_archived += removed
            outcome.files_archived += bool(removed)
        else:
            with postgres.connection() as conn:
                removed = conn.execute(_batch_statement(policy, returning=False), params).rowcount
        outcome.rows_removed += removed
        on_step("batch")
        if removed < policy.batch_rows:
            return


def _archive_and_delete_batch(postgres: PostgresResource, archive: Archive, policy: TablePolicy, params: dict) -> int:
    """Deletes one batch and writes exactly the deleted rows to Parquet, committing only once the file is published."""
    query = _batch_statement(policy, returning=True).as_string()
    with adbc.connect(postgres.conninfo) as conn, conn.cursor() as cursor:
        cursor.execute(_to_dollar_params(query, params), list(params.values()))
        rows = cursor.fetch_arrow_table()
        if rows.num_rows == 0:
            conn.rollback()
            return 0
        stored = _write_table(archive, policy.table, f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}", rows)
        cursor.execute(load("retention/record_archived_file"), [stored.uri, policy.table, rows.num_rows, stored.bytes])
        conn.commit()
    return rows.num_rows


def _to_dollar_params(query: str, params: dict) -> str:
    """ADBC binds $1..$n; the statements are written with psycopg's named parameters."""
    for position, name in enumerate(params, start=1):
        query = query.replace(f"%({name})s", f"${position}")
    return query


def _write_table(archive: Archive, table: str, name: str, rows: pa.Table):
    key = f"{_table_prefix(table)}/archived_on={datetime.now(UTC).date().isoformat()}/{name}.parquet"
    schema = pa.schema([f.remove_metadata() for f in rows.schema]).with_metadata({"distillery.dataset": table})
    with archive.staged_parquet(key, schema, compression="zstd") as staged:
        staged.writer.write_table(rows.cast(schema))
    return archive.publish(staged.key, key)


def _drop_expired_partitions(
    postgres: PostgresResource, archive: Archive, policy: TablePolicy, cutoff: datetime,
    outcome: PolicyOutcome, on_step: Callable[[str], None],
) -> None:
    with postgres.connection() as conn:
        expired = conn.execute(load("retention/expired_partitions"), {"table": policy.table, "cutoff": cutoff}).fetchall()
    for schema, partition, _ in expired:
        table = sql.Identifier(schema, partition)
        with postgres.connection() as conn:
            # SHARE mode: the export below reads it while nothing can write to it until the drop commits.
            conn.execute(statement("retention/lock_partition").format(table=table))
            if policy.archive:
                rows, stored = _export_partition(postgres, archive, policy.table, table)
                conn.execute(
                    load("retention/record_partition_file"),
                    {"uri": stored.uri, "table": policy.table, "rows": rows, "bytes": stored.bytes},
                )
                outcome.rows_archived += rows
                outcome.files_archived += 1
            on_step("partition_archived")
            conn.execute(statement("retention/drop_table").format(table=table))
        outcome.partitions_dropped += 1
        on_step("partition_dropped")


def _export_partition(postgres: PostgresResource, archive: Archive, table_name: str, table: sql.Identifier):
    with adbc.connect(postgres.conninfo) as conn, conn.cursor() as cursor:
        cursor.execute(statement("retention/select_partition").format(table=table).as_string())
        rows = cursor.fetch_arrow_table()
    return rows.num_rows, _write_table(archive, table_name, table.as_string().replace('"', ""), rows)


@dg.asset(
    deps=[signal_archive, dg.AssetKey("user_profiles")],
    kinds={"postgres"},
    group_name="archive",
    description="Drops raw_signals days past the hot window once archived, verified and distilled; "
    "applies the declared retention policies to other tables.",
    check_specs=[
        dg.AssetCheckSpec(
            NO_DAY_HELD, asset="retention",
            description="No raw_signals day past the hot window is kept back for lack of a verified archive or of distillation.",
        ),
        dg.AssetCheckSpec(
            WITHIN_CAPACITY, asset="retention",
            description="Retention ran on schedule, not because the database passed its capacity threshold.",
        ),
    ],
)
def retention(
    context: dg.AssetExecutionContext, config: RetentionConfig, postgres: PostgresResource, archive_store: ArchiveStore
) -> dg.MaterializeResult:
    archive = archive_store.open()
    hot_days = max(config.hot_days, config.minimum_hot_days)
    signals = drop_expired_signal_days(
        postgres, archive, hot_days, datetime.now(UTC).date(), config.ledger_batch_rows,
        on_step=lambda step: context.log.debug(f"raw_signals: {step}"),
    )
    for day, reason in signals.held.items():
        context.log.error(f"raw_signals {day} is past the {hot_days}-day window but kept: {reason}")
    outcomes = [apply_table_policy(postgres, archive, policy, datetime.now(UTC)) for policy in config.policies]
    rows_removed = signals.rows_dropped + sum(o.rows_removed for o in outcomes)
    seconds = signals.seconds + sum(o.seconds for o in outcomes)
    return dg.MaterializeResult(
        metadata={
            "hot_days": hot_days,
            "trigger": config.trigger,
            "days_dropped": len(signals.dropped),
            "dropped": ", ".join(map(str, signals.dropped)),
            "days_held": len(signals.held),
            "signal_rows_dropped": signals.rows_dropped,
            "ledger_rows_deleted": signals.ledger_rows_deleted,
            "rows": rows_removed,
            "seconds": round(seconds, 3),
            "rows_per_second": round(rows_removed / seconds) if seconds and rows_removed else 0,
            "policies": {o.table: f"{o.method}: {o.status}, {o.rows_removed} rows, {o.partitions_dropped} partitions, "
                         f"{o.rows_archived} archived" for o in outcomes},
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=NO_DAY_HELD, passed=not signals.held, metadata={"held": signals.held, "hot_days": hot_days}
            ),
            dg.AssetCheckResult(
                check_name=WITHIN_CAPACITY,
                passed=config.trigger == "schedule",
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"database_bytes": config.database_bytes, "capacity_bytes": config.capacity_bytes},
            ),
        ],
    )
