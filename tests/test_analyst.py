import argparse
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from assets.profile_snapshot import take_profile_snapshot
from assets.signal_archive import archive_day
from orchestration.analyst import AnalystError, connect, register_cli, run_query, write_analyst_db
from resources.archive_store import ArchiveStore
from tests.archive_support import fill_day
from tests.s3_server import s3_archive_store, s3_endpoint, s3_resource  # noqa: F401
from tests.test_archive_profiles import create_profiles

DOCS = Path(__file__).resolve().parent.parent / "README.md"
TODAY = datetime.now(UTC).date()
DAYS = [TODAY - timedelta(days=n) for n in (3, 2, 1)]
ROWS_PER_DAY = 2000


def documented_queries() -> list[str]:
    return re.findall(r"```sql\n(.*?)```", DOCS.read_text(), flags=re.S)


def archive_sample(postgres, store: ArchiveStore) -> ArchiveStore:
    archive = store.open()
    for seed, day in enumerate(DAYS, start=1):
        fill_day(postgres, day, ROWS_PER_DAY, users=100, seed=seed)
        archive_day(postgres, archive, day)
    create_profiles(postgres, 100)
    take_profile_snapshot(postgres, archive, TODAY)
    return store


@pytest.fixture(params=["local", "s3"])
def archived(request, postgres, tmp_path) -> ArchiveStore:
    if request.param == "s3":
        return archive_sample(postgres, request.getfixturevalue("s3_archive_store"))
    return archive_sample(postgres, ArchiveStore(root=str(tmp_path / "archive")))


@pytest.fixture
def archived_locally(postgres, tmp_path) -> ArchiveStore:
    return archive_sample(postgres, ArchiveStore(root=str(tmp_path / "archive")))


def test_the_views_show_every_archived_signal_and_profile(archived):
    conn, views = connect(archived)
    assert views == ["signals", "profiles"]
    assert conn.execute("SELECT count(*), count(DISTINCT day), min(day), typeof(min(day)) FROM signals").fetchone() == (
        3 * ROWS_PER_DAY, 3, DAYS[0], "DATE"
    )
    assert conn.execute("SELECT count(*), max(snapshot_date) FROM profiles").fetchone() == (100, TODAY)
    assert conn.execute("SELECT typeof(event_id), typeof(props) FROM signals LIMIT 1").fetchone() == ("UUID", "JSON")


def test_every_documented_example_query_runs_and_returns_rows(archived, tmp_path):
    queries = documented_queries()
    assert len(queries) == 5
    for number, query in enumerate(queries):
        output = tmp_path / f"example-{number}.csv"
        assert run_query(archived, query, "csv", output) == 0
        assert pacsv.read_csv(output).num_rows > 0, query


def test_outputs_as_table_csv_and_parquet(archived_locally, tmp_path, capsys):
    archived = archived_locally
    query = "SELECT event_type, count(*) AS events FROM signals GROUP BY ALL ORDER BY events DESC"
    run_query(archived, query)
    assert "event_type" in capsys.readouterr().out
    run_query(archived, query, "csv")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == '"event_type","events"' and len(lines) == 9
    run_query(archived, query, "parquet", tmp_path / "out.parquet")
    assert pq.read_table(tmp_path / "out.parquet").column("events").to_pylist()[0] > 0


@pytest.mark.parametrize(
    "statement",
    [
        "COPY (SELECT * FROM signals) TO '/tmp/stolen.csv'",
        "CREATE TABLE t AS SELECT * FROM signals",
        "SELECT 1; SELECT 2",
        "ATTACH 'other.duckdb'",
    ],
)
def test_only_read_only_queries_run(tmp_path, statement):
    with pytest.raises(AnalystError):
        run_query(ArchiveStore(root=str(tmp_path)), statement)


def test_a_query_on_an_empty_archive_says_so(tmp_path):
    with pytest.raises(AnalystError, match="nothing archived yet for: profiles, signals"):
        run_query(ArchiveStore(root=str(tmp_path)), "SELECT count(*) FROM signals")


def test_analyst_db_holds_the_views_for_any_duckdb_client(postgres, tmp_path):
    store = ArchiveStore(root=str(tmp_path / "archive"))
    fill_day(postgres, DAYS[0], 500)
    archive_day(postgres, store.open(), DAYS[0])
    path = tmp_path / "analyst.duckdb"

    assert write_analyst_db(store, path) == ["signals"]
    with duckdb.connect(str(path), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM signals").fetchone() == (500,)


def test_analyst_db_refuses_s3_and_empty_archives_with_a_clear_message(tmp_path):
    with pytest.raises(AnalystError, match="local archive root"):
        write_analyst_db(ArchiveStore(root="s3://bucket/prefix"), tmp_path / "a.duckdb")
    with pytest.raises(AnalystError, match="nothing archived yet"):
        write_analyst_db(ArchiveStore(root=str(tmp_path / "empty")), tmp_path / "a.duckdb")
    assert not (tmp_path / "a.duckdb").exists()


def test_the_cli_commands(postgres, tmp_path, monkeypatch, capsys):
    root = tmp_path / "archive"
    fill_day(postgres, DAYS[0], 300)
    archive_day(postgres, ArchiveStore(root=str(root)).open(), DAYS[0])
    monkeypatch.setenv("DISTILLERY_ARCHIVE_ROOT", str(root))
    parser = argparse.ArgumentParser()
    register_cli(parser.add_subparsers(dest="command", required=True))

    args = parser.parse_args(["query", "SELECT count(*) AS n FROM signals", "--format", "csv"])
    assert args.handler(args) == 0
    assert capsys.readouterr().out.splitlines() == ['"n"', "300"]
    args = parser.parse_args(["query", "DROP TABLE signals"])
    assert args.handler(args) == 2
    assert "only read-only queries" in capsys.readouterr().err
    args = parser.parse_args(["analyst-db", str(tmp_path / "a.duckdb")])
    assert args.handler(args) == 0
    assert "views signals" in capsys.readouterr().out
