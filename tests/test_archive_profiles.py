from datetime import date

import dagster as dg
import pyarrow.parquet as pq
import pytest

from assets.profile_snapshot import SNAPSHOT_MATCHES_READ, profile_snapshot, snapshot_key, take_profile_snapshot
from resources.archive_store import ArchiveStore

SNAPSHOT_DATE = date(2025, 3, 2)


def create_profiles(postgres, users: int) -> None:
    """A user_profiles table with the columns the snapshot reads (replacing distillation's view, if any,
    so the test does not depend on how profiles are stored)."""
    with postgres.connection() as conn:
        kind = conn.execute("SELECT relkind::text FROM pg_class WHERE oid = to_regclass('user_profiles')").fetchone()
        if kind == ("v",):
            conn.execute("DROP VIEW user_profiles")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS user_profiles "
            "(user_id text PRIMARY KEY, profile jsonb NOT NULL, version int NOT NULL, updated_at timestamptz NOT NULL)"
        )
        conn.execute(
            "INSERT INTO user_profiles SELECT 'user-' || lpad(g::text, 7, '0'), "
            "jsonb_build_object('persona', 'foodie', 'cities', jsonb_build_array('Lisbon')), 1 + g %% 3, now() "
            "FROM generate_series(1, %s) g",
            (users,),
        )


def drop_profiles(postgres) -> None:
    with postgres.connection() as conn:
        kind = conn.execute("SELECT relkind::text FROM pg_class WHERE oid = to_regclass('user_profiles')").fetchone()
        if kind == ("v",):
            conn.execute("DROP VIEW user_profiles")
        elif kind == ("r",):
            conn.execute("DROP TABLE user_profiles")


def test_a_snapshot_is_written_once_and_matches_the_table(postgres, tmp_path):
    create_profiles(postgres, 120)
    store = ArchiveStore(root=str(tmp_path))
    result = dg.materialize(
        [profile_snapshot], partition_key=SNAPSHOT_DATE.isoformat(),
        resources={"postgres": postgres, "archive_store": store},
    )
    metadata = result.asset_materializations_for_node("profile_snapshot")[0].metadata
    assert (metadata["status"].value, metadata["rows"].value) == ("written", 120)
    for name in ("bytes", "bytes_per_row", "seconds", "rows_per_second", "uri", "checksum"):
        assert name in metadata
    [check] = result.get_asset_check_evaluations()
    assert (check.check_name, check.passed) == (SNAPSHOT_MATCHES_READ, True)
    table = pq.read_table(tmp_path / snapshot_key(SNAPSHOT_DATE))
    assert table.num_rows == 120 and table.column("user_id").to_pylist() == sorted(table.column("user_id").to_pylist())

    create_profiles(postgres, 0)
    with postgres.connection() as conn:
        conn.execute("DELETE FROM user_profiles")
    again = take_profile_snapshot(postgres, store.open(), SNAPSHOT_DATE)
    assert (again.status, again.rows, again.sha256) == ("already_taken", 120, metadata["checksum"].value)


class LosesRowsOnPublish(ArchiveStore):
    def open(self):
        archive = super().open()
        publish = archive.publish

        def publish_truncated(staging_key, key):
            table = archive.open_parquet(staging_key).read()
            with archive.filesystem.open_output_stream(archive.path(staging_key)) as out:
                pq.write_table(table.slice(0, 3), out)
            return publish(staging_key, key)

        archive.publish = publish_truncated
        return archive


def test_the_snapshot_check_fails_when_the_file_does_not_hold_every_row(postgres, tmp_path):
    create_profiles(postgres, 40)
    result = dg.materialize(
        [profile_snapshot], partition_key=SNAPSHOT_DATE.isoformat(),
        resources={"postgres": postgres, "archive_store": LosesRowsOnPublish(root=str(tmp_path))},
    )
    [check] = result.get_asset_check_evaluations()
    assert not check.passed and check.metadata["rows_in_file"].value == 3
    assert not (tmp_path / snapshot_key(SNAPSHOT_DATE)).exists()
    assert take_profile_snapshot(postgres, ArchiveStore(root=str(tmp_path)).open(), SNAPSHOT_DATE).status == "written"


def test_without_user_profiles_the_snapshot_fails_clearly(postgres, tmp_path):
    drop_profiles(postgres)
    with pytest.raises(dg.Failure, match="user_profiles does not exist"):
        take_profile_snapshot(postgres, ArchiveStore(root=str(tmp_path)).open(), SNAPSHOT_DATE)
