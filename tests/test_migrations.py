import pytest

from resources.migrations import MigrationDriftError, apply_migrations, available_migrations


def test_migrations_apply_once_and_rerun_is_a_no_op(postgres):
    with postgres.connection() as conn:
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]
        assert versions == [m.version for m in available_migrations()]
        assert apply_migrations(conn) == []
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == len(versions)


def test_an_edited_applied_migration_is_refused(postgres):
    with postgres.connection() as conn:
        conn.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = '0001_raw_signals'")
        with pytest.raises(MigrationDriftError, match="0001_raw_signals"):
            apply_migrations(conn)


def test_day_partitions_are_created_on_demand_with_exact_bounds(postgres):
    with postgres.connection() as conn:
        for _ in range(2):
            assert conn.execute("SELECT ensure_raw_signals_partition('2026-03-29')").fetchone()[0] == "raw_signals_20260329"
        bound = conn.execute(
            "SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE relname = 'raw_signals_20260329'"
        ).fetchone()[0]
        assert bound == "FOR VALUES FROM ('2026-03-29 00:00:00+00') TO ('2026-03-30 00:00:00+00')"
        assert conn.execute("SELECT count(*) FROM pg_inherits WHERE inhparent = 'raw_signals'::regclass").fetchone()[0] == 1
