"""Ingestion throughput: the product path against the COPY ceiling and a naive INSERT baseline.

All three write the same rows into the same partitioned table and indexes, each into its own
day partition, on a fresh database of the embedded server. The product path runs in a child
process reading an NDJSON file, so its peak RSS is its own. The ceiling COPYs the rows in
arrival order, as a client sends them; the product sorts each chunk by user before its COPY
(part of its work), and the same rows COPYed in that order are shown for comparison.

    python bench/ingest.py            # 1M signals
    python bench/ingest.py --quick    # 100K signals
"""

import argparse
import io
import multiprocessing
import resource
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from results import Figure, record  # noqa: E402

from assets.ingestion import SIGNAL_COLUMNS, SignalIngestor  # noqa: E402
from resources.postgres import PostgresResource, close_pools, embedded_server  # noqa: E402

DAY = datetime(2026, 11, 2, 12, tzinfo=UTC)

# Synthetic NDJSON, made set-based in DuckDB: ~100K users, the product's event mix, typed props.
SYNTHETIC_LINES = """
COPY (
    SELECT to_json({
        'event_id': uuid()::varchar,
        'user_id': 'u_' || lpad(CAST(CAST(floor(pow(random(), 2) * $users) AS bigint) AS varchar), 6, '0'),
        'session_id': 's_' || CAST(i // 20 AS varchar),
        'event_type': ['view', 'view', 'view', 'click', 'scroll', 'dwell', 'search', 'save', 'book', 'chat_message'][1 + CAST(floor(random() * 10) AS int)],
        'occurred_at': strftime(TIMESTAMPTZ '2026-11-02 00:00:00+00' + to_milliseconds(CAST(random() * 43000000 AS bigint)), '%Y-%m-%dT%H:%M:%S.%gZ'),
        'props': {
            'city': ['Lisbon', 'Porto', 'Berlin', 'Istanbul', 'Tokyo', 'Mexico City', 'Oslo', 'Rome'][1 + CAST(floor(random() * 8) AS int)],
            'item_id': 'stay_' || lpad(CAST(CAST(floor(random() * 50000) AS int) AS varchar), 6, '0'),
            'dwell_ms': CAST(floor(random() * 60000) AS int),
            'vibe': ['chaos seeker', 'slow traveller', 'foodie', 'night owl'][1 + CAST(floor(random() * 4) AS int)]
        }
    })
    FROM range($rows) AS t(i)
) TO '{path}' (FORMAT csv, HEADER false, QUOTE '', DELIMITER '\x1f')
"""


def make_ndjson(path: Path, rows: int, users: int) -> None:
    connection = duckdb.connect()
    connection.execute(SYNTHETIC_LINES.replace("{path}", str(path)), {"rows": rows, "users": users})


def product_path(database_url: str, path: str, queue) -> None:
    """Child process: the product's own ingestion of the file, validation and dedup on."""
    ingestor = SignalIngestor(postgres=PostgresResource(database_url=database_url), breaker_min_rows=10**9)
    started = time.perf_counter()
    report = ingestor.ingest_file(Path(path), DAY)
    seconds = time.perf_counter() - started
    close_pools()
    queue.put((report.accepted, report.rejected, seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024))


def validated_rows(database_url: str, ndjson: Path, day: datetime) -> pl.DataFrame:
    """The product's stored rows, re-read in arrival order (the file's): the pre-validated input
    of the ceiling and the baseline, as a client would send them."""
    with psycopg.connect(database_url) as conn:
        buffer = io.BytesIO()
        with conn.cursor().copy("COPY (SELECT * FROM raw_signals) TO STDOUT (FORMAT csv)") as copy:
            for block in copy:
                buffer.write(block)
    buffer.seek(0)
    frame = pl.read_csv(buffer, has_header=False, new_columns=list(SIGNAL_COLUMNS), infer_schema=False)
    arrival = pl.read_ndjson(ndjson, schema={"event_id": pl.String}).with_row_index("position")
    return (
        frame.join(arrival, on="event_id").sort("position").drop("position")
        .with_columns(pl.lit(day.isoformat()).alias("received_at"))
    )


