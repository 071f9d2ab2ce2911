"""Operations: pipeline_health every 15 minutes, alerts on failed runs, and the operations resources."""

import os
import re
from collections.abc import Mapping, Sequence

import dagster as dg

from assets.pipeline_health import HealthPolicy, pipeline_health
from orchestration.settings import Settings
from resources.alerts import AlertSink
from resources.postgres import PostgresResource

pipeline_health_job = dg.define_asset_job(
    "pipeline_health_job",
    selection=dg.AssetSelection.assets(pipeline_health),
    description="Measures the lifecycle's health, runs its checks and raises or resolves alerts.",
)

pipeline_health_schedule = dg.ScheduleDefinition(
    name="pipeline_health_schedule",
    job=pipeline_health_job,
    cron_schedule="*/15 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="pipeline_health every 15 minutes, so its figures plot as trends and alerts go out on time.",
)

SIZE_UNITS = {"": 1, "B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


def parse_bytes(text: str) -> int:
    """'8GB', '500 MB', '1.5TB' or a plain number of bytes (units are powers of 1024)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?B?)\s*", text.upper().replace("I", ""))
    if not match:
        raise ValueError(f"not a size: {text!r} (say 8GB, 500MB or a number of bytes)")
    return int(float(match.group(1)) * SIZE_UNITS[match.group(2)])


def ops_resources(
    settings: Settings, postgres: PostgresResource, environ: Mapping[str, str] | None = None
) -> dict[str, object]:
    """The health thresholds and the alert sink; their variables are listed in docs/operations.md."""
    env = os.environ if environ is None else environ
    policy = {"capacity_bytes": parse_bytes(env["DISTILLERY_DATABASE_CAPACITY"])} if env.get("DISTILLERY_DATABASE_CAPACITY") else {}
    if env.get("DISTILLERY_LAG_WARN_MINUTES"):
        policy["lag_warn_minutes"] = int(env["DISTILLERY_LAG_WARN_MINUTES"])
    return {
        "health_policy": HealthPolicy(**policy),
        "alerts": AlertSink(
            postgres=postgres,
            webhook_url=env.get("DISTILLERY_ALERT_WEBHOOK_URL") or None,
            ui_url=env.get("DISTILLERY_UI_URL") or None,
        ),
    }


def run_alert_key(run: dg.DagsterRun) -> str:
    """The condition a failed run opens: its job (or ad-hoc asset selection) and partition."""
    target = run.job_name
    if run.job_name == "__ASSET_JOB" and run.asset_selection:
        target = "+".join(sorted(key.to_user_string() for key in run.asset_selection))
    return f"run_failure:{target}:{run.tags.get('dagster/partition', '-')}"


def root_cause(error) -> str:
    """The first line of the innermost error: the user's exception, not Dagster's wrapper around it."""
    while error.cause is not None:
        error = error.cause
    return error.message.strip().splitlines()[0] if error.message.strip() else error.cls_name or "unknown error"


@dg.run_failure_sensor(
    name="run_failure_alert_sensor",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Every failed run opens an error alert (and posts it to the webhook, if configured).",
)
def run_failure_alert_sensor(context: dg.RunFailureSensorContext, alerts: AlertSink) -> None:
    run = context.dagster_run
    steps = context.get_step_failure_events()
    errors = [
        f"{event.step_key}: {root_cause(event.step_failure_data.error)}" for event in steps if event.step_failure_data.error
    ]
    partition = run.tags.get("dagster/partition")
    summary = f"run of {run.job_name}" + (f" for {partition}" if partition else "") + " failed"
    reason = errors[0] if errors else (context.failure_event.message or "").strip()
    alerts.raise_alert(
        run_alert_key(run), "run_failure", "error", f"{summary}: {reason}" if reason else summary,
        {"job": run.job_name, "partition": partition or "", "run_id": run.run_id, "failed_steps": len(steps),
         "errors": errors[:5]},
        run_id=run.run_id,
    )


@dg.run_status_sensor(
    name="run_success_resolve_sensor",
    run_status=dg.DagsterRunStatus.SUCCESS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="A successful run of the same job and partition closes the failure's alert.",
)
def run_success_resolve_sensor(context: dg.RunStatusSensorContext, alerts: AlertSink) -> None:
    alerts.resolve([run_alert_key(context.dagster_run)])


def build_health_after_runs_sensor(monitored_jobs: Sequence) -> dg.SensorDefinition:
    """Measures health right after each successful run of these jobs (the nightly lifecycle's, as defined)."""

    @dg.run_status_sensor(
        name="pipeline_health_after_runs_sensor",
        run_status=dg.DagsterRunStatus.SUCCESS,
        monitored_jobs=list(monitored_jobs),
        request_job=pipeline_health_job,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Measures pipeline_health after each lifecycle run, so its figures show the night's effect.",
    )
    def pipeline_health_after_runs_sensor(context: dg.RunStatusSensorContext) -> dg.RunRequest:
        return dg.RunRequest(run_key=f"after-{context.dagster_run.run_id}")

    return pipeline_health_after_runs_sensor


ops_jobs = [pipeline_health_job]
ops_schedules = [pipeline_health_schedule]
ops_sensors = [run_failure_alert_sensor, run_success_resolve_sensor]
