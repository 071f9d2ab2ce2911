"""`distillery demo`: a synthetic week through the whole lifecycle, run by Dagster on the embedded database."""

import argparse
import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import dagster as dg

from orchestration.cache_cli import describe
from orchestration.commands import dagster_instance_env
from orchestration.definitions import build_definitions
from orchestration.profile_cli import get_profile
from orchestration.settings import Settings
from orchestration.similar_cli import similar_users
from orchestration.synthetic import generate_landing_files
from orchestration.wiring import built_resources
from resources.sql import load


@dataclass(frozen=True)
class DemoWorkload:
    """The synthetic week `make demo` runs, which bench/distill.py also measures the LLM economy on."""

    days: int = 7
    users: int = 2_000
    signals_per_day: int = 20_000
    seed: int = 7
    bad_share: float = 0.01
    duplicate_share: float = 0.02


DEMO = DemoWorkload()

# Each day is first ingested from the landing folder, then goes through the nightly lifecycle.
DEMO_JOBS = ("ingest_job", "nightly_lifecycle_job")
EXAMPLE_PROFILES = 3
# The demo prints its own summary; the full event log of each run is in the UI.
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser("demo", help="generate a synthetic week and run the whole lifecycle through Dagster")
    demo.add_argument("--days", type=int, default=DEMO.days, help="days of signals, ending yesterday (UTC)")
    demo.add_argument("--users", type=int, default=DEMO.users)
    demo.add_argument("--signals-per-day", type=int, default=DEMO.signals_per_day)
    demo.add_argument("--seed", type=int, default=DEMO.seed)
    demo.add_argument("--bad-share", type=float, default=DEMO.bad_share, help="share of malformed rows to show quarantine")
    demo.add_argument(
        "--duplicate-share", type=float, default=DEMO.duplicate_share, help="share of re-sent rows to show dedup"
    )
    demo.set_defaults(handler=run_demo)


def demo_days(count: int, today: date | None = None) -> list[date]:
    today = today or datetime.now(UTC).date()
    return [today - timedelta(days=offset) for offset in range(count, 0, -1)]


def run_demo(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    # The demo's runs go to the same Postgres-backed instance `distillery dev` opens, so the UI shows them.
    os.environ.update(dagster_instance_env(settings))
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
    print(f"2/3 running {' then '.join(DEMO_JOBS)} for each day through Dagster ...")
    with dg.DagsterInstance.get() as instance:
        for day in days:
            for job_name in DEMO_JOBS:
                step_started = time.perf_counter()
                result = defs.resolve_job_def(job_name).execute_in_process(
                    partition_key=day.isoformat(), instance=instance, raise_on_error=False, run_config=QUIET_RUN_CONFIG
                )
                status = "ok" if result.success else "FAILED"
                print(f"    {day} {job_name}: {status} in {time.perf_counter() - step_started:.1f}s (run {result.run_id[:8]})")
                if not result.success:
                    print(f"    see the run in the UI: `make dev`, then http://127.0.0.1:3000/runs/{result.run_id}")
                    return 1

    print("3/3 summary")
    print_summary(defs, days)
    print_examples(defs)
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


def print_examples(defs: dg.Definitions) -> None:
    """A few distilled profiles and their nearest users, so a newcomer sees what the lifecycle produced."""
    postgres = defs.resources["postgres"]
    with postgres.connection() as conn:
        totals = conn.execute(load("distill/demo_totals")).fetchone()
        users = [row[0] for row in conn.execute(load("distill/most_active_users"), {"limit": EXAMPLE_PROFILES})]
    signals, profiles, versions = totals
    if profiles:
        print(f"    distillation: {signals:,} signals into {profiles:,} profiles ({versions:,} versions), "
              f"{signals / profiles:,.0f} signals per profile")
    for user_id in users:
        profile = get_profile(postgres, user_id)
        interests = ", ".join(interest["topic"] for interest in profile["interests"][:4])
        cities = ", ".join(city["city"] for city in profile["cities"][:3])
        print(f"\n    {user_id} · {profile['persona']['label']} · {profile['travel_style']}")
        print(f"      interests: {interests}")
        print(f"      cities: {cities}")
        print(f"      summary: {profile['summary']}")
        try:
            nearest = similar_users(postgres, defs.resources["embedder"], user_id, k=3)
        except (LookupError, ValueError) as error:
            print(f"      similar users: none yet ({error})")
            continue
        print("      similar users: " + ", ".join(f"{match.user_id} ({match.similarity:.2f})" for match in nearest))
    if users:
        with built_resources() as resources:
            found = resources.semantic_cache.recommend(users[0])
        print(f"\n    recommend({users[0]!r}), shared by everyone in its segment for 24 h:")
        print("\n".join(f"      {line}" for line in describe(found).splitlines()[:5]))
    print("\n    more: `distillery profile USER_ID --history`, `distillery similar USER_ID`, "
          "`distillery recommend USER_ID`, `distillery cache stats`, "
          "`distillery query \"SELECT event_type, count(*) FROM signals GROUP BY 1\"`")
