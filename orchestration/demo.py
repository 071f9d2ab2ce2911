"""`distillery demo`: a synthetic week through the whole lifecycle, run by Dagster on the embedded database."""

import argparse
import json
import os
import time
from datetime import UTC, date, datetime, timedelta

import dagster as dg

from orchestration.definitions import build_definitions
from orchestration.settings import Settings
from orchestration.synthetic import generate_landing_files
from resources.sql import load

DEMO_JOB = "ingest_job"
# The demo prints its own summary; the full event log of each run is in the UI.
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser("demo", help="generate a synthetic week and run the whole lifecycle through Dagster")
    demo.add_argument("--days", type=int, default=7, help="days of signals, ending yesterday (UTC)")
    demo.add_argument("--users", type=int, default=2_000)
    demo.add_argument("--signals-per-day", type=int, default=20_000)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--bad-share", type=float, default=0.01, help="share of malformed rows to show quarantine")
    demo.add_argument("--duplicate-share", type=float, default=0.02, help="share of re-sent rows to show dedup")
    demo.set_defaults(handler=run_demo)


def demo_days(count: int, today: date | None = None) -> list[date]:
    today = today or datetime.now(UTC).date()
    return [today - timedelta(days=offset) for offset in range(count, 0, -1)]


def run_demo(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    settings.dagster_home.mkdir(parents=True, exist_ok=True)
    instance_config = settings.dagster_home / "dagster.yaml"
    if not instance_config.exists():
        instance_config.write_text("telemetry:\n  enabled: false\n")
    # The demo's runs go to the same instance `distillery dev` opens, so the UI shows their history.
    os.environ.setdefault("DAGSTER_HOME", str(settings.dagster_home))
    days = demo_days(args.days)
    started = time.perf_counter()

    recipe = {key: getattr(args, key) for key in ("users", "signals_per_day", "seed", "bad_share", "duplicate_share")}
    recipe["days"] = [day.isoformat() for day in days]
    marker = settings.home / "demo" / "generated.json"
    if marker.exists() and json.loads(marker.read_text()) == recipe:
        print(f"1/3 synthetic week already generated into {settings.landing} (same recipe)")
    else:
        print(f"1/3 generating {args.days} days × {args.signals_per_day:,} signals from {args.users:,} users ...")
        summary = generate_landing_files(
            settings.landing, days, args.users, args.signals_per_day, args.seed,
            bad_share=args.bad_share, duplicate_share=args.duplicate_share,
        )
        print(f"    {summary.line()}")
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps(recipe))

    defs = build_definitions(settings)
    job = defs.resolve_job_def(DEMO_JOB)
    print(f"2/3 running {DEMO_JOB} for each day through Dagster ...")
    with dg.DagsterInstance.get() as instance:
        for day in days:
            day_started = time.perf_counter()
            result = job.execute_in_process(
                partition_key=day.isoformat(), instance=instance, raise_on_error=False, run_config=QUIET_RUN_CONFIG
            )
            status = "ok" if result.success else "FAILED"
            print(f"    {day}: {status} in {time.perf_counter() - day_started:.1f}s (run {result.run_id[:8]})")
            if not result.success:
                print(f"    see the run in the UI: `make dev`, then http://127.0.0.1:3000/runs/{result.run_id}")
                return 1

    print("3/3 summary")
    print_summary(defs, days)
    print(f"\ndone in {time.perf_counter() - started:.1f}s. Open the UI with `make dev` (http://127.0.0.1:3000).")
    return 0


def print_summary(defs: dg.Definitions, days: list[date]) -> None:
    postgres = defs.resources["postgres"]
    with postgres.connection() as conn:
        print("    day         signals   users  rejected  by reason")
        for day in days:
            signals, users, _ = conn.execute(
                load("raw_signals/partition_stats"), {"day": day, "partition": f"raw_signals_{day:%Y%m%d}"}
            ).fetchone()
            rows_in, rejected, _ = conn.execute(load("raw_signals/day_reject_rate"), {"day": day}).fetchone()
            reasons = conn.execute(load("raw_signals/day_rejects_by_reason"), {"day": day}).fetchall()
            by_reason = ", ".join(f"{reason} {count}" for reason, count in reasons)
            print(f"    {day}  {signals:>8,}  {users:>6,}  {rejected:>8,}  {by_reason}")
        batches, rows, seconds = conn.execute(load("raw_signals/ingest_totals")).fetchone()
    if seconds:
        print(f"    ingestion: {batches:,} batches, {rows:,} rows in {seconds:.1f}s of ingestion ({rows / seconds:,.0f} rows/s)")
