"""Archive, retention and analyst queries, each against its baseline in the same run.

1. Archive + verify one day (Postgres -> zstd Parquet, re-read and matched) vs the naive export:
   fetch rows into Python, build an Arrow table from them, write Parquet.
2. Retention of that day by partition drop vs the usual cleanup-job loop
   `DELETE ... WHERE id IN (SELECT id ... LIMIT 10000)` on the same rows in a plain table; and the
   drop for days of growing size, to show how it grows. Both run as retention meets a day two
   weeks old: out of shared buffers (server restarted) and of the page cache (files evicted).
3. DuckDB over N days of archive (copies of the archived day under their own day= folders), warm:
   a one-week count by event type (day= pruning vs a received_at filter that cannot prune) and top
   cities by distinct users over all days.

    python bench/archive.py            # 1M-row day, drops of 10K/100K/1M-row days, 30 days for DuckDB
    python bench/archive.py --quick    # 100K-row day, drops of 10K/100K, 7 days
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from results import Figure, record  # noqa: E402

from assets.retention import drop_expired_signal_days  # noqa: E402
from assets.signal_archive import (  # noqa: E402
    ROW_GROUP_ROWS,
    SIGNAL_SCHEMA,
    WRITER_OPTIONS,
    archive_day,
    archive_key,
)
from orchestration.analyst import connect  # noqa: E402
from resources.archive_store import ArchiveStore  # noqa: E402
from resources.postgres import PostgresResource, close_pools, embedded_server  # noqa: E402
from resources.sql import load  # noqa: E402

FIRST_DAY = date(2025, 3, 1)
HOT_DAYS = 14
COLUMNS = [field.name for field in SIGNAL_SCHEMA]


def partition(day: date) -> sql.Identifier:
    return sql.Identifier(f"raw_signals_{day:%Y%m%d}")


def columns_list() -> sql.Composed:
    return sql.SQL(", ").join(map(sql.Identifier, COLUMNS))


def fill_day(postgres: PostgresResource, day: date, rows: int, users: int, seed: int) -> None:
    with postgres.connection() as conn:
        conn.execute("SELECT ensure_raw_signals_partition(%s)", (day,))
        conn.execute(load("archive/fill_synthetic_day"), {"day": day, "rows": rows, "users": users, "seed": seed, "batch_id": seed})
        conn.execute("INSERT INTO signal_ledger SELECT event_id, %s FROM raw_signals WHERE received_at::date = %s", (day, day))
        conn.execute("INSERT INTO distilled_days (day, complete) VALUES (%s, true)", (day,))
    # A closed day has been vacuumed by autovacuum long before it is archived.
    with psycopg.connect(postgres.conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("VACUUM ANALYZE {}").format(partition(day)))


def naive_export(postgres: PostgresResource, day: date, path: Path) -> float:
    """The usual script: fetch rows into Python, build Arrow from them, write one Parquet file."""
    started = time.perf_counter()
    with psycopg.connect(postgres.conninfo) as conn, conn.cursor(name="export") as cursor:
        cursor.itersize = 50_000
        cursor.execute(
            sql.SQL("SELECT {} FROM {} ORDER BY user_id, received_at").format(columns_list(), partition(day))
        )
        schema = pa.schema([field.with_type(pa.string()) if field.name in ("event_id", "props") else field for field in SIGNAL_SCHEMA])
        with pq.ParquetWriter(path, schema, compression="zstd") as writer:
            while rows := cursor.fetchmany(50_000):
                columns = list(zip(*rows, strict=True))
                columns[0] = [str(value) for value in columns[0]]
                columns[9] = [str(value) for value in columns[9]]
                writer.write_table(pa.Table.from_arrays([pa.array(c, type=f.type) for c, f in zip(columns, schema, strict=True)], schema=schema))
    return time.perf_counter() - started


def plain_copy(postgres: PostgresResource, day: date) -> None:
    """The same rows in a plain (unpartitioned) table, indexed like raw_signals, as a cleanup job finds them."""
    with psycopg.connect(postgres.conninfo, autocommit=True) as conn:
        conn.execute("CREATE TABLE signals_plain (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, LIKE raw_signals)")
        conn.execute(
            sql.SQL("INSERT INTO signals_plain ({}) SELECT {} FROM {}").format(columns_list(), columns_list(), partition(day))
        )
        conn.execute("CREATE INDEX ON signals_plain (user_id, received_at)")
        conn.execute("CREATE INDEX ON signals_plain (received_at)")
        conn.execute("VACUUM ANALYZE signals_plain")


def delete_loop(postgres: PostgresResource, day: date) -> tuple[float, int]:
    """The cleanup-job loop over the plain copy."""
    with psycopg.connect(postgres.conninfo, autocommit=True) as conn:
        wal_before = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        started = time.perf_counter()
        while conn.execute(
            "DELETE FROM signals_plain WHERE id IN (SELECT id FROM signals_plain WHERE received_at < %s LIMIT 10000)",
            (day + timedelta(days=1),),
        ).rowcount:
            pass
        seconds = time.perf_counter() - started
        wal = conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", (wal_before,)).fetchone()[0]
    return seconds, int(wal)


def age_out(server, postgres: PostgresResource) -> None:
    """Puts the database in the state retention meets: a day leaves the hot window two weeks after
    it was written, long out of shared buffers and the page cache. Restarts the server and drops the
    database's files from the page cache."""
    close_pools()
    server.stop()
    server.start()
    with psycopg.connect(postgres.conninfo) as conn:
        folder = Path(conn.execute("SHOW data_directory").fetchone()[0]) / conn.execute(
            "SELECT 'base/' || oid FROM pg_database WHERE datname = current_database()"
        ).fetchone()[0]
    for path in [path for path in folder.iterdir() if path.is_file()]:
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(descriptor)


