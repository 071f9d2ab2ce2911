from datetime import UTC, datetime

import dagster as dg

from orchestration.lifecycle import lifecycle_job, nightly_lifecycle_schedule


def test_the_nightly_schedule_runs_the_day_that_just_closed_once():
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 3, 2, 2, 0, tzinfo=UTC))
    request = nightly_lifecycle_schedule(context)
    assert (request.partition_key, request.run_key) == ("2026-03-01", "lifecycle:2026-03-01")
    assert nightly_lifecycle_schedule.cron_schedule == "0 2 * * *"
    assert nightly_lifecycle_schedule.job_name == lifecycle_job.name
