"""pipeline_health: the lifecycle's vital signs, measured from the Postgres catalog every 15 minutes.

Each figure has a check with thresholds in `HealthPolicy`: database size against capacity,
processing lag, ingestion (reject rate and the circuit breaker), landing backlog, archive backlog
and the semantic cache's hit rate. A part of the lifecycle whose tables are not built on this
database yet is reported as such, never as a failure. Failing checks raise alerts; passing ones
resolve them. `distillery health` prints the same report in a terminal.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import dagster as dg
import psycopg
from pydantic import Field

from assets.ingestion import SignalIngestor
from resources.alerts import AlertSink
from resources.landing import LandingStore
from resources.postgres import PostgresResource
from resources.sql import load

DATABASE_SIZE = "database_size_under_capacity"
PROCESSING_LAG = "processing_lag_under_threshold"
INGESTION_ACCEPTING = "ingestion_accepting_signals"
LANDING_BACKLOG = "landing_backlog_draining"
ARCHIVE_BACKLOG = "archive_backlog_clear"
CACHE_HIT_RATE = "semantic_cache_hit_rate_on_target"

Status = Literal["ok", "warning", "error", "not_built"]
# Tables whose presence decides which figures this database can give.
OPTIONAL_TABLES = ["archive_manifest", "semantic_cache_ledger"]


class HealthPolicy(dg.ConfigurableResource):
    """The thresholds of every health check (warnings first, then errors)."""

    capacity_bytes: int = Field(default=8 * 1024**3, gt=0, description="Disk the database may use (plan or volume size).")
    size_warn_share: float = Field(default=0.75, gt=0, le=1)
    size_error_share: float = Field(default=0.90, gt=0, le=1)
    lag_warn_minutes: int = Field(default=60, ge=1, description="Oldest undistilled signal older than this warns.")
    lag_error_minutes: int = Field(default=36 * 60, ge=1, description="Default: a nightly run was missed.")
    landing_warn_minutes: int = Field(default=30, ge=1, description="Oldest waiting landing file older than this warns.")
    landing_error_minutes: int = Field(default=6 * 60, ge=1)
    landing_warn_files: int = Field(default=5_000, ge=1)
    archive_grace_hours: int = Field(default=6, ge=0, description="A closed day is overdue this long after it ended.")
    archive_error_days: int = Field(default=3, ge=1, description="Overdue days that make the backlog an error.")
    cache_hit_rate_target: float = Field(default=0.80, ge=0, le=1)
    cache_window_hours: int = Field(default=24, ge=1)
    cache_min_lookups: int = Field(default=100, ge=1, description="Fewer requests than this never fail the check.")
    tables_reported: int = Field(default=8, ge=1)


@dataclass(frozen=True)
class Finding:
    """One check's outcome: a status, a line for people, and its figures."""

    check: str
    label: str
    status: Status
    summary: str
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def failing(self) -> bool:
        return self.status in ("warning", "error")

    def check_result(self) -> dg.AssetCheckResult:
        return dg.AssetCheckResult(
            check_name=self.check,
            passed=not self.failing,
            severity=dg.AssetCheckSeverity.ERROR if self.status == "error" else dg.AssetCheckSeverity.WARN,
            description=self.summary,
            metadata={"status": self.status, **self.figures},
        )


@dataclass(frozen=True)
class TableSize:
    table_name: str
    table_bytes: int
    index_bytes: int
    rows_estimate: int


@dataclass(frozen=True)
class HealthReport:
    measured_at: datetime
    findings: list[Finding]
    tables: list[TableSize]
    seconds: float

    @property
    def status(self) -> Status:
        statuses = {finding.status for finding in self.findings}
        return "error" if "error" in statuses else "warning" if "warning" in statuses else "ok"

    def finding(self, check: str) -> Finding:
        return next(finding for finding in self.findings if finding.check == check)

    def metadata(self) -> dict[str, Any]:
        """Every number at the top level, so the UI plots each one over time."""
        metadata: dict[str, Any] = {"status": self.status, "seconds": round(self.seconds, 3)}
        for finding in self.findings:
            metadata.update({name: value for name, value in finding.figures.items() if _is_number(value)})
        for table in self.tables:
            metadata[f"{table.table_name}_bytes"] = table.table_bytes
            metadata[f"{table.table_name}_index_bytes"] = table.index_bytes
        metadata["largest_tables"] = dg.MetadataValue.md(self.tables_markdown())
        return metadata

    def tables_markdown(self) -> str:
        lines = ["| table | data | indexes | rows (estimate) |", "|---|---:|---:|---:|"]
        lines += [
            f"| {t.table_name} | {human_bytes(t.table_bytes)} | {human_bytes(t.index_bytes)} | {t.rows_estimate:,} |"
            for t in self.tables
        ]
        return "\n".join(lines)


