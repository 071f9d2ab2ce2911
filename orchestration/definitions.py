"""The Dagster Definitions of Distillery, built once from the environment when Dagster loads them."""

import dagster as dg

from assets.erasure import erasure_checks, erasure_log
from assets.pipeline_health import pipeline_health
from assets.profile_embeddings import profile_embeddings, profile_embeddings_checks
from assets.profile_snapshot import profile_snapshot
from assets.raw_signals import raw_signals, raw_signals_checks
from assets.retention import retention
from assets.semantic_cache import semantic_cache, semantic_cache_checks
from assets.signal_archive import signal_archive, signal_archive_checks
from assets.user_profiles import user_profiles, user_profiles_checks
from orchestration.cache_automation import (
    cache_schedules,
    cache_sensors,
    semantic_cache_job,
)
from orchestration.distill_automation import distill_job, distill_sensors
from orchestration.erasure_automation import erasure_job, erasure_schedule
from orchestration.jobs import ingest_job
from orchestration.lifecycle import lifecycle_job, nightly_lifecycle_schedule
from orchestration.ops_sensors import (
    build_health_after_runs_sensor,
    ops_jobs,
    ops_schedules,
    ops_sensors,
)
from orchestration.retention_sensors import archive_jobs, build_capacity_sensor
from orchestration.sensors import landing_sensor
from orchestration.settings import Settings
from orchestration.wiring import build_resources


def build_definitions(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        assets=[
            raw_signals, user_profiles, profile_embeddings, signal_archive, profile_snapshot, retention,
            semantic_cache, erasure_log, pipeline_health,
        ],
        asset_checks=[
            *raw_signals_checks, *user_profiles_checks, *profile_embeddings_checks, *signal_archive_checks,
            *semantic_cache_checks, *erasure_checks,
        ],
        jobs=[ingest_job, distill_job, lifecycle_job, *archive_jobs, semantic_cache_job, erasure_job, *ops_jobs],
        schedules=[nightly_lifecycle_schedule, erasure_schedule, *cache_schedules, *ops_schedules],
        sensors=[
            landing_sensor, *distill_sensors, build_capacity_sensor(), *cache_sensors, *ops_sensors,
            build_health_after_runs_sensor([lifecycle_job]),
        ],
        resources=build_resources(settings),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(Settings.from_env())
