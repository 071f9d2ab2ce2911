import threading
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import psycopg
import pyarrow.parquet as pq
import pytest

from assets.retention import (
    DEFAULT_TABLE_POLICIES,
    NO_DAY_HELD,
    WITHIN_CAPACITY,
    TablePolicy,
    apply_table_policy,
    drop_expired_signal_days,
    retention,
)
from assets.signal_archive import ARCHIVES_INTACT, archive_day, archive_key, archives_intact, signal_archive
from orchestration.retention_sensors import retention_job
from resources.archive_store import ArchiveStore
from tests.archive_support import fill_day, manifest, mark_distilled

TODAY = datetime.now(UTC).date()


def day_tables(postgres) -> list[str]:
    with postgres.connection() as conn:
        return [row[0] for row in conn.execute(
            "SELECT relname FROM pg_class WHERE relkind = 'r' AND relname ~ '^raw_signals_[0-9]{8}$' ORDER BY 1"
        )]


def ledger_days(postgres) -> dict[date, int]:
    with postgres.connection() as conn:
        return dict(conn.execute("SELECT received_on, count(*) FROM signal_ledger GROUP BY 1 ORDER BY 1").fetchall())


def fill_with_ledger(postgres, day: date, rows: int, seed: int = 1) -> None:
    fill_day(postgres, day, rows, seed=seed)
    with postgres.connection() as conn:
        conn.execute(
            "INSERT INTO signal_ledger SELECT event_id, received_at::date FROM raw_signals WHERE received_at::date = %s",
            (day,),
        )


@pytest.fixture
def store(tmp_path) -> ArchiveStore:
    return ArchiveStore(root=str(tmp_path / "archive"))


def ago(days: int) -> date:
    return TODAY - timedelta(days=days)


def test_only_verified_and_distilled_days_past_the_window_are_dropped(postgres, store):
    archive = store.open()
    for age in (20, 18, 16, 15, 3):
        fill_with_ledger(postgres, ago(age), 300, seed=age)
    for age in (20, 18, 3):
        archive_day(postgres, archive, ago(age))
    mark_distilled(postgres, ago(20), ago(16), ago(3))

    report = drop_expired_signal_days(postgres, archive, hot_days=14, today=TODAY)

    assert report.dropped == [ago(20)]
    assert report.held == {
        ago(18).isoformat(): "not distilled into profiles",
        ago(16).isoformat(): "not archived",
        ago(15).isoformat(): "not archived",
    }
    assert f"raw_signals_{ago(20):%Y%m%d}" not in day_tables(postgres)
    assert len(day_tables(postgres)) == 4
    assert manifest(postgres)[ago(20)]["dropped"]
    assert ago(20) not in ledger_days(postgres) and ledger_days(postgres)[ago(18)] == 300
    assert drop_expired_signal_days(postgres, archive, hot_days=14, today=TODAY).dropped == []


def test_an_unverified_archive_is_never_dropped(postgres, store):
    archive = store.open()
    fill_day(postgres, ago(30), 200)
    archive_day(postgres, archive, ago(30))
    mark_distilled(postgres, ago(30))
    with postgres.connection() as conn:
        conn.execute("UPDATE archive_manifest SET verified_at = NULL")
    with pytest.raises(psycopg.errors.CheckViolation), postgres.connection() as conn:
        conn.execute("UPDATE archive_manifest SET dropped_at = now()")

    report = drop_expired_signal_days(postgres, archive, hot_days=14, today=TODAY)
    assert report.held == {ago(30).isoformat(): "archive not verified"}
    assert len(day_tables(postgres)) == 1


def test_a_missing_archive_holds_the_day_even_when_the_manifest_says_verified(postgres, store):
    archive = store.open()
    fill_day(postgres, ago(30), 200)
    archive_day(postgres, archive, ago(30))
    mark_distilled(postgres, ago(30))
    archive.delete(archive_key(ago(30)))

    report = drop_expired_signal_days(postgres, archive, hot_days=14, today=TODAY)
    assert report.held == {ago(30).isoformat(): "archive missing"}
    assert len(day_tables(postgres)) == 1


def test_a_half_finished_detach_is_finished_on_the_next_run(postgres, store):
    archive = store.open()
    for age in (30, 29):
        fill_day(postgres, ago(age), 100, seed=age)
        archive_day(postgres, archive, ago(age))
        mark_distilled(postgres, ago(age))
    pending, detached = f"raw_signals_{ago(30):%Y%m%d}", f"raw_signals_{ago(29):%Y%m%d}"
    leave_detach_pending(postgres, pending)
    with postgres.connection() as conn:
        conn.execute(f"ALTER TABLE raw_signals DETACH PARTITION {detached}")

    report = drop_expired_signal_days(postgres, archive, hot_days=14, today=TODAY)
    assert report.dropped == [ago(30), ago(29)]
    assert day_tables(postgres) == []