def sorted_by_user_per_chunk(frame: pl.DataFrame, chunk_rows: int = 100_000) -> pl.DataFrame:
    """The order the product writes: each chunk sorted by user_id (its index inserts in key order)."""
    return (
        frame.with_row_index("position")
        .with_columns((pl.col("position") // chunk_rows).alias("chunk"))
        .sort("chunk", "user_id").drop("position", "chunk")
    )


def fresh_ids(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.Series("event_id", [str(uuid.uuid4()) for _ in range(frame.height)]))


def ceiling(database_url: str, frame: pl.DataFrame, day: datetime) -> float:
    """Raw COPY of pre-validated rows straight into the day partition: the upper bound."""
    buffer = io.BytesIO()
    frame.write_csv(buffer, include_header=False)
    payload = buffer.getvalue()
    with psycopg.connect(database_url) as conn:
        partition = conn.execute("SELECT ensure_raw_signals_partition(%s)", (day.date(),)).fetchone()[0]
        conn.commit()
        started = time.perf_counter()
        with conn.cursor().copy(
            sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
                sql.Identifier(partition), sql.SQL(", ").join(map(sql.Identifier, SIGNAL_COLUMNS))
            )
        ) as copy:
            copy.write(payload)
        conn.commit()
        return time.perf_counter() - started


def naive_baseline(database_url: str, frame: pl.DataFrame, day: datetime, batch_rows: int = 1000) -> float:
    """What a naive worker does: executemany INSERT of 1,000-row batches, no validation or dedup."""
    rows = frame.rows()
    insert = sql.SQL("INSERT INTO raw_signals ({}) VALUES ({})").format(
        sql.SQL(", ").join(map(sql.Identifier, SIGNAL_COLUMNS)),
        sql.SQL(", ").join(sql.Placeholder() * len(SIGNAL_COLUMNS)),
    )
    with psycopg.connect(database_url) as conn:
        conn.execute("SELECT ensure_raw_signals_partition(%s)", (day.date(),))
        conn.commit()
        started = time.perf_counter()
        with conn.cursor() as cursor:
            for start in range(0, len(rows), batch_rows):
                cursor.executemany(insert, rows[start : start + batch_rows])
                conn.commit()
        return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="100K rows")
    args = parser.parse_args()
    rows = 100_000 if args.quick else args.rows

    workdir = Path(tempfile.mkdtemp(prefix="dst-bench-"))
    server = embedded_server(workdir / "pg")
    admin = server.get_uri()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("CREATE DATABASE bench_ingest")
    database_url = server.get_uri(database="bench_ingest")
    PostgresResource(database_url=database_url).pool()  # migrate
    close_pools()

    ndjson = workdir / "signals.ndjson"
    started = time.perf_counter()
    make_ndjson(ndjson, rows, args.users)
    print(f"generated {rows:,} signals ({ndjson.stat().st_size / rows:.0f} bytes each) in {time.perf_counter() - started:.1f}s")

    queue = multiprocessing.get_context("spawn").Queue()
    child = multiprocessing.get_context("spawn").Process(target=product_path, args=(database_url, str(ndjson), queue))
    child.start()
    accepted, rejected, product_seconds, product_rss = queue.get()
    child.join()

    frame = validated_rows(database_url, ndjson, DAY)

    def on_day(offset: int, rows: pl.DataFrame) -> tuple[pl.DataFrame, datetime]:
        day = DAY + timedelta(days=offset)
        return fresh_ids(rows).with_columns(pl.lit(day.isoformat()).alias("received_at")), day

    ceiling_seconds = ceiling(database_url, *on_day(1, frame))
    sorted_seconds = ceiling(database_url, *on_day(2, sorted_by_user_per_chunk(frame)))
    baseline_seconds = naive_baseline(database_url, *on_day(3, frame))

    product_rate, ceiling_rate, baseline_rate = (rows / s for s in (product_seconds, ceiling_seconds, baseline_seconds))
    print(f"\nIngestion of {rows:,} signals ({accepted:,} stored, {rejected:,} rejected), embedded PostgreSQL 18\n")
    print("| path | seconds | rows/s | vs ceiling | vs naive | peak RSS |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| product (validate + dedup + COPY) | {product_seconds:.2f} | {product_rate:,.0f} | "
          f"{product_rate / ceiling_rate:.0%} | {product_rate / baseline_rate:.2f}x | {product_rss / 2**20:,.0f} MB |")
    print(f"| ceiling: raw COPY, pre-validated, arrival order | {ceiling_seconds:.2f} | {ceiling_rate:,.0f} | 100% | "
          f"{ceiling_rate / baseline_rate:.2f}x | |")
    sorted_rate = rows / sorted_seconds
    print(f"| raw COPY in the product's order (by user per chunk) | {sorted_seconds:.2f} | {sorted_rate:,.0f} | "
          f"{sorted_rate / ceiling_rate:.0%} | {sorted_rate / baseline_rate:.2f}x | |")
    print(f"| naive: executemany, 1,000-row batches | {baseline_seconds:.2f} | {baseline_rate:,.0f} | "
          f"{baseline_rate / ceiling_rate:.0%} | 1.00x | |")
    print(f"\ntargets: >= 60% of ceiling ({'met' if product_rate >= 0.6 * ceiling_rate else 'MISSED'}), "
          f">= 1.2x naive ({'met' if product_rate >= 1.2 * baseline_rate else 'MISSED'}), "
          f"peak RSS < 1 GB ({'met' if product_rss < 2**30 else 'MISSED'})")
    size = f"{rows:,} signals"
    record(Figure("ingest", f"product rows/s (validate + dedup + COPY), {size}", round(product_rate), "rows/s",
                  ">= 60% of ceiling", product_rate >= 0.6 * ceiling_rate,
                  "raw COPY ceiling, pre-validated, arrival order", round(ceiling_rate), round(product_rate / ceiling_rate, 2)))
    record(Figure("ingest", f"product rows/s against naive INSERT, {size}", round(product_rate), "rows/s",
                  ">= 1.2x naive", product_rate >= 1.2 * baseline_rate,
                  "naive executemany, 1,000-row batches", round(baseline_rate), round(product_rate / baseline_rate, 2)))
    record(Figure("ingest", f"product peak RSS, {size}", round(product_rss / 2**20), "MB", "< 1 GB", product_rss < 2**30))
    server.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