def timed_retention(postgres: PostgresResource, store: ArchiveStore, day: date) -> dict[str, tuple[float, int]]:
    """Retention that expires exactly `day`: seconds and WAL bytes of the drop and of the ledger cleanup."""
    marks: dict[str, tuple[float, int]] = {}
    with psycopg.connect(postgres.conninfo, autocommit=True) as probe:

        def mark(step: str) -> None:
            lsn = probe.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')").fetchone()[0]
            marks.setdefault(step, (time.perf_counter(), int(lsn)))

        drop_expired_signal_days(postgres, store.open(), HOT_DAYS, day + timedelta(days=HOT_DAYS), on_step=mark)

    def span(start: str, end: str) -> tuple[float, int]:
        return marks[end][0] - marks[start][0], marks[end][1] - marks[start][1]

    return {"drop": span("locked", "dropped"), "ledger": span("dropped", "ledger_cleared")}


def write_shifted_days(store: ArchiveStore, day: date, days: int) -> None:
    """Days after `day` for the DuckDB queries: its archived rows moved 1..days-1 days later, with new
    event ids, written exactly as the archive writes them (same schema, sort, encodings, row groups)."""
    archive = store.open()
    table = archive.open_parquet(archive_key(day)).read()
    schema = table.schema
    for offset in range(1, days):
        shift = pa.scalar(timedelta(days=offset), type=pa.duration("us"))
        event_ids = pa.FixedSizeBinaryArray.from_buffers(
            pa.binary(16), table.num_rows, [None, pa.py_buffer(os.urandom(16 * table.num_rows))]
        )
        moved = table.set_column(0, schema.field("event_id"), pa.ExtensionArray.from_storage(pa.uuid(), event_ids))
        for name in ("occurred_at", "received_at"):
            index = schema.get_field_index(name)
            moved = moved.set_column(index, schema.field(name), pc.add(table.column(name), shift))
        key = archive_key(day + timedelta(days=offset))
        with archive.staged_parquet(key, schema, **WRITER_OPTIONS) as staged:
            staged.writer.write_table(moved, row_group_size=ROW_GROUP_ROWS)
        archive.publish(staged.key, key)