def leave_detach_pending(postgres, partition: str) -> None:
    """A DETACH CONCURRENTLY cancelled in its second phase, as a killed run leaves it."""
    reader = psycopg.connect(postgres.conninfo)
    reader.execute("SELECT count(*) FROM raw_signals")  # holds a snapshot the detach must wait for
    detacher = psycopg.connect(postgres.conninfo, autocommit=True)
    pid = detacher.info.backend_pid
    failure: list[Exception] = []

    def detach():
        try:
            detacher.execute(f"ALTER TABLE raw_signals DETACH PARTITION {partition} CONCURRENTLY")
        except psycopg.errors.QueryCanceled as error:
            failure.append(error)

    thread = threading.Thread(target=detach)
    thread.start()
    with psycopg.connect(postgres.conninfo, autocommit=True) as admin:
        while not admin.execute(
            "SELECT bool_or(inhdetachpending) FROM pg_inherits WHERE inhparent = 'raw_signals'::regclass"
        ).fetchone()[0]:
            pass
        admin.execute("SELECT pg_cancel_backend(%s)", (pid,))
    thread.join()
    reader.close()
    detacher.close()
    assert failure


def test_the_asset_drops_and_its_held_day_check_passes_or_fails(postgres, store):
    archive = store.open()
    fill_with_ledger(postgres, ago(20), 250)
    archive_day(postgres, archive, ago(20))
    mark_distilled(postgres, ago(20))
    resources = {"postgres": postgres, "archive_store": store}

    result = dg.materialize([retention], resources=resources)
    metadata = result.asset_materializations_for_node("retention")[0].metadata
    assert metadata["days_dropped"].value == 1 and metadata["signal_rows_dropped"].value == 250
    assert metadata["ledger_rows_deleted"].value == 250
    assert {c.check_name: c.passed for c in result.get_asset_check_evaluations()} == {NO_DAY_HELD: True, WITHIN_CAPACITY: True}

    fill_day(postgres, ago(19), 100)
    result = dg.materialize([retention], resources=resources)
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert not checks[NO_DAY_HELD].passed
    assert checks[NO_DAY_HELD].metadata["held"].value == {ago(19).isoformat(): "not archived"}

    result = dg.materialize(
        [retention], resources=resources,
        run_config={"ops": {"retention": {"config": {"trigger": "capacity", "hot_days": 3}}}},
    )
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert not checks[WITHIN_CAPACITY].passed and checks[WITHIN_CAPACITY].severity == dg.AssetCheckSeverity.WARN


def test_the_blocking_archive_check_stops_retention_when_an_archive_is_gone(postgres, store):
    archive = store.open()
    fill_day(postgres, ago(20), 100)
    archive_day(postgres, archive, ago(20))
    mark_distilled(postgres, ago(20))
    archive.delete(archive_key(ago(20)))
    defs = dg.Definitions(
        assets=[signal_archive, retention], asset_checks=[archives_intact], jobs=[retention_job],
        resources={"postgres": postgres, "archive_store": store},
    )
    result = defs.resolve_job_def("retention_job").execute_in_process(raise_on_error=False)

    assert not result.success
    [check] = result.get_asset_check_evaluations()
    assert (check.check_name, check.passed) == (ARCHIVES_INTACT, False)
    assert result.asset_materializations_for_node("retention") == []
    assert len(day_tables(postgres)) == 1


def create_chat_messages(postgres, now: datetime) -> None:
    with postgres.connection() as conn:
        conn.execute(
            "CREATE TABLE chat_messages (id bigint GENERATED ALWAYS AS IDENTITY, conversation_id int, sent_at timestamptz, body text)"
        )
        # conversation 1 idle for a year, 2 active yesterday: 150 messages each
        conn.execute(
            "INSERT INTO chat_messages (conversation_id, sent_at, body) "
            "SELECT c, %s - make_interval(days => CASE c WHEN 1 THEN 365 ELSE 1 END, mins => g), 'message ' || g "
            "FROM generate_series(1, 2) c, generate_series(1, 150) g",
            (now,),
        )


