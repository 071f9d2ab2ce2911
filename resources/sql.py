"""Loads the project's SQL statements from `dbt_like_sql/`, one statement per file."""

from functools import cache
from pathlib import Path

from psycopg import sql

SQL_ROOT = Path(__file__).resolve().parent.parent / "dbt_like_sql"


@cache
def load(name: str) -> str:
    """The text of `dbt_like_sql/<name>.sql`, e.g. `load("ingest/claim_event_ids")`."""
    return (SQL_ROOT / f"{name}.sql").read_text()


def statement(name: str) -> sql.SQL:
    """A composable statement, for files that take identifiers as `{placeholders}`."""
    return sql.SQL(load(name))  # type: ignore[arg-type]  # text comes from our own files