def warm_ms(conn: duckdb.DuckDBPyConnection, query: str, params: list | None = None, runs: int = 5) -> float:
    conn.execute(query, params).fetchall()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        conn.execute(query, params).fetchall()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the archived day")
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--days", type=int, default=30, help="days of archive for the DuckDB queries")
    parser.add_argument("--quick", action="store_true", help="100K-row day, 7 days of archive")
    args = parser.parse_args()
    rows, analyst_days = (100_000, 7) if args.quick else (args.rows, args.days)
    drop_sizes = [size for size in (10_000, 100_000, 1_000_000) if size < rows] + [rows]

    workdir = Path(tempfile.mkdtemp(prefix="dst-bench-archive-"))
    server = embedded_server(workdir / "pg")
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE bench_archive")
    postgres = PostgresResource(database_url=server.get_uri(database="bench_archive"))
    store = ArchiveStore(root=str(workdir / "archive"))
    days = [FIRST_DAY + timedelta(days=n) for n in range(len(drop_sizes))]
    main_day = days[-1]
    try:
        started = time.perf_counter()
        for seed, (day, size) in enumerate(zip(days, drop_sizes, strict=True), start=1):
            fill_day(postgres, day, size, args.users, seed)
        with postgres.connection() as conn:
            postgres_bytes = conn.execute("SELECT pg_total_relation_size(%s)", (partition(main_day).as_string(),)).fetchone()[0]
        print(f"generated {sum(drop_sizes):,} signals in {time.perf_counter() - started:.1f}s\n")

        results = {day: archive_day(postgres, store.open(), day) for day in days}
        archived = results[main_day]
        naive_seconds = naive_export(postgres, main_day, workdir / "naive.parquet")
        naive_bytes = (workdir / "naive.parquet").stat().st_size
        print(f"## Archive + verify of a {rows:,}-row day\n")
        print("| path | seconds | rows/s | bytes/row |")
        print("|---|---:|---:|---:|")
        print(f"| product: ADBC -> zstd Parquet, re-read + checksum | {archived.seconds:.2f} | {rows / archived.seconds:,.0f} | {archived.bytes / rows:.1f} |")
        print(f"| naive: rows through Python, no verify | {naive_seconds:.2f} | {rows / naive_seconds:,.0f} | {naive_bytes / rows:.1f} |")
        print(f"| Postgres partition with indexes | | | {postgres_bytes / rows:.0f} |")
        print(f"\ntargets: <= 6 s ({'met' if archived.seconds <= 6 else 'MISSED'}), "
              f"<= 45 bytes/row ({'met' if archived.bytes / rows <= 45 else 'MISSED'}); "
              f"{naive_seconds / archived.seconds:.1f}x faster than naive\n")
        size = f"{rows:,}-row day"
        record(Figure("archive", f"archive + verify, {size}", round(archived.seconds, 2), "s", "<= 6 s",
                      archived.seconds <= 6, "naive export: rows through Python, no verify", round(naive_seconds, 2),
                      round(naive_seconds / archived.seconds, 1)))
        record(Figure("archive", f"archive bytes/row, {size}", round(archived.bytes / rows, 1), "bytes/row", "<= 45",
                      archived.bytes / rows <= 45, "Postgres partition with indexes", round(postgres_bytes / rows),
                      round(postgres_bytes / archived.bytes, 1)))

        plain_copy(postgres, main_day)
        age_out(server, postgres)
        loop_seconds, loop_wal = delete_loop(postgres, main_day)
        drops = {day: timed_retention(postgres, store, day) for day in days}
        (drop_seconds, drop_wal), (ledger_seconds, ledger_wal) = drops[main_day]["drop"], drops[main_day]["ledger"]
        print(f"## Retention of the {rows:,}-row day, aged out of memory\n")
        print("| path | seconds | WAL MB |")
        print("|---|---:|---:|")
        print(f"| product: detach + drop the partition | {drop_seconds:.3f} | {drop_wal / 2**20:.1f} |")
        print(f"| product: then its dedup-ledger entries (batched delete) | {ledger_seconds:.2f} | {ledger_wal / 2**20:.1f} |")
        print(f"| cleanup-job loop: DELETE ... IN (SELECT id ... LIMIT 10000) | {loop_seconds:.2f} | {loop_wal / 2**20:.1f} |")
        print(f"\ndrop vs loop: {loop_seconds / drop_seconds:,.0f}x (target >= 100x: "
              f"{'met' if loop_seconds / drop_seconds >= 100 else 'MISSED'}); "
              f"with the ledger cleanup: {loop_seconds / (drop_seconds + ledger_seconds):,.1f}x\n")
        record(Figure("archive", f"retention: detach + drop, {size}", round(drop_seconds, 3), "s",
                      ">= 100x faster than the DELETE loop", loop_seconds / drop_seconds >= 100,
                      "cleanup-job DELETE loop, 10,000 rows a statement", round(loop_seconds, 2),
                      round(loop_seconds / drop_seconds)))
        print("| day size | detach + drop seconds |")
        print("|---:|---:|")
        for day, size in zip(days, drop_sizes, strict=True):
            print(f"| {size:,} | {drops[day]['drop'][0]:.3f} |")

        started = time.perf_counter()
        write_shifted_days(store, main_day, analyst_days)
        print(f"\nwrote {analyst_days - 1} more archive days in {time.perf_counter() - started:.1f}s")
        conn, _ = connect(ArchiveStore(root=store.root))
        week = [main_day + timedelta(days=analyst_days - 7), main_day + timedelta(days=analyst_days)]
        week_by_day = "SELECT event_type, count(*) FROM signals WHERE day >= ? AND day < ? GROUP BY ALL"
        week_by_time = (
            "SELECT event_type, count(*) FROM signals "
            "WHERE received_at >= ?::TIMESTAMPTZ AND received_at < ?::TIMESTAMPTZ GROUP BY ALL"
        )
        cities = "SELECT city, count(DISTINCT user_id) AS users FROM signals GROUP BY city ORDER BY users DESC LIMIT 10"
        cities_pairs = ("SELECT city, count(*) AS users FROM (SELECT DISTINCT city, user_id FROM signals) "
                        "GROUP BY city ORDER BY users DESC LIMIT 10")
        total = conn.execute("SELECT count(*) FROM signals").fetchone()[0]
        print(f"\n## DuckDB over {analyst_days} days ({total:,} rows), warm, median of 5\n")
        print("| query | ms |")
        print("|---|---:|")
        week_ms = warm_ms(conn, week_by_day, week)
        cities_ms = warm_ms(conn, cities)
        print(f"| one week by event type, day= pruning | {week_ms:.0f} |")
        week_times = [f"{d} 00:00:00+00" for d in week]
        unpruned_ms = warm_ms(conn, week_by_time, week_times)
        print(f"| baseline: same week by received_at (no pruning) | {unpruned_ms:.0f} |")
        print(f"| top cities by distinct users, all days | {cities_ms:.0f} |")
        print(f"| same, as DISTINCT (city, user) pairs | {warm_ms(conn, cities_pairs):.0f} |")
        print(f"\ntargets: week < 50 ms ({'met' if week_ms < 50 else 'MISSED'}), "
              f"cities < 500 ms ({'met' if cities_ms < 500 else 'MISSED'})")
        over = f"{analyst_days} days, {total:,} rows"
        record(Figure("archive", f"DuckDB: one week by event type, {over}", round(week_ms, 1), "ms", "< 50 ms",
                      week_ms < 50, "same week by received_at (no day= pruning)", round(unpruned_ms, 1),
                      round(unpruned_ms / week_ms, 1)))
        record(Figure("archive", f"DuckDB: top cities by distinct users, {over}", round(cities_ms), "ms", "< 500 ms",
                      cities_ms < 500))
    finally:
        close_pools()
        server.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