def test_keep_last_per_key_archives_exactly_the_rows_it_deletes(postgres, store):
    now = datetime.now(UTC)
    create_chat_messages(postgres, now)
    policy = TablePolicy(
        table="chat_messages", method="keep_last_per_key", time_column="sent_at", key_column="conversation_id",
        keep_last=100, inactive_days=180, archive=True, batch_rows=20,
    )
    outcome = apply_table_policy(postgres, store.open(), policy, now)

    assert (outcome.rows_removed, outcome.rows_archived, outcome.files_archived) == (50, 50, 3)
    with postgres.connection() as conn:
        kept = dict(conn.execute("SELECT conversation_id, count(*) FROM chat_messages GROUP BY 1").fetchall())
        oldest_kept = conn.execute("SELECT max(id) FROM chat_messages WHERE conversation_id = 1").fetchone()[0]
    assert kept == {1: 100, 2: 150}
    archived = pq.read_table(store.open().path("tables/chat_messages"))
    assert archived.num_rows == 50 and set(archived.column("conversation_id").to_pylist()) == {1}
    assert min(archived.column("id").to_pylist()) > oldest_kept - 150
    assert apply_table_policy(postgres, store.open(), policy, now).rows_removed == 0


def test_time_based_deletes_and_missing_tables(postgres, store):
    now = datetime.now(UTC)
    with postgres.connection() as conn:
        conn.execute(
            "INSERT INTO signal_rejects (source, received_at, reason, detail, raw) "
            "SELECT 'test', %s - make_interval(days => g), 'bad_type', '', '{}' FROM generate_series(1, 60) g",
            (now,),
        )
    outcomes = [apply_table_policy(postgres, store.open(), p, now) for p in DEFAULT_TABLE_POLICIES]
    webhooks = TablePolicy(table="payment_webhooks", method="delete_older", time_column="received_at", keep_days=90)
    outcomes.append(apply_table_policy(postgres, store.open(), webhooks, now))
    assert [(o.table, o.status, o.rows_removed) for o in outcomes] == [
        ("signal_rejects", "applied", 30), ("ingest_batches", "applied", 0), ("llm_usage", "applied", 0),
        ("payment_webhooks", "missing", 0),
    ]


def test_partition_drop_policy_archives_then_drops_whole_expired_partitions(postgres, store):
    now = datetime(2025, 6, 10, tzinfo=UTC)
    with postgres.connection() as conn:
        conn.execute("CREATE TABLE app_logs (at timestamptz NOT NULL, line text) PARTITION BY RANGE (at)")
        for month in (3, 4, 5, 6):
            conn.execute(
                f"CREATE TABLE app_logs_2025_0{month} PARTITION OF app_logs "
                f"FOR VALUES FROM ('2025-0{month}-01') TO ('2025-0{month + 1}-01')"
            )
        conn.execute(
            "INSERT INTO app_logs SELECT t, 'line' FROM generate_series('2025-03-01'::timestamptz, '2025-06-10', '1 hour') t"
        )
    policy = TablePolicy(table="app_logs", method="drop_partitions", time_column="at", keep_days=30, archive=True)
    outcome = apply_table_policy(postgres, store.open(), policy, now)

    assert (outcome.partitions_dropped, outcome.rows_archived) == (2, (31 + 30) * 24)
    with postgres.connection() as conn:
        assert conn.execute("SELECT min(at) FROM app_logs").fetchone()[0] == datetime(2025, 5, 1, tzinfo=UTC)
    assert pq.read_table(store.open().path("tables/app_logs")).num_rows == (31 + 30) * 24


class DiesAfterPublishing(ArchiveStore):
    """Publishes a file, then dies before the deleting transaction commits."""

    def open(self):
        archive = super().open()
        publish = archive.publish

        def publish_then_die(staging_key, key):
            publish(staging_key, key)
            raise RuntimeError("killed after publishing")

        archive.publish = publish_then_die
        return archive


def test_a_table_archive_file_left_by_a_killed_run_is_removed_and_its_rows_archived_once(postgres, tmp_path):
    now = datetime.now(UTC)
    create_chat_messages(postgres, now)
    policy = TablePolicy(
        table="chat_messages", method="keep_last_per_key", time_column="sent_at", key_column="conversation_id",
        keep_last=100, archive=True,
    )
    root = str(tmp_path / "archive")
    with pytest.raises(RuntimeError, match="killed"):
        apply_table_policy(postgres, DiesAfterPublishing(root=root).open(), policy, now)
    store = ArchiveStore(root=root)
    assert len(store.open().list_files("tables")) == 1

    outcome = apply_table_policy(postgres, store.open(), policy, now)
    assert outcome.rows_archived == 100
    archived = pq.read_table(store.open().path("tables/chat_messages"))
    assert archived.num_rows == 100 and len(set(archived.column("id").to_pylist())) == 100
