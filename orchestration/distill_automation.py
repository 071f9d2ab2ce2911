"""Distillation's automation: the distill job and intra-day runs when a backlog builds up (nights run the lifecycle)."""

from datetime import UTC, datetime, timedelta

import dagster as dg

from assets.partitions import daily_partition
from assets.user_profiles import DistillerResource, user_profiles

distill_job = dg.define_asset_job(
    "distill_job",
    selection=dg.AssetSelection.assets(user_profiles),
    partitions_def=daily_partition,
    description="Distills one receive day's new signals into user profiles and checks them.",
)


@dg.sensor(
    job=distill_job,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Distills today's partition during the day when its undistilled backlog grows past a size or an age.",
)
def distill_backlog_sensor(context: dg.SensorEvaluationContext, distiller: DistillerResource):
    now = datetime.now(UTC)
    today = now.date()
    signals, oldest, newest_batch = distiller.backlog(today)
    if not signals:
        return dg.SkipReason(f"nothing of {today} waits for distillation")
    age = now - oldest
    if signals < distiller.backlog_signals and age < timedelta(minutes=distiller.backlog_max_age_minutes):
        return dg.SkipReason(
            f"{signals:,} signals of {today} wait, the oldest for {age.total_seconds() / 60:.0f} min: "
            f"under {distiller.backlog_signals:,} signals and {distiller.backlog_max_age_minutes} min"
        )
    # Keyed by the newest batch: the same backlog never asks for two runs.
    return dg.RunRequest(
        run_key=f"backlog:{today}:{newest_batch}",
        partition_key=today.isoformat(),
        tags={"distillery/backlog_signals": str(signals), "distillery/backlog_age_minutes": str(int(age.total_seconds() // 60))},
    )


distill_sensors = [distill_backlog_sensor]
