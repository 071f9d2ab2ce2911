"""The semantic cache's automation: a warm-up after profiles change, and an hourly refresh and eviction."""

from datetime import datetime

import dagster as dg

from assets.semantic_cache import semantic_cache
from resources.postgres import PostgresResource
from resources.sql import load

semantic_cache_job = dg.define_asset_job(
    "semantic_cache_job",
    selection=dg.AssetSelection.assets(semantic_cache),
    description="Warms the top segments' answers, refreshes those expiring within the hour, evicts expired ones.",
)


@dg.schedule(
    job=semantic_cache_job,
    cron_schedule="0 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every hour: regenerates answers that expire within the hour and evicts expired ones.",
)
def semantic_cache_hourly_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    return dg.RunRequest(run_key=f"hourly:{context.scheduled_execution_time:%Y-%m-%dT%H}")


@dg.sensor(
    job=semantic_cache_job,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Warms the cache once distillation has changed profiles since the last warm-up it asked for.",
)
def semantic_cache_warm_sensor(context: dg.SensorEvaluationContext, postgres: PostgresResource):
    with postgres.connection() as conn:
        (changed_at,) = conn.execute(load("cache/profiles_changed")).fetchone()
    if changed_at is None:
        return dg.SkipReason("no profiles distilled yet")
    if context.cursor and datetime.fromisoformat(context.cursor) >= changed_at:
        return dg.SkipReason(f"profiles unchanged since {context.cursor}")
    stamp = changed_at.isoformat()
    # Keyed by the change: the same distillation never asks for two warm-ups.
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=f"profiles:{stamp}")], cursor=stamp)


cache_schedules = [semantic_cache_hourly_schedule]
cache_sensors = [semantic_cache_warm_sensor]