def measure_health(
    postgres: PostgresResource, landing: LandingStore, ingestor: SignalIngestor, policy: HealthPolicy,
    now: datetime | None = None,
) -> HealthReport:
    started = datetime.now(UTC)
    now = now or started
    with postgres.connection() as conn:
        built = {row[0] for row in conn.execute(load("health/existing_tables"), {"names": OPTIONAL_TABLES})}
        findings = [
            database_size(conn, policy),
            processing_lag(conn, policy, now),
            ingestion_accepting(conn, ingestor),
            landing_backlog(landing, policy, now),
            archive_backlog(conn, policy, now) if "archive_manifest" in built else _not_built(ARCHIVE_BACKLOG),
            cache_hit_rate(conn, policy) if "semantic_cache_ledger" in built else _not_built(CACHE_HIT_RATE),
        ]
        tables = [
            TableSize(*row) for row in conn.execute(load("health/relation_sizes"), {"limit": policy.tables_reported})
        ]
    return HealthReport(now, findings, tables, (datetime.now(UTC) - started).total_seconds())


def database_size(conn: psycopg.Connection, policy: HealthPolicy) -> Finding:
    size = conn.execute(load("health/database_size")).fetchone()[0]
    share = size / policy.capacity_bytes
    status = _grade(share, policy.size_warn_share, policy.size_error_share)
    return Finding(
        DATABASE_SIZE, "database size", status,
        f"{human_bytes(size)} of {human_bytes(policy.capacity_bytes)} ({share:.0%}; warn at "
        f"{policy.size_warn_share:.0%}, error at {policy.size_error_share:.0%})",
        {"database_bytes": size, "capacity_bytes": policy.capacity_bytes, "capacity_share": round(share, 4)},
    )


def processing_lag(conn: psycopg.Connection, policy: HealthPolicy, now: datetime) -> Finding:
    """From the batch log and the distillation watermarks: a batch is distilled once every shard of its day passed it."""
    oldest, waiting = conn.execute(load("health/undistilled_signals")).fetchone()
    minutes = max((now - oldest).total_seconds() / 60, 0.0) if oldest else 0.0
    status = _grade(minutes, policy.lag_warn_minutes, policy.lag_error_minutes)
    summary = (
        f"{human_minutes(minutes)} since the oldest undistilled signal arrived ({waiting:,} signals waiting; "
        f"warn over {human_minutes(policy.lag_warn_minutes)})"
        if oldest else "every ingested signal is distilled"
    )
    return Finding(
        PROCESSING_LAG, "processing lag", status, summary,
        {"processing_lag_minutes": round(minutes, 1), "undistilled_signals": waiting,
         "oldest_undistilled_at": oldest.isoformat() if oldest else ""},
    )


def ingestion_accepting(conn: psycopg.Connection, ingestor: SignalIngestor) -> Finding:
    """Open breaker: error (ingestion has stopped). A recent reject rate over the limit: warning."""
    breaker_open, reason, opened_at, _, _ = conn.execute(load("ingest/breaker_state")).fetchone()
    rows_in, invalid = conn.execute(
        load("ingest/recent_error_rate"), {"batches": ingestor.breaker_window_batches}
    ).fetchone()
    rate = invalid / rows_in if rows_in else 0.0
    limit = ingestor.breaker_error_rate
    if breaker_open:
        status: Status = "error"
        summary = f"circuit breaker OPEN since {opened_at:%Y-%m-%d %H:%M} UTC: {reason}"
    else:
        status = "warning" if rate > limit else "ok"
        summary = f"breaker closed; {rate:.1%} of the last {rows_in:,} rows invalid (limit {limit:.0%})"
    return Finding(
        INGESTION_ACCEPTING, "ingestion", status, summary,
        {"reject_rate": round(rate, 4), "reject_rate_limit": limit, "recent_rows": int(rows_in),
         "breaker_open": int(breaker_open), "breaker_reason": reason or ""},
    )


def landing_backlog(landing: LandingStore, policy: HealthPolicy, now: datetime) -> Finding:
    files = landing.pending()
    minutes = max((now - files[0].received_at).total_seconds() / 60, 0.0) if files else 0.0
    status = _grade(minutes, policy.landing_warn_minutes, policy.landing_error_minutes)
    if status == "ok" and len(files) > policy.landing_warn_files:
        status = "warning"
    summary = (
        f"{len(files):,} files waiting, the oldest for {human_minutes(minutes)}" if files else "no files waiting"
    )
    return Finding(
        LANDING_BACKLOG, "landing backlog", status, summary,
        {"landing_files": len(files), "landing_oldest_minutes": round(minutes, 1)},
    )


def archive_backlog(conn: psycopg.Connection, policy: HealthPolicy, now: datetime) -> Finding:
    # Day D is overdue once D+1 00:00 + grace has passed, that is when D < (now - grace)'s date.
    closed_before = (now - timedelta(hours=policy.archive_grace_hours)).date()
    days = [row[0] for row in conn.execute(load("health/unarchived_closed_days"), {"closed_before": closed_before})]
    status: Status = "error" if len(days) >= policy.archive_error_days else "warning" if days else "ok"
    summary = (
        f"{len(days)} closed days not verified in the archive, the oldest {days[0]}" if days
        else "every closed day is archived and verified"
    )
    return Finding(
        ARCHIVE_BACKLOG, "archive backlog", status, summary,
        {"unarchived_days": len(days), "oldest_unarchived_day": days[0].isoformat() if days else ""},
    )


