"""Sensors: new landing files become ingestion runs, one per receive day."""

import hashlib
from itertools import groupby

import dagster as dg

from assets.ingestion import SignalIngestor
from orchestration.jobs import ingest_job
from resources.landing import LandingStore


@dg.sensor(
    job=ingest_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Requests one ingestion run per receive day for batch files waiting in the landing folder.",
)
def landing_sensor(context: dg.SensorEvaluationContext, landing: LandingStore, ingestor: SignalIngestor):
    breaker = ingestor.breaker_state()
    if breaker.open:
        return dg.SkipReason(f"ingestion circuit breaker is open: {breaker.reason}")
    pending = landing.pending()
    if not pending:
        return dg.SkipReason(f"no batch files waiting in {landing.root}")
    requests = []
    for day, files in groupby(pending, key=lambda file: file.day):
        names = sorted(file.path.name for file in files)
        # The same waiting files always map to the same run key, so a run is never requested twice.
        file_set = hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]
        requests.append(
            dg.RunRequest(
                run_key=f"{day}:{file_set}",
                partition_key=day.isoformat(),
                tags={"distillery/landing_files": str(len(names))},
            )
        )
    return dg.SensorResult(run_requests=requests)
