"""The nightly lifecycle: one run per closed day, distill → embed → archive → snapshot → retention → cache warm."""

from datetime import UTC, timedelta

import dagster as dg

from assets.profile_embeddings import profile_embeddings
from assets.profile_snapshot import profile_snapshot
from assets.retention import retention
from assets.semantic_cache import semantic_cache
from assets.signal_archive import archives_intact, signal_archive
from assets.user_profiles import user_profiles

LIFECYCLE_ASSETS = [user_profiles, profile_embeddings, signal_archive, profile_snapshot, retention, semantic_cache]

lifecycle_job = dg.define_asset_job(
    "nightly_lifecycle_job",
    selection=dg.AssetSelection.assets(*LIFECYCLE_ASSETS) | dg.AssetSelection.checks(archives_intact),
    description="The nightly cycle of one closed day: distill its signals, refresh embeddings, archive and "
    "verify the day, snapshot profiles, drop what retention allows and warm the semantic cache. "
    "Blocking checks gate each step.",
    # Transient failures (a restarted database, a network blip to S3 or Gemini) retry with backoff.
    op_retry_policy=dg.RetryPolicy(
        max_retries=3, delay=30, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
    ),
)


@dg.schedule(
    job=lifecycle_job,
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="At 02:00 UTC, runs the lifecycle for the day that just closed.",
)
def nightly_lifecycle_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    yesterday = (context.scheduled_execution_time.astimezone(UTC) - timedelta(days=1)).date().isoformat()
    # One run per day however often the schedule is evaluated; the partition tag limits each day to one run at once.
    return dg.RunRequest(run_key=f"lifecycle:{yesterday}", partition_key=yesterday)