def cache_hit_rate(conn: psycopg.Connection, policy: HealthPolicy) -> Finding:
    lookups, hits = conn.execute(load("health/cache_hit_rate"), {"hours": policy.cache_window_hours}).fetchone()
    rate = hits / lookups if lookups else 0.0
    status: Status = "warning" if lookups >= policy.cache_min_lookups and rate < policy.cache_hit_rate_target else "ok"
    summary = (
        f"{rate:.1%} of {lookups:,} requests in {policy.cache_window_hours} h answered from the cache "
        f"(target {policy.cache_hit_rate_target:.0%})"
        if lookups >= policy.cache_min_lookups
        else f"{lookups:,} requests in {policy.cache_window_hours} h: too few to judge (from {policy.cache_min_lookups:,})"
    )
    return Finding(
        CACHE_HIT_RATE, "semantic cache", status, summary,
        {"cache_lookups": lookups, "cache_hits": hits, "cache_hit_rate": round(rate, 4)},
    )


def _not_built(check: str) -> Finding:
    labels = {ARCHIVE_BACKLOG: ("archive backlog", "archive_manifest"), CACHE_HIT_RATE: ("semantic cache", "semantic_cache_ledger")}
    label, table = labels[check]
    return Finding(check, label, "not_built", f"not yet built on this database (no {table} table)")


def _grade(value: float, warn: float, error: float) -> Status:
    return "error" if value >= error else "warning" if value >= warn else "ok"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def human_bytes(size: float) -> str:
    if abs(size) < 1024:
        return f"{size:,.0f} B"
    for unit in ("KB", "MB", "GB"):
        size /= 1024
        if abs(size) < 1024:
            return f"{size:,.1f} {unit}"
    return f"{size / 1024:,.1f} TB"


def human_minutes(minutes: float) -> str:
    if minutes < 1:
        return f"{minutes * 60:.0f}s"
    if minutes < 60:
        return f"{minutes:.0f}m"
    hours, rest = divmod(round(minutes), 60)
    return f"{hours}h {rest:02d}m" if hours < 48 else f"{hours / 24:.1f} days"


CHECK_DESCRIPTIONS = {
    DATABASE_SIZE: "The database's size against the configured capacity: warning at 75%, error at 90%.",
    PROCESSING_LAG: "Age of the oldest signal not yet distilled into profiles: warning over 1 hour.",
    INGESTION_ACCEPTING: "Ingestion's circuit breaker is closed (error when open) and the recent reject rate is under its limit.",
    LANDING_BACKLOG: "Landing files are being ingested: none waits long, and not too many wait.",
    ARCHIVE_BACKLOG: "Every closed receive day still in Postgres has a verified archive.",
    CACHE_HIT_RATE: "The semantic cache answers its target share of lookups.",
}


def record_alerts(alerts: AlertSink, report: HealthReport) -> dict[str, int]:
    """A failing check opens an alert of its severity (and closes the other); a passing one closes both.
    Then alerts the webhook did not take before (it was down) are posted again."""
    raised = resolved = 0
    for finding in report.findings:
        keys = {severity: f"health:{finding.check}:{severity}" for severity in ("warning", "error")}
        if finding.failing:
            raised += alerts.raise_alert(
                keys[finding.status], "health_check", finding.status, f"{finding.label}: {finding.summary}",
                {"check": finding.check, **finding.figures},
            ) is not None
            stale = [key for severity, key in keys.items() if severity != finding.status]
        else:
            stale = list(keys.values())
        resolved += len(alerts.resolve(stale))
    delivery = alerts.deliver_pending()
    return {
        "alerts_raised": raised, "alerts_resolved": resolved,
        "alerts_delivered_late": delivery.delivered, "alert_delivery_failed": delivery.failed,
    }


@dg.asset(
    group_name="operations",
    kinds={"postgres"},
    description="The lifecycle's vital signs from the Postgres catalog and the landing folder; "
    "each figure has a check, failing checks raise alerts.",
    check_specs=[
        dg.AssetCheckSpec(name, asset="pipeline_health", description=description)
        for name, description in CHECK_DESCRIPTIONS.items()
    ],
)
def pipeline_health(
    context: dg.AssetExecutionContext,
    postgres: PostgresResource,
    landing: LandingStore,
    ingestor: SignalIngestor,
    health_policy: HealthPolicy,
    alerts: AlertSink,
) -> dg.MaterializeResult:
    report = measure_health(postgres, landing, ingestor, health_policy)
    outcome = record_alerts(alerts, report)
    for finding in report.findings:
        log: Callable[[str], None] = context.log.warning if finding.failing else context.log.info
        log(f"{finding.label}: {finding.status}: {finding.summary}")
    return dg.MaterializeResult(
        metadata={**report.metadata(), **outcome},
        check_results=[finding.check_result() for finding in report.findings],
    )
