"""Test fixtures: one real embedded Postgres per test session, a fresh database per test."""

import shutil
import tempfile
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from resources.postgres import PostgresResource, close_pools, embedded_server

pytest_plugins = ["tests.fake_gemini"]


@pytest.fixture(scope="session")
def pg_server():
    # Under /tmp with a short name: the server's Unix socket path must stay under ~100 bytes.
    home = Path(tempfile.mkdtemp(prefix="dst-"))
    server = embedded_server(home / "pg", cleanup_mode="stop")
    yield server
    close_pools()
    server.cleanup()
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def database_url(pg_server) -> str:
    """A new, empty database on the session's server; dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin_uri = pg_server.get_uri()
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield pg_server.get_uri(database=name)
    close_pools()
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def postgres(database_url, tmp_path) -> PostgresResource:
    return PostgresResource(database_url=database_url, home=str(tmp_path / "home"))
