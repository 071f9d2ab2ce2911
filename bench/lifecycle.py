"""The whole nightly lifecycle through Dagster, end to end: a first day and a steady-state day.

For each size a fresh DISTILLERY_HOME (embedded PostgreSQL, local archive, Postgres-backed Dagster
instance, as `make demo` uses) gets two synthetic days from the same users. Each day runs in a
child process, so its peak RSS is its own: `ingest_job` for the day's landing files, then
`nightly_lifecycle_job` (distill → embed → archive + verify → snapshot → retention → cache warm),
both with execute_in_process as the demo runs them. The first day makes every profile and its
first embedding; the second is the steady state (profiles and embeddings exist, only changed
texts are embedded). Step times come from Dagster's event log; Dagster's overhead is what each
run took beyond its steps.

    python bench/lifecycle.py              # 1M signals/day from 100K users
    python bench/lifecycle.py --scale      # the scale curve: 100K, 1M and 5M signals/day
    python bench/lifecycle.py --quick      # 50K signals/day from 5K users
"""

import argparse
import math
import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from results import Figure, record  # noqa: E402

from resources.postgres import PostgresResource, close_pools, embedded_server  # noqa: E402
from resources.sql import load  # noqa: E402

JOBS = ("ingest_job", "nightly_lifecycle_job")
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
STEADY_TARGET_SECONDS = 90.0
RSS_TARGET_BYTES = 2 * 2**30
HOT_DAYS = 14
# The design's estimate for 100K users: profiles ~500 MB, vectors ~600 MB, a 14-day buffer at 1M signals/day ~2.8 GB.
DESIGN_BYTES = {"profiles": 500e6, "embeddings": 600e6, "14-day buffer": 2.8e9}
SEED = 11


@dataclass
class DayRun:
    size: str
    label: str
    day: date
    signals: int
    generate_seconds: float
    run_seconds: dict[str, float] = field(default_factory=dict)
    step_seconds: dict[str, float] = field(default_factory=dict)
    peak_rss: int = 0
    facts: dict[str, dict] = field(default_factory=dict)
    footprint: dict[str, int] = field(default_factory=dict)
    day_partition_bytes: int = 0
    archive_bytes: int = 0

    @property
    def seconds(self) -> float:
        return sum(self.run_seconds.values())

    @property
    def dagster_overhead(self) -> float:
        return self.seconds - sum(self.step_seconds.values())


def run_day_in_child(home: str, day: str, results) -> None:
    """Child process: the day's two jobs through Dagster, with each step's time from the event log."""
    import dagster as dg

    from orchestration.commands import dagster_instance_env
    from orchestration.definitions import build_definitions
    from orchestration.settings import Settings

    os.environ["DISTILLERY_HOME"] = home
    settings = Settings.from_env()
    os.environ.update(dagster_instance_env(settings))
    defs = build_definitions(settings)
    run_seconds, step_seconds, facts = {}, {}, {}
    with dg.DagsterInstance.get() as instance:
        for job_name in JOBS:
            started = time.perf_counter()
            result = defs.resolve_job_def(job_name).execute_in_process(
                partition_key=day, instance=instance, raise_on_error=False, run_config=QUIET_RUN_CONFIG
            )
            run_seconds[job_name] = time.perf_counter() - started
            if not result.success:
                results.put(("failed", f"{job_name} for {day} failed (run {result.run_id})"))
                return
            step_seconds.update(steps_of(instance, result.run_id))
            facts.update(facts_of(instance, result.run_id))
    close_pools()
    results.put(("ok", run_seconds, step_seconds, facts, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024))


def steps_of(instance, run_id: str) -> dict[str, float]:
    """Seconds from each step's start to its success, retries included, from the run's event log."""
    import dagster as dg

    started, seconds = {}, {}
    for entry in instance.all_logs(run_id, of_type={dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS}):
        if entry.dagster_event.event_type == dg.DagsterEventType.STEP_START:
            started.setdefault(entry.step_key, entry.timestamp)
        else:
            seconds[entry.step_key] = entry.timestamp - started[entry.step_key]
    return seconds


# What each step's materialization says about its work, to explain its time.
FACTS = {
    "raw_signals": ("landing_files", "batches", "rows_stored"),
    "user_profiles": ("signals_in", "profiles_updated"),
    "profile_embeddings": ("profiles_seen", "embedded", "reused_same_text", "reconfirmed_unchanged_text"),
    "signal_archive": ("rows", "bytes"),
}


