"""The erasure job and its nightly schedule: after distillation, archiving and the profile snapshot, before retention."""

import dagster as dg

from assets.erasure import erasure_checks, erasure_log

erasure_job = dg.define_asset_job(
    "erasure_job",
    selection=dg.AssetSelection.assets(erasure_log) | dg.AssetSelection.checks(*erasure_checks),
    description="Carries out pending erasure requests in every store and archive file and checks nothing of them is left.",
)

# 02:00 UTC: the night's distillation (00:15), archive (00:30) and snapshot (01:00) have written
# what they read before the requests arrived, and retention (03:00) has not started.
erasure_schedule = dg.ScheduleDefinition(
    name="erasure_schedule",
    job=erasure_job,
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every night, so a request is carried out within one nightly cycle.",
)
