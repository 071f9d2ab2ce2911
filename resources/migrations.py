"""Applies the ordered schema migrations in `dbt_like_sql/migrations/` exactly once.

A small runner rather than a migration library: the schema is plain SQL files, the only
state is one table, and an advisory lock makes concurrent starts (webserver, daemon, run
workers) safe. An edited migration that was already applied is an error, not a silent drift.
"""

import hashlib
from dataclasses import dataclass

import psycopg

from resources.sql import SQL_ROOT, load

MIGRATIONS_DIR = SQL_ROOT / "migrations"


class MigrationDriftError(RuntimeError):
    """An applied migration file was changed after it ran."""


@dataclass(frozen=True)
class Migration:
    version: str
    text: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


def available_migrations() -> list[Migration]:
    return [
        Migration(path.stem, path.read_text())
        for path in sorted(MIGRATIONS_DIR.glob("*.sql"))
    ]


def apply_migrations(conn: psycopg.Connection) -> list[str]:
    """Applies pending migrations in order; returns the versions applied now."""
    applied_now: list[str] = []
    with conn.transaction():
        conn.execute(load("admin/lock_migrations"))
        conn.execute(load("admin/create_schema_migrations"))
        applied = dict(conn.execute(load("admin/applied_migrations")).fetchall())
        for migration in available_migrations():
            if migration.version in applied:
                if applied[migration.version] != migration.checksum:
                    raise MigrationDriftError(
                        f"migration {migration.version} changed after it was applied; "
                        "add a new migration instead of editing an applied one"
                    )
                continue
            conn.execute(migration.text)
            conn.execute(
                load("admin/record_migration"), (migration.version, migration.checksum)
            )
            applied_now.append(migration.version)
    return applied_now
