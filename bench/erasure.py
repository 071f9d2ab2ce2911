"""Erasure: forget 100 users spread over N archived days of R rows each; time and bytes rewritten.

The first day is real (Postgres partition, archived and verified by the product); the other days are
copies of its archive moved one day later each, with new event ids, recorded in the manifest like
verified archives. Every user is in every day, so every file holds some of the 100. One user is
erased alone first (what a per-request erasure would cost), then the other 99 in one batch.

    python bench/erasure.py            # 30 days of 1M rows, 50K users
    python bench/erasure.py --quick    # 5 days of 100K rows
"""

import argparse
import os
import random
import secrets
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from results import Figure, record

from assets.erasure import (
    ErasureReport,
    check_no_erased_user_in_live_stores,
    erase_pending,
)
from assets.signal_archive import (
    ROW_GROUP_ROWS,
    SCHEMA_VERSION,
    WRITER_OPTIONS,
    archive_day,
    archive_key,
    fingerprint_uuids,
)
from resources.archive_store import Archive, ArchiveStore
from resources.erasure import ErasurePolicy, refuse_erased_users
from resources.postgres import PostgresResource, close_pools, embedded_server
from resources.sql import load

FIRST_DAY = date(2025, 3, 1)


def fill_first_day(postgres: PostgresResource, rows: int, users: int) -> None:
    with postgres.connection() as conn:
        conn.execute("SELECT ensure_raw_signals_partition(%s)", (FIRST_DAY,))
        conn.execute(load("archive/fill_synthetic_day"), {"day": FIRST_DAY, "rows": rows, "users": users, "seed": 1, "batch_id": 1})


def copy_days(postgres: PostgresResource, archive: Archive, days: int) -> None:
    """Days 2..N: the first day's archive moved 1..N-1 days later with new event ids, recorded as verified."""
    table = archive.open_parquet(archive_key(FIRST_DAY)).read()
    schema = table.schema
    for offset in range(1, days):
        day = FIRST_DAY + timedelta(days=offset)
        storage = pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), table.num_rows, [None, pa.py_buffer(os.urandom(16 * table.num_rows))])
        event_ids = pa.ExtensionArray.from_storage(pa.uuid(), storage)
        moved = table.set_column(0, schema.field("event_id"), event_ids)
        for name in ("occurred_at", "received_at"):
            index = schema.get_field_index(name)
            moved = moved.set_column(index, schema.field(name), pc.add(table.column(name), pa.scalar(timedelta(days=offset), pa.duration("us"))))
        key = archive_key(day)
        with archive.staged_parquet(key, schema, **WRITER_OPTIONS) as staged:
            staged.writer.write_table(moved, row_group_size=ROW_GROUP_ROWS)
        stored = archive.publish(staged.key, key)
        fingerprint = fingerprint_uuids([event_ids])
        record = {"day": day, "uri": stored.uri, "rows": fingerprint.rows, "bytes": stored.bytes,
                  "checksum": fingerprint.checksum, "schema_version": SCHEMA_VERSION}
        with postgres.connection() as conn:
            conn.execute(load("archive/record_archived"), record)
            conn.execute(load("archive/record_verified"), record)


def timed_erasure(postgres: PostgresResource, archive: Archive, policy: ErasurePolicy, users: list[str]) -> tuple[ErasureReport, dict]:
    policy.request(postgres, users, requested_by="bench")
    marks = {"start": time.perf_counter()}
    report = erase_pending(postgres, archive, policy, on_step=lambda step: marks.setdefault(step, time.perf_counter()))
    phases = {
        "wait for ingestion": marks["ingestion_settled"] - marks["start"],
        "live stores (one transaction)": marks["postgres_erased"] - marks["ingestion_settled"],
        "archive files: scan, rewrite, verify, publish": marks["archives_erased"] - marks["postgres_erased"],
        "residual count and log": marks["completed"] - marks["archives_erased"],
    }
    return report, phases


def refusal_ms(postgres: PostgresResource, policy: ErasurePolicy, rows: int, users: int) -> float:
    """The ingestion-side cost: one chunk's users matched against the tombstones (median of 5)."""
    rng = random.Random(3)
    chunk = pa.table({
        "event_id": [f"00000000-0000-0000-0000-{n:012d}" for n in range(rows)],
        "user_id": [f"user-{rng.randrange(1, users + 1):07d}" for _ in range(rows)],
    })
    times = []
    with postgres.connection() as conn:
        for _ in range(5):
            started = time.perf_counter()
            refuse_erased_users(conn, chunk, policy.salt)
            times.append(time.perf_counter() - started)
    return sorted(times)[2] * 1000


