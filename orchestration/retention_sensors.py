"""Jobs for the archive, the profile snapshot and retention, and the capacity sensor that runs retention early."""

from datetime import UTC, datetime, timedelta

import dagster as dg

from assets.pipeline_health import HealthPolicy
from assets.profile_snapshot import profile_snapshot
from assets.retention import retention
from assets.signal_archive import archives_intact, signal_archive
from resources.alerts import AlertSink
from resources.postgres import PostgresResource
from resources.sql import load

signal_archive_job = dg.define_asset_job("signal_archive_job", selection=[signal_archive])
profile_snapshot_job = dg.define_asset_job("profile_snapshot_job", selection=[profile_snapshot])
# The blocking archives_intact check runs first in the same run and stops retention when it fails.
retention_job = dg.define_asset_job(
    "retention_job", selection=dg.AssetSelection.assets(retention) | dg.AssetSelection.checks(archives_intact)
)


CAPACITY_ALERT = "retention.database_capacity"


def build_capacity_sensor(minimum_hot_days: int = 3, cooldown: timedelta = timedelta(hours=1)) -> dg.SensorDefinition:
    """Runs retention early when the database passes the health policy's warning share (75%) of its
    capacity: down to `minimum_hot_days`, on verified and distilled days only. It raises an alert
    (closed again once the database is back under the threshold), tags the run, and retention's
    capacity check fails with WARN. At most one early run per `cooldown` while the database stays full."""

    @dg.sensor(
        name="retention_capacity_sensor",
        job=retention_job,
        minimum_interval_seconds=300,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Runs retention early when the database passes its capacity warning threshold.",
    )
    def retention_capacity_sensor(
        context: dg.SensorEvaluationContext, postgres: PostgresResource, health_policy: HealthPolicy, alerts: AlertSink
    ):
        with postgres.connection() as conn:
            size = conn.execute(load("retention/database_bytes")).fetchone()[0]
        capacity = health_policy.capacity_bytes
        share = size / capacity
        if share < health_policy.size_warn_share:
            alerts.resolve([CAPACITY_ALERT])
            return dg.SkipReason(f"database at {share:.0%} of capacity ({size:,} of {capacity:,} bytes)")
        now = datetime.now(UTC)
        if context.cursor and now - datetime.fromisoformat(context.cursor) < cooldown:
            return dg.SkipReason(f"database at {share:.0%} of capacity; early retention already ran at {context.cursor}")
        summary = (
            f"database at {share:.0%} of its {capacity:,}-byte capacity: "
            f"retention runs early, down to {minimum_hot_days} hot days"
        )
        context.log.warning(summary)
        alerts.raise_alert(
            CAPACITY_ALERT, "health_check", "warning", summary,
            {"database_bytes": size, "capacity_bytes": capacity, "minimum_hot_days": minimum_hot_days},
        )
        config = {
            "hot_days": minimum_hot_days,
            "minimum_hot_days": minimum_hot_days,
            "trigger": "capacity",
            "database_bytes": size,
            "capacity_bytes": capacity,
        }
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=f"capacity-{now.isoformat()}",
                    run_config={"ops": {"retention": {"config": config}}},
                    tags={"distillery/alert": CAPACITY_ALERT, "distillery/capacity_share": f"{share:.3f}"},
                )
            ],
            cursor=now.isoformat(),
        )

    return retention_capacity_sensor


archive_jobs = [signal_archive_job, profile_snapshot_job, retention_job]