def facts_of(instance, run_id: str) -> dict[str, dict]:
    import dagster as dg

    facts = {}
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
        materialization = entry.dagster_event.event_specific_data.materialization
        asset = materialization.asset_key.to_user_string()
        wanted = FACTS.get(asset, ())
        facts[asset] = {key: value.value for key, value in materialization.metadata.items() if key in wanted}
    return facts


def run_size(signals: int, users: int, workdir: Path) -> list[DayRun]:
    from orchestration.settings import Settings
    from orchestration.synthetic import generate_landing_files

    home = workdir / f"home-{signals}"
    settings = Settings.from_env({"DISTILLERY_HOME": str(home)})
    postgres = PostgresResource(home=str(settings.home))
    postgres.pool()  # the parent holds the embedded server across the days' processes
    today = datetime.now(UTC).date()
    days = [today - timedelta(days=2), today - timedelta(days=1)]
    size = f"{signals:,} signals/day, {users:,} users"
    runs = []
    for label, day in zip(("first day", "steady state"), days, strict=True):
        started = time.perf_counter()
        generated = generate_landing_files(settings.landing, [day], users, signals, SEED)
        run = DayRun(size, label, day, generated.signals, time.perf_counter() - started)
        print(f"  {day} ({label}): generated {generated.signals:,} signals in {run.generate_seconds:.1f}s; running ...",
              flush=True)
        close_pools()
        results = multiprocessing.get_context("spawn").Queue()
        child = multiprocessing.get_context("spawn").Process(target=run_day_in_child, args=(str(home), day.isoformat(), results))
        child.start()
        outcome = results.get()
        child.join()
        if outcome[0] != "ok":
            raise RuntimeError(outcome[1])
        _, run.run_seconds, run.step_seconds, run.facts, run.peak_rss = outcome
        with postgres.connection() as conn:
            names = ("profiles", "profile versions", "embeddings", "vectors", "ledger", "database")
            run.footprint = dict(zip(names, map(int, conn.execute(load("health/footprint")).fetchone()), strict=True))
            run.day_partition_bytes = conn.execute(
                load("raw_signals/partition_stats"), {"day": day, "partition": f"raw_signals_{day:%Y%m%d}"}
            ).fetchone()[2]
        run.archive_bytes = sum(path.stat().st_size for path in Path(settings.archive).rglob("*") if path.is_file())
        print_day(run)
        runs.append(run)
    close_pools()
    embedded_server(settings.home / "pg").cleanup()
    return runs


def print_day(run: DayRun) -> None:
    steps = ", ".join(f"{step} {seconds:.1f}s" for step, seconds in sorted(run.step_seconds.items(), key=lambda s: -s[1]))
    print(f"    {run.seconds:.1f}s through Dagster ({run.signals / run.seconds:,.0f} signals/s), "
          f"peak RSS {run.peak_rss / 2**20:,.0f} MB, Dagster overhead {run.dagster_overhead:.1f}s")
    print(f"    steps: {steps}")
    for asset, facts in run.facts.items():
        if facts:
            print(f"    {asset}: " + ", ".join(f"{key} {value:,}" for key, value in facts.items()))
    print(end="", flush=True)


def growth_exponent(small: float, large: float, small_size: int, large_size: int) -> float:
    """k in cost ∝ size^k between two sizes: 1 is linear, below 1 better than linear."""
    return math.log(large / small) / math.log(large_size / small_size)


