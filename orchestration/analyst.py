"""Analyst access: DuckDB over the archives, as one command (`distillery query`) or one file (`analyst-db`).

Views: `signals` (signals/day=YYYY-MM-DD/, schema in docs/archive.md) and `profiles`
(profiles/snapshot_date=YYYY-MM-DD/). Local archives are read with DuckDB's read_parquet; S3 archives
through a registered pyarrow dataset, which needs no DuckDB extension and works offline. Only
read-only statements run, so a query can never write into the archive.
"""

import argparse
import sys
from contextlib import nullcontext
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from dagster_aws.s3 import S3Resource

from orchestration.settings import Settings
from resources.archive_store import Archive, ArchiveStore
from resources.sql import load

# view name -> (folder under the archive root, hive partition column)
DATASETS = {"signals": ("signals", "day"), "profiles": ("profiles", "snapshot_date")}
READ_ONLY_STATEMENTS = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}


class AnalystError(Exception):
    """A query or archive the analyst tools refuse, with a message meant for the analyst."""


def archive_store(settings: Settings, root: str | None = None) -> ArchiveStore:
    """The configured archive (or `root` instead); S3 endpoint and region come from the AWS variables."""
    root = root or settings.archive
    s3 = None
    if root.startswith("s3://"):
        env = settings.environ
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None
        s3 = S3Resource(endpoint_url=env.get("AWS_ENDPOINT_URL") or None, region_name=region)
    return ArchiveStore(root=root, s3=s3)


def duckdb_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def connect(store: ArchiveStore, database: str = ":memory:") -> tuple[duckdb.DuckDBPyConnection, list[str]]:
    """A DuckDB connection with a view per archived dataset; returns it with the views it could create."""
    archive = store.open()
    conn = duckdb.connect(database)
    created = []
    for view, (folder, partition_column) in DATASETS.items():
        if not archive.list_files(folder):
            continue
        if archive.is_s3:
            conn.register(view, _s3_dataset(archive, folder, partition_column))
        else:
            files = duckdb_literal(f"{archive.path(folder)}/*/*.parquet")
            conn.execute(load("analyst/dataset_view").format(view=view, files=files))
        created.append(view)
    return conn, created


def _s3_dataset(archive: Archive, folder: str, partition_column: str) -> ds.Dataset:
    partitioning = ds.partitioning(pa.schema([(partition_column, pa.date32())]), flavor="hive")
    return ds.dataset(archive.path(folder), filesystem=archive.filesystem, format="parquet", partitioning=partitioning)


def read_only_query(conn: duckdb.DuckDBPyConnection, query: str) -> duckdb.DuckDBPyRelation:
    statements = conn.extract_statements(query)
    if len(statements) != 1:
        raise AnalystError(f"give exactly one SQL statement, not {len(statements)}")
    if statements[0].type not in READ_ONLY_STATEMENTS:
        raise AnalystError(f"only read-only queries (SELECT, EXPLAIN) run over the archive, not {statements[0].type.name}")
    return conn.sql(query)


def run_query(store: ArchiveStore, query: str, output_format: str = "table", output: Path | None = None, max_rows: int = 1000) -> int:
    conn, views = connect(store)
    try:
        relation = read_only_query(conn, query)
    except duckdb.CatalogException as error:
        missing = sorted(set(DATASETS) - set(views))
        hint = f" (nothing archived yet for: {', '.join(missing)})" if missing else ""
        raise AnalystError(f"{error}{hint}") from error
    if output_format == "table":
        relation.show(max_rows=max_rows, max_width=200)
        return 0
    reader = relation.to_arrow_reader(64 * 1024)
    if output_format == "parquet":
        if output is None:
            raise AnalystError("--format parquet needs --output FILE")
        with pq.ParquetWriter(output, reader.schema, compression="zstd") as writer:
            for batch in reader:
                writer.write_batch(batch)
        return 0
    sys.stdout.flush()
    sink = pa.OSFile(str(output), "wb") if output else nullcontext(pa.PythonFile(sys.stdout.buffer, mode="w"))
    with sink as stream, pacsv.CSVWriter(stream, reader.schema) as writer:
        for batch in reader:
            writer.write_batch(batch)
    sys.stdout.flush()
    return 0


def write_analyst_db(store: ArchiveStore, path: Path) -> list[str]:
    """A DuckDB file with the archive's views, for the DuckDB CLI or a SQL IDE; returns the views written."""
    if store.is_s3:
        raise AnalystError(
            "analyst-db writes views over a local archive root; for S3 use `distillery query`, or in DuckDB with "
            "the httpfs extension: read_parquet('s3://…/signals/*/*.parquet', hive_partitioning = true)"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    conn, views = connect(store, str(path))
    conn.close()
    if not views:
        path.unlink(missing_ok=True)
        raise AnalystError(f"nothing archived yet under {store.root}")
    return views


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    query = subparsers.add_parser("query", help="run a read-only DuckDB SQL query over the archives (views: signals, profiles)")
    query.add_argument("sql", help='e.g. "SELECT event_type, count(*) FROM signals GROUP BY ALL"')
    query.add_argument("--format", choices=["table", "csv", "parquet"], default="table")
    query.add_argument("--output", type=Path, help="write csv or parquet here (csv defaults to stdout)")
    query.add_argument("--max-rows", type=int, default=1000, help="rows shown in table format")
    query.add_argument("--archive-root", help="local folder or s3://bucket/prefix (default: $DISTILLERY_ARCHIVE_ROOT)")
    query.set_defaults(handler=_query_command)

    analyst_db = subparsers.add_parser("analyst-db", help="write a DuckDB file with views over the archives")
    analyst_db.add_argument("path", type=Path)
    analyst_db.add_argument("--archive-root", help="local archive folder (default: $DISTILLERY_ARCHIVE_ROOT)")
    analyst_db.set_defaults(handler=_analyst_db_command)


def _store(args: argparse.Namespace) -> ArchiveStore:
    return archive_store(Settings.from_env(), args.archive_root)


def _query_command(args: argparse.Namespace) -> int:
    try:
        return run_query(_store(args), args.sql, args.format, args.output, args.max_rows)
    except (AnalystError, duckdb.Error) as error:
        print(f"query failed: {error}", file=sys.stderr)
        return 2


def _analyst_db_command(args: argparse.Namespace) -> int:
    try:
        views = write_analyst_db(_store(args), args.path)
    except AnalystError as error:
        print(f"analyst-db: {error}", file=sys.stderr)
        return 2
    print(f"{args.path}: views {', '.join(views)}; open it with `duckdb -readonly {args.path}`")
    return 0
