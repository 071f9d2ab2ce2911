"""Archive and retention killed (SIGKILL) at each step and at random moments, then re-run.

After every kill: each file readers can see under signals/ is complete, and no day has left Postgres
without a verified archive. After the re-run: every signal is either still in Postgres or in the
archive of a dropped day, exactly once, and no staging file or incomplete upload is left.
"""

import multiprocessing
import os
import random
import signal
import time
from datetime import date

import psycopg
import pytest
from psycopg import sql

from assets.retention import drop_expired_signal_days
from assets.signal_archive import archive_day, archive_key
from resources.archive_store import STAGING, ArchiveStore
from resources.postgres import PostgresResource
from tests.archive_support import fill_day, mark_distilled
from tests.s3_server import incomplete_uploads, s3_archive_store, s3_endpoint, s3_resource  # noqa: F401

DAYS = [date(2025, 3, 1), date(2025, 3, 2), date(2025, 3, 3)]
TODAY = date(2025, 3, 5)
HOT_DAYS = 3  # 2025-03-01 and 03-02 are past the window; 03-03 stays
DROPPED = DAYS[:2]
ROWS = 2500
ARCHIVE_STEPS = ["locked", "cleaned", "sealed", "fingerprinted", "staged", "published", "recorded", "verified"]
RETENTION_STEPS = ["locked", "detached", "dropped", "ledger_batch", "ledger_cleared"]
ALL_STEPS = [f"archive:{s}" for s in ARCHIVE_STEPS] + [f"retention:{s}" for s in RETENTION_STEPS]
# The steps around which S3 behaves differently from a local folder (each S3 run is slow on moto).
S3_STEPS = ["archive:staged", "archive:published", "archive:verified", "retention:detached"]


def run_cycle(database_url: str, store: ArchiveStore, on_step=lambda step: None) -> None:
    """One night's work: archive every day, then retention."""
    postgres = PostgresResource(database_url=database_url)
    archive = store.open()
    for day in DAYS:
        archive_day(postgres, archive, day, on_step=lambda step: on_step(f"archive:{step}"))
    drop_expired_signal_days(
        postgres, archive, HOT_DAYS, TODAY, ledger_batch_rows=2500, on_step=lambda step: on_step(f"retention:{step}")
    )


def _die_at(target: str):
    def on_step(step: str) -> None:
        if step == target:
            os.kill(os.getpid(), signal.SIGKILL)

    return on_step


def _child(database_url: str, store: ArchiveStore, target: str | None) -> None:
    run_cycle(database_url, store, _die_at(target) if target else lambda step: None)


def run_in_child(database_url: str, store: ArchiveStore, die_at: str | None = None, kill_after: float | None = None) -> float:
    """Runs a cycle in a forked process, killed with SIGKILL at a step or after some seconds; returns its duration."""
    started = time.perf_counter()
    process = multiprocessing.get_context("fork").Process(target=_child, args=(database_url, store, die_at))
    process.start()
    process.join(kill_after)
    if process.is_alive():
        os.kill(process.pid, signal.SIGKILL)
        process.join()
    return time.perf_counter() - started


@pytest.fixture
def seeded(postgres) -> tuple[str, list[str]]:
    """The three days of signals, kept aside in seed_signals so `reset` can restore them quickly."""
    for seed, day in enumerate(DAYS, start=1):
        fill_day(postgres, day, ROWS, seed=seed)
    mark_distilled(postgres, *DAYS)
    with postgres.connection() as conn:
        conn.execute("CREATE TABLE seed_signals AS SELECT * FROM raw_signals")
        original = sorted(str(row[0]) for row in conn.execute("SELECT event_id FROM seed_signals"))
    return postgres.database_url, original


