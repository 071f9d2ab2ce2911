"""Subcommands for ingestion and local operation: `ingest`, `dev`, `db`."""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from assets.ingestion import CircuitOpenError, SignalIngestor
from orchestration.settings import Settings
from orchestration.wiring import built_resources
from resources.landing import batch_files_in, received_at_of
from resources.postgres import embedded_server
from resources.sql import load, statement

INSTANCE_CONFIG = Path(__file__).resolve().parent.parent / "deploy" / "dagster.yaml"
DAGSTER_DATABASE = "dagster"


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    ingest = subparsers.add_parser("ingest", help="ingest NDJSON or Parquet batch files (or folders of them)")
    ingest.add_argument("paths", nargs="*", type=Path, help="files or folders of .ndjson/.jsonl/.json/.parquet")
    ingest.add_argument(
        "--received-at", type=datetime.fromisoformat,
        help="receive time for every file (default: the time in the file name, else its modification time)",
    )
    ingest.add_argument("--resume", action="store_true", help="reset the circuit breaker after inspecting rejects")
    ingest.set_defaults(handler=run_ingest)

    dev = subparsers.add_parser("dev", help="start the Dagster UI and daemon on the embedded database")
    dev.add_argument("--port", type=int, default=3000)
    dev.set_defaults(handler=run_dev)

    db = subparsers.add_parser("db", help="the embedded Postgres server: print its URL, or stop it")
    db.add_argument("action", choices=["url", "stop"])
    db.set_defaults(handler=run_db)


def batch_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(batch_files_in(path))
        else:
            files.append(path)
    return files


def run_ingest(args: argparse.Namespace) -> int:
    with built_resources() as resources:
        return ingest_files(resources.ingestor, args)


def ingest_files(ingestor: SignalIngestor, args: argparse.Namespace) -> int:
    if args.resume:
        ingestor.reset_breaker(reset_by=os.environ.get("USER", "cli"))
        print("circuit breaker reset: ingestion accepts batches again")
        if not args.paths:
            return 0
    files = batch_files(args.paths)
    if not files:
        print("nothing to ingest: give batch files or folders", file=sys.stderr)
        return 2
    started = time.perf_counter()
    totals: Counter = Counter()
    reasons: Counter = Counter()
    present = []
    for path in files:
        if path.exists():
            present.append(path)
        else:
            print(f"{path}: no such file", file=sys.stderr)
            totals["missing"] += 1
    done = 0
    try:
        for report in ingestor.ingest_files((path, args.received_at or received_at_of(path)) for path in present):
            for name in ("rows_in", "accepted", "duplicates", "rejected"):
                totals[name] += getattr(report, name)
            reasons.update(report.rejects_by_reason)
            done += len(report.files)
            elapsed = time.perf_counter() - started
            note = " (already ingested)" if report.already_ingested else ""
            print(
                f"[{done}/{len(present)}] {report.source}: {report.accepted} stored, {report.duplicates} duplicates, "
                f"{report.rejected} rejected{note} · {totals['rows_in'] / elapsed:,.0f} rows/s",
                flush=True,
            )
    except CircuitOpenError as error:
        print(f"refused: {error}", file=sys.stderr)
        return 3
    elapsed = time.perf_counter() - started
    print(
        f"{len(files)} files, {totals['rows_in']:,} rows in {elapsed:.1f}s: {totals['accepted']:,} stored, "
        f"{totals['duplicates']:,} duplicates, {totals['rejected']:,} rejected"
        + (f" ({', '.join(f'{r}: {n}' for r, n in reasons.most_common())})" if reasons else "")
    )
    return 1 if totals["missing"] else 0


def dagster_storage_url(url: str, database: str | None = None) -> str:
    """The SQLAlchemy URL dagster-postgres needs: the psycopg2 driver named (SQLAlchemy 2.1 would pick
    psycopg 3, on which its NOTIFY fails), optionally another database on the same server."""
    parsed = make_url(url).set(drivername="postgresql+psycopg2")
    if database:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def dagster_instance_env(settings: Settings, cleanup_mode: str | None = "stop") -> dict[str, str]:
    """DAGSTER_HOME holding deploy/dagster.yaml, and DAGSTER_PG_URL for its Postgres storage.

    An explicit DAGSTER_PG_URL wins; otherwise Dagster gets a `dagster` database, created when
    missing, on the server of DATABASE_URL, or on the embedded server (started if needed).
    """
    settings.dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(INSTANCE_CONFIG, settings.dagster_home / "dagster.yaml")
    if os.environ.get("DAGSTER_PG_URL"):
        url = dagster_storage_url(os.environ["DAGSTER_PG_URL"])
    else:
        server_url = settings.database_url or embedded_server(settings.home / "pg", cleanup_mode).get_uri()
        with psycopg.connect(server_url, autocommit=True) as conn:
            if not conn.execute(load("instance/database_exists"), {"name": DAGSTER_DATABASE}).fetchone()[0]:
                conn.execute(statement("instance/create_database").format(database=sql.Identifier(DAGSTER_DATABASE)))
        url = dagster_storage_url(server_url, DAGSTER_DATABASE)
    return {"DAGSTER_HOME": str(settings.dagster_home), "DAGSTER_PG_URL": url}


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_dev(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    env = dict(os.environ, DISTILLERY_HOME=str(settings.home))
    if not settings.database_url:
        # Started once here and left running, so the UI, daemon and run workers share one server.
        env["DATABASE_URL"] = embedded_server(settings.home / "pg", cleanup_mode=None).get_uri()
    env.update(dagster_instance_env(settings, cleanup_mode=None))
    command = [
        sys.executable, "-m", "dagster", "dev", "-m", "orchestration.definitions",
        "-h", "127.0.0.1", "-p", str(args.port),
    ]
    print(
        f"Dagster UI on http://127.0.0.1:{args.port} (DAGSTER_HOME={settings.dagster_home}, "
        "runs and events in Postgres); Ctrl-C stops it"
    )
    # Its own process group, so one signal stops the webserver, daemon and code server together;
    # SIGTERM (a service manager, a script) takes the same way out as Ctrl-C.
    process = subprocess.Popen(command, env=env, start_new_session=True)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def run_db(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    if settings.database_url:
        print("DATABASE_URL points at an external server; nothing embedded to manage", file=sys.stderr)
        return 2
    server = embedded_server(settings.home / "pg", cleanup_mode=None)
    if args.action == "url":
        print(server.get_uri())
    else:
        server.stop()
        print(f"stopped the embedded server in {settings.home / 'pg'}")
    return 0
