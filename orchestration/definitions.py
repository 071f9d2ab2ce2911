"""The Dagster Definitions of Distillery, built once from the environment when Dagster loads them."""

import dagster as dg

from assets.raw_signals import raw_signals, raw_signals_checks
from orchestration.jobs import ingest_job
from orchestration.wiring import build_resources
from orchestration.sensors import landing_sensor
from orchestration.settings import Settings


def build_definitions(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        assets=[raw_signals],
        asset_checks=raw_signals_checks,
        jobs=[ingest_job],
        sensors=[landing_sensor],
        resources=build_resources(settings),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(Settings.from_env())
