"""Partitions shared by the lifecycle's assets: one per UTC receive day."""

import dagster as dg

# end_offset=1 includes today, so intra-day runs can ingest and distill the open day.
daily_partition = dg.DailyPartitionsDefinition(start_date="2025-01-01", end_offset=1)
