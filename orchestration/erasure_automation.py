"""The erasure job and its nightly schedule, half an hour before the nightly lifecycle."""

import dagster as dg

from assets.erasure import erasure_checks, erasure_log

erasure_job = dg.define_asset_job(
    "erasure_job",
    selection=dg.AssetSelection.assets(erasure_log) | dg.AssetSelection.checks(*erasure_checks),
    description="Carries out pending erasure requests in every store and archive file and checks nothing of them is left.",
)

# 01:30 UTC: before the nightly lifecycle (02:00), so the day it archives and the profiles it
# snapshots are already without the erased users and the two never rewrite the same files at once;
# half past, away from the semantic cache's hourly run, which reads profiles and signals too.
erasure_schedule = dg.ScheduleDefinition(
    name="erasure_schedule",
    job=erasure_job,
    cron_schedule="30 1 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every night, so a request is carried out within one nightly cycle.",
)