def report(runs: list[DayRun], sizes: list[tuple[int, int]]) -> None:
    print("\n| size | day | seconds | signals/s | ingest s | distill s | embed s | archive s | other steps s "
          "| Dagster overhead s | peak RSS | Postgres | archive |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for run in runs:
        steps = run.step_seconds
        main = {"raw_signals", "user_profiles", "profile_embeddings", "signal_archive"}
        other = sum(seconds for step, seconds in steps.items() if step not in main)
        print(f"| {run.size} | {run.label} | {run.seconds:.1f} | {run.signals / run.seconds:,.0f} "
              f"| {steps.get('raw_signals', 0):.1f} | {steps.get('user_profiles', 0):.1f} "
              f"| {steps.get('profile_embeddings', 0):.1f} | {steps.get('signal_archive', 0):.1f} | {other:.1f} "
              f"| {run.dagster_overhead:.1f} | {run.peak_rss / 2**20:,.0f} MB "
              f"| {run.footprint['database'] / 2**20:,.0f} MB | {run.archive_bytes / 2**20:,.0f} MB |")

    steady = {run.signals: run for run in runs if run.label == "steady state"}
    first = {run.signals: run for run in runs if run.label == "first day"}
    for signals, users in sizes:
        run, first_run = steady[signals], first[signals]
        size = f"{signals:,} signals / {users:,} users"
        target = f"< {STEADY_TARGET_SECONDS:.0f} s" if signals == 1_000_000 else ""
        record(Figure("lifecycle", f"steady-state day through Dagster, {size}", round(run.seconds, 1), "s", target,
                      run.seconds < STEADY_TARGET_SECONDS if target else None))
        record(Figure("lifecycle", f"steady-state day, peak RSS, {size}", round(run.peak_rss / 2**20), "MB", "< 2 GB",
                      run.peak_rss < RSS_TARGET_BYTES))
        record(Figure("lifecycle", f"first day (every profile new), {size}", round(first_run.seconds, 1), "s",
                      f"reported; embedding {first_run.step_seconds.get('profile_embeddings', 0):.0f} s of it"))
        record(Figure("lifecycle", f"Dagster overhead, steady-state day, {size}", round(run.dagster_overhead, 1), "s"))
        if signals == 1_000_000:
            print_footprint(run, users)
    if len(sizes) > 1:
        print("\ngrowth between sizes (k in cost ∝ size^k; 1 = linear):")
        for (small, _), (large, _) in zip(sizes, sizes[1:], strict=False):
            for label, runs_by_size in (("first day", first), ("steady state", steady)):
                a, b = runs_by_size[small], runs_by_size[large]
                seconds_k = growth_exponent(a.seconds, b.seconds, small, large)
                rss_k = growth_exponent(a.peak_rss, b.peak_rss, small, large)
                print(f"  {small:,} → {large:,} signals/day, {label}: seconds k={seconds_k:.2f}, peak RSS k={rss_k:.2f}")
                if label == "steady state":
                    record(Figure("lifecycle", f"growth of steady-state seconds, {small:,} → {large:,} signals/day",
                                  round(seconds_k, 2), "k", "<= 1 (linear or better)", seconds_k <= 1.05))
                    record(Figure("lifecycle", f"growth of peak RSS, {small:,} → {large:,} signals/day",
                                  round(rss_k, 2), "k", "flat (k ≈ 0)", rss_k <= 0.3))


def print_footprint(run: DayRun, users: int) -> None:
    """The design's three parts for `users` users, from what this run measured: bytes per stored
    profile version and per vector times the users (each with its current version), and the
    buffer as the measured day (its partition and its share of the ledger) times the hot window."""
    footprint = run.footprint
    measured = {
        "profiles": footprint["profiles"] / max(footprint["profile versions"], 1) * users,
        "embeddings": footprint["embeddings"] / max(footprint["vectors"], 1) * users,
        "14-day buffer": HOT_DAYS * (run.day_partition_bytes + footprint["ledger"] / 2),
    }
    print(f"\nsteady-state footprint for {users:,} users at {run.signals:,} signals/day (Postgres), "
          f"from {footprint['profile versions']:,} profile versions, {footprint['vectors']:,} vectors and one "
          f"{run.day_partition_bytes / run.signals:.0f}-bytes/row day:")
    print("| part | measured | design estimate | ratio |")
    print("|---|---:|---:|---:|")
    for part, value in measured.items():
        print(f"| {part} | {value / 1e6:,.0f} MB | {DESIGN_BYTES[part] / 1e6:,.0f} MB | {value / DESIGN_BYTES[part]:.2f} |")
        record(Figure("lifecycle", f"footprint, {part} ({users:,} users)", round(value / 1e6), "MB",
                      f"design estimate {DESIGN_BYTES[part] / 1e6:,.0f} MB", value <= DESIGN_BYTES[part]))
    print("(profiles count one version per user; the history kept, up to versions_kept versions of each "
          "user who changed, comes on top)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="50K signals/day from 5K users")
    parser.add_argument("--scale", action="store_true", help="100K, 1M and 5M signals/day (10K, 100K, 500K users)")
    parser.add_argument("--keep", metavar="DIR", help="keep each size's state folder under DIR "
                        "(then DISTILLERY_HOME=DIR/home-SIGNALS distillery dev shows the runs)")
    args = parser.parse_args()
    if args.quick:
        sizes = [(50_000, 5_000)]
    elif args.scale:
        sizes = [(100_000, 10_000), (1_000_000, 100_000), (5_000_000, 500_000)]
    else:
        sizes = [(1_000_000, 100_000)]

    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="dst-lifecycle-"))
    runs = []
    try:
        for signals, users in sizes:
            print(f"{signals:,} signals/day from {users:,} users", flush=True)
            runs.extend(run_size(signals, users, workdir))
    finally:
        close_pools()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    report(runs, sizes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
