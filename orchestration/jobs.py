"""Jobs: named selections of assets (their checks come along)."""

import dagster as dg

from assets.raw_signals import raw_signals

ingest_job = dg.define_asset_job(
    "ingest_job",
    selection=dg.AssetSelection.assets(raw_signals),
    description="Ingests one receive day's pending landing files into raw_signals and checks the day.",
)
