"""Dagster's own storage in Postgres: the URL form dagster-postgres needs and a run recorded through it."""

import dagster as dg
import psycopg
import pytest
from psycopg import sql

from orchestration.commands import (
    DAGSTER_DATABASE,
    dagster_instance_env,
    dagster_storage_url,
)
from orchestration.settings import Settings


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://app:s3cret@db.internal:5432/distillery", "postgresql+psycopg2://app:s3cret@db.internal:5432/distillery"),
        ("postgres://app@db.internal/distillery?sslmode=require", "postgresql+psycopg2://app@db.internal/distillery?sslmode=require"),
        ("postgresql+psycopg://app@db.internal/distillery", "postgresql+psycopg2://app@db.internal/distillery"),
        ("postgresql://postgres:@/postgres?host=/tmp/dst-1/pg", "postgresql+psycopg2://postgres:@/postgres?host=%2Ftmp%2Fdst-1%2Fpg"),
    ],
)
def test_dagster_gets_the_psycopg2_form_of_any_postgres_url(url, expected):
    assert dagster_storage_url(url) == expected


def test_another_database_on_the_same_server():
    assert dagster_storage_url("postgresql://app:pw@db.internal:6543/postgres", "dagster") == (
        "postgresql+psycopg2://app:pw@db.internal:6543/dagster"
    )


@pytest.fixture
def dagster_database(pg_server):
    yield
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DAGSTER_DATABASE)))


@dg.asset
def tiny() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"rows": 3})


def test_runs_and_events_are_stored_in_a_dagster_database_on_the_products_server(
    database_url, pg_server, tmp_path, monkeypatch, dagster_database
):
    monkeypatch.delenv("DAGSTER_PG_URL", raising=False)
    settings = Settings.from_env({"DISTILLERY_HOME": str(tmp_path), "DATABASE_URL": database_url})
    env = dagster_instance_env(settings)
    assert env["DAGSTER_HOME"] == str(tmp_path / "dagster")
    assert env["DAGSTER_PG_URL"].startswith("postgresql+psycopg2://") and "/dagster?" in env["DAGSTER_PG_URL"]
    assert "postgres_url:\n      env: DAGSTER_PG_URL" in (tmp_path / "dagster" / "dagster.yaml").read_text()
    assert dagster_instance_env(settings) == env  # a second start reuses the database

    monkeypatch.setenv("DAGSTER_PG_URL", env["DAGSTER_PG_URL"])
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        result = dg.materialize([tiny], instance=instance)
        assert result.success
        assert instance.get_latest_materialization_event(tiny.key).asset_materialization.metadata["rows"].value == 3

    with psycopg.connect(pg_server.get_uri(database=DAGSTER_DATABASE)) as conn:
        stored = conn.execute("SELECT run_id, status FROM runs").fetchall()
        events = conn.execute("SELECT count(*) FROM event_logs WHERE run_id = %s", (result.run_id,)).fetchone()[0]
    assert stored == [(result.run_id, "SUCCESS")] and events > 5


def test_an_explicit_dagster_pg_url_wins_and_is_put_in_the_psycopg2_form(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_PG_URL", "postgresql://dagster:pw@dagster-db.internal/dagster")
    settings = Settings.from_env({"DISTILLERY_HOME": str(tmp_path), "DATABASE_URL": "postgresql://app@db.internal/app"})
    assert dagster_instance_env(settings)["DAGSTER_PG_URL"] == "postgresql+psycopg2://dagster:pw@dagster-db.internal/dagster"