def reset(database_url: str) -> None:
    """Back to the seeded state: the day tables as ingestion left them, no manifest, a full ledger."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        for day in DAYS:
            table = sql.Identifier(f"raw_signals_{day:%Y%m%d}")
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
            conn.execute("SELECT ensure_raw_signals_partition(%s)", (day,))
        conn.execute("TRUNCATE archive_manifest, signal_ledger")
        conn.execute("INSERT INTO raw_signals SELECT * FROM seed_signals")
        conn.execute("INSERT INTO signal_ledger SELECT event_id, received_at::date FROM seed_signals")


def state(database_url: str) -> tuple[set[date], dict[date, tuple[int, bool, bool]]]:
    with psycopg.connect(database_url) as conn:
        tables = {
            date.fromisoformat(f"{n[12:16]}-{n[16:18]}-{n[18:]}")
            for (n,) in conn.execute("SELECT relname FROM pg_class WHERE relkind = 'r' AND relname ~ '^raw_signals_[0-9]{8}$'")
        }
        manifest = {
            day: (rows, verified, dropped)
            for day, rows, verified, dropped in conn.execute(
                "SELECT day, rows, verified_at IS NOT NULL, dropped_at IS NOT NULL FROM archive_manifest"
            )
        }
    return tables, manifest


def assert_safe_after_kill(database_url: str, store: ArchiveStore) -> None:
    archive = store.open()
    tables, manifest = state(database_url)
    for day in DAYS:
        if day not in tables:
            rows, verified, dropped = manifest[day]
            assert verified and dropped, f"{day} left Postgres without a verified archive"
            assert archive.open_parquet(archive_key(day)).metadata.num_rows == rows
    visible = [key for key in archive.list_files("signals") if key.endswith(".parquet")]
    assert all(key in {archive_key(day) for day in DAYS} for key in visible), visible
    with psycopg.connect(database_url) as conn:
        for key in visible:
            day = date.fromisoformat(key.split("day=")[1][:10])
            rows = archive.open_parquet(key).metadata.num_rows
            if day in tables:
                partition = sql.Identifier(f"raw_signals_{day:%Y%m%d}")
                expected = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(partition)).fetchone()[0]
            else:
                expected = manifest[day][0]
            assert rows == expected, f"partial or stale archive visible for {day}"


def assert_nothing_lost(database_url: str, store: ArchiveStore, original: list[str]) -> None:
    archive = store.open()
    tables, manifest = state(database_url)
    assert tables == set(DAYS) - set(DROPPED)
    assert {day: m[1:] for day, m in manifest.items()} == {
        day: (True, day in DROPPED) for day in DAYS
    }
    with psycopg.connect(database_url) as conn:
        live = [str(row[0]) for row in conn.execute("SELECT event_id FROM raw_signals")]
        assert conn.execute(
            "SELECT count(*) FROM signal_ledger WHERE received_on = ANY(%s)", (DROPPED,)
        ).fetchone()[0] == 0
    archived = [
        str(event_id)
        for day in DROPPED
        for event_id in archive.open_parquet(archive_key(day)).read(columns=["event_id"]).column(0).to_pylist()
    ]
    assert len(live) + len(archived) == len(original)
    assert sorted(live + archived) == original
    assert archive.list_files(STAGING) == []
    if archive.is_s3:
        assert incomplete_uploads(store) == []


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path) -> ArchiveStore:
    if request.param == "local":
        return ArchiveStore(root=str(tmp_path / "archive"))
    return request.getfixturevalue("s3_archive_store")


def attempt_store(store: ArchiveStore, tmp_path, attempt: str) -> ArchiveStore:
    """A fresh archive root for each attempt, on the same backend."""
    if store.is_s3:
        return ArchiveStore(root=f"{store.root}-{attempt}", s3=store.s3)
    return ArchiveStore(root=str(tmp_path / f"archive-{attempt}"))


def test_killed_at_each_step_then_rerun_loses_nothing(seeded, store, tmp_path):
    url, original = seeded
    for step in S3_STEPS if store.is_s3 else ALL_STEPS:
        reset(url)
        attempt = attempt_store(store, tmp_path, step.replace(":", "-"))
        run_in_child(url, attempt, die_at=step)
        assert_safe_after_kill(url, attempt)
        run_cycle(url, attempt)
        assert_nothing_lost(url, attempt, original)


def test_killed_at_random_moments_then_rerun_loses_nothing(seeded, store, tmp_path):
    url, original = seeded
    rng = random.Random(20250301)
    duration = run_in_child(url, store)
    for number in range(20 if not store.is_s3 else 2):
        reset(url)
        attempt = attempt_store(store, tmp_path, str(number))
        run_in_child(url, attempt, kill_after=rng.uniform(0.05, duration))
        assert_safe_after_kill(url, attempt)
        run_cycle(url, attempt)
        assert_nothing_lost(url, attempt, original)