def print_report(label: str, report: ErasureReport, phases: dict) -> None:
    published = report.published
    read, written = sum(r.bytes_before for r in published), sum(r.bytes_after for r in published)
    print(f"\n## {label}\n")
    print("| figure | value |")
    print("|---|---:|")
    print(f"| requests completed | {report.completed} of {report.requests} |")
    print(f"| rows removed from raw_signals (hot day) | {report.removed['raw_signals']:,} |")
    print(f"| rows removed from archived days | {report.removed['signal_archive']:,} |")
    print(f"| files scanned / rewritten | {report.files_scanned} / {len(published)} |")
    print(f"| other users' rows in rewritten files, before = after | {sum(r.other_rows_before for r in published):,} = "
          f"{sum(r.other_rows_after for r in published):,} |")
    print(f"| bytes read / rewritten | {read / 2**20:,.1f} MB / {written / 2**20:,.1f} MB |")
    print(f"| seconds | {report.seconds:.2f} |")
    print(f"| rewritten MB/s | {written / 2**20 / report.seconds:,.1f} |")
    for phase, seconds in phases.items():
        print(f"| … {phase} | {seconds:.2f} s |")


def record_figures(erase: int, size: str, alone: ErasureReport, batch: ErasureReport, check_passed: bool,
                   check_seconds: float, refusal: float) -> None:
    published = alone.published + batch.published
    rewritten_mb = sum(r.bytes_after for r in published) / 2**20
    alone_mb = sum(r.bytes_after for r in alone.published) / 2**20
    seconds = alone.seconds + batch.seconds
    before, after = sum(r.other_rows_before for r in published), sum(r.other_rows_after for r in published)
    record(Figure("erasure", f"{erase} requests: 1 alone, then {erase - 1} in one batch, {size}", round(seconds, 1), "s",
                  baseline="one request at a time, extrapolated from the one alone", baseline_value=round(alone.seconds * erase),
                  ratio=round(alone.seconds * erase / seconds, 1)))
    record(Figure("erasure", f"archive rewritten for the {erase} requests, {size}", round(rewritten_mb), "MB",
                  baseline="one request at a time, extrapolated", baseline_value=round(alone_mb * erase),
                  ratio=round(alone_mb * erase / rewritten_mb, 1)))
    record(Figure("erasure", "other users' rows in rewritten files", after, "rows", f"= before ({before:,})", after == before))
    record(Figure("erasure", "no_erased_user_in_live_stores check", round(check_seconds, 2), "s", "passes", check_passed))
    record(Figure("erasure", f"ingestion refusal, 100K-row chunk against {erase} tombstones", round(refusal), "ms"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of each archived day")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--users", type=int, default=50_000, help="users in the data")
    parser.add_argument("--erase", type=int, default=100, help="users erased")
    parser.add_argument("--quick", action="store_true", help="5 days of 100K rows")
    args = parser.parse_args()
    rows, days = (100_000, 5) if args.quick else (args.rows, args.days)

    workdir = Path(tempfile.mkdtemp(prefix="dst-bench-erasure-"))
    server = embedded_server(workdir / "pg")
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE bench_erasure")
    postgres = PostgresResource(database_url=server.get_uri(database="bench_erasure"))
    archive = ArchiveStore(root=str(workdir / "archive")).open()
    policy = ErasurePolicy(salt=secrets.token_hex(16))
    try:
        started = time.perf_counter()
        fill_first_day(postgres, rows, args.users)
        archive_day(postgres, archive, FIRST_DAY)
        copy_days(postgres, archive, days)
        total_bytes = sum(archive.size(archive_key(FIRST_DAY + timedelta(days=n))) for n in range(days))
        print(f"{days} archived days of {rows:,} rows ({days * rows:,} rows, {total_bytes / 2**20:,.0f} MB), "
              f"{args.users:,} users, made in {time.perf_counter() - started:.0f} s")

        chosen = [f"user-{n:07d}" for n in random.Random(7).sample(range(1, args.users + 1), args.erase)]
        alone, alone_phases = timed_erasure(postgres, archive, policy, chosen[:1])
        print_report("one user erased alone", alone, alone_phases)
        batch, batch_phases = timed_erasure(postgres, archive, policy, chosen[1:])
        print_report(f"{args.erase - 1} users erased in one batch", batch, batch_phases)
        print(f"\n{args.erase} requests one at a time: ~{alone.seconds * args.erase:,.0f} s and "
              f"~{sum(r.bytes_after for r in alone.published) * args.erase / 2**30:,.1f} GB rewritten; batched: "
              f"{alone.seconds + batch.seconds:,.0f} s ({alone.seconds * args.erase / (alone.seconds + batch.seconds):,.0f}x less)")

        started = time.perf_counter()
        check = check_no_erased_user_in_live_stores(postgres, policy)
        check_seconds = time.perf_counter() - started
        print(f"\nno_erased_user_in_live_stores over {rows:,} hot rows: {'passed' if check.passed else 'FAILED'} "
              f"in {check_seconds:.2f} s")
        refusal = refusal_ms(postgres, policy, 100_000, args.users)
        print(f"ingestion refusal check, 100K-row chunk of {args.users:,} users against {args.erase} tombstones: "
              f"{refusal:.0f} ms")
        record_figures(args.erase, f"{days} days x {rows:,} rows", alone, batch, check.passed, check_seconds, refusal)
    finally:
        close_pools()
        server.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
