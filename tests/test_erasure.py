"""Right to erasure: a user seeded in every store and archive is forgotten, and nobody else loses a row."""

import hashlib
import io
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import assets.erasure as erasure_module
from assets.erasure import (
    ERASED_USERS_LEAVE_NO_ROWS,
    OTHER_USERS_ROWS_KEPT,
    check_no_erased_user_in_live_stores,
    check_requests_within_cycle,
    erase_pending,
    erasure_log,
)
from assets.ingestion import SignalIngestor
from assets.profile_snapshot import take_profile_snapshot
from assets.retention import TablePolicy, apply_table_policy, drop_expired_signal_days
from assets.signal_archive import archive_day, archive_key, archives_intact
from assets.user_profiles import DistillerResource
from resources.archive_store import Archive, ArchiveStore
from resources.erasure import ErasurePolicy, SaltMismatchError
from resources.gemini import GeminiResource
from resources.sql import load
from tests.s3_server import s3_archive_store, s3_endpoint, s3_resource  # noqa: F401

SALT = "test-salt-6f1c0e9a4b7d2358"
DAYS = [date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)]
USERS = [f"u_{n:02d}" for n in range(12)]
ERASED = ["u_03", "u_07"]
UNKNOWN = "ghost-never-seen"
EVENT_TYPES = ["view", "view", "click", "save", "search", "book", "chat_message"]


@pytest.fixture
def versioned_s3_store(request) -> ArchiveStore:
    """A fresh bucket on moto with object versioning on: replaced and deleted objects keep old versions."""
    s3_store = request.getfixturevalue("s3_archive_store")
    bucket = s3_store.root.removeprefix("s3://").split("/")[0]
    s3_store.s3.get_client().put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return s3_store


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path) -> ArchiveStore:
    if request.param == "local":
        return ArchiveStore(root=str(tmp_path / "archive"))
    return request.getfixturevalue("versioned_s3_store")


@pytest.fixture
def local_store(tmp_path) -> ArchiveStore:
    return ArchiveStore(root=str(tmp_path / "archive"))


@pytest.fixture
def policy() -> ErasurePolicy:
    return ErasurePolicy(salt=SALT)


def received(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


def signal(user: str, day: date, n: int) -> dict:
    return {
        "event_id": str(uuid.uuid4()), "user_id": user, "session_id": f"s{n % 3}",
        "event_type": EVENT_TYPES[n % len(EVENT_TYPES)],
        "occurred_at": (received(day) - timedelta(minutes=n % 50)).isoformat(),
        "props": {"city": ["Lisbon", "Porto", "Kyoto"][n % 3], "item_id": f"stay_{n % 40:04d}", "dwell_ms": 900,
                  "vibe": "foodie", "text": "a quiet bar?"},
    }


def ingest_days(postgres, days=DAYS, per_user: int = 20) -> None:
    ingestor = SignalIngestor(postgres=postgres, erasure_salt=SALT)
    for day in days:
        report = ingestor.ingest_records([signal(user, day, n) for n in range(per_user) for user in USERS], received_at=received(day))
        assert report.accepted == per_user * len(USERS)


def seed_signals_and_archives(postgres, archive: Archive) -> None:
    """Three receive days; the first two archived, the first dropped from Postgres; quarantined lines."""
    ingest_days(postgres)
    ingestor = SignalIngestor(postgres=postgres, erasure_salt=SALT)
    bad = [{**signal("u_03", DAYS[2], 1), "event_type": "teleport"}, {**signal("u_05", DAYS[2], 2), "event_type": "teleport"}]
    ingestor.ingest_records(bad, received_at=received(DAYS[2]))
    ingestor.ingest_ndjson(b'{"user_id": "u_07", "event_type": "view", "trunc', received_at=received(DAYS[2]))
    for day in DAYS[:2]:
        assert archive_day(postgres, archive, day).status == "archived"


def seed_everything(postgres, archive: Archive) -> None:
    """The erased users in every store: signals, rejects, profiles and versions, vectors, usage ledger,
    the semantic cache, and in archived signal days, a profile snapshot and a table archive."""
    seed_signals_and_archives(postgres, archive)
    distiller = DistillerResource(postgres=postgres, gemini=GeminiResource(), shards=2)
    for day in DAYS:
        distiller.distill_day(day)
    assert drop_expired_signal_days(postgres, archive, hot_days=2, today=DAYS[2]).dropped == [DAYS[0]]
    take_profile_snapshot(postgres, archive, DAYS[2])
    with postgres.connection() as conn:
        conn.execute("INSERT INTO embedding_models (model_id, dimension, state) VALUES ('test:3d', 3, 'serving')")
        conn.execute("INSERT INTO profile_embeddings (user_id, model_id, embedding) "
                     "SELECT user_id, 'test:3d', '[1,0,0]' FROM user_profile_heads")
        conn.execute("INSERT INTO profile_embedding_sources SELECT user_id, 'test:3d', version, '\\x00' FROM user_profile_heads")
        conn.execute("INSERT INTO embedding_rejects (user_id, model_id, profile_version, reason) VALUES ('u_07', 'test:3d', 1, 'empty')")
        for users, age_days in ((["u_03", "u_01"], 100), (["u_02", "u_04"], 100), (["u_07", "u_05", "u_03"], 1)):
            conn.execute(
                "INSERT INTO llm_usage (day, model, users, attempts, input_tokens, output_tokens, cost_usd, created_at) "
                "VALUES (%s, 'gemini', %s, 1, 100, 10, 0.01, now() - make_interval(days => %s))",
                (DAYS[0], users, age_days),
            )
    if cache_built(postgres):
        seed_cache(postgres)
    llm_usage_policy = TablePolicy(table="llm_usage", method="delete_older", time_column="created_at", keep_days=90, archive=True)
    assert apply_table_policy(postgres, archive, llm_usage_policy, datetime.now(UTC)).rows_archived == 2


def cache_built(postgres) -> bool:
    with postgres.connection() as conn:
        return conn.execute(load("erasure/cache_tables")).fetchone()[0]


def seed_cache(postgres) -> None:
    """Segments from the profiles; the erased users' segment has an answer reasoned from 3 users (under the
    minimum of 10) and one from 12; another segment's answer; ledger requests hashed as the cache hashes them."""
    with postgres.connection() as conn:
        conn.execute("INSERT INTO user_segments SELECT user_id, version, profile_segment_persona(profile), "
                     "profile_segment_city(profile), evidence_day FROM user_profiles")
        city, persona = conn.execute("SELECT city, persona FROM user_segments WHERE user_id = 'u_03'").fetchone()
        for kind, segment, users in (("few", (city, persona), 3), ("many", (city, persona), 12), ("elsewhere", ("oslo", "nobody"), 2)):
            conn.execute(
                "INSERT INTO semantic_cache (city, kind, locale, version_hash, persona, state, response, segment_users, expires_at) "
                "VALUES (%s, %s, 'en', 'v1', %s, 'ready', '{}', %s, now() + interval '1 day')",
                (segment[0], kind, segment[1], users),
            )
        for user in ("u_03", "u_03", "u_05"):
            conn.execute("INSERT INTO semantic_cache_ledger (event, kind, segment_key, user_hash) "
                         "VALUES ('hit', 'many', 'k', hashtextextended(%s, 0))", (user,))


# -- what is where ------------------------------------------------------------------------------

STORE_QUERIES = {
    "raw_signals": "SELECT user_id FROM raw_signals",
    "signal_rejects": "SELECT coalesce(user_id, raw) FROM signal_rejects",
    "user_profile_heads": "SELECT user_id FROM user_profile_heads",
    "user_profile_versions": "SELECT user_id FROM user_profile_versions",
    "profile_embeddings": "SELECT user_id FROM profile_embeddings",
    "profile_embedding_sources": "SELECT user_id FROM profile_embedding_sources",
    "embedding_rejects": "SELECT user_id FROM embedding_rejects",
    "llm_usage": "SELECT u FROM llm_usage, unnest(users) AS u",
}
CACHE_QUERIES = {
    "user_segments": "SELECT user_id FROM user_segments",
    # the ledger keeps a 64-bit hash of the id: named back here for the erased users
    "semantic_cache_ledger": "SELECT CASE WHEN u.user_id IS NOT NULL THEN u.user_id WHEN l.user_hash IS NOT NULL THEN 'other' END "
                             "FROM semantic_cache_ledger AS l LEFT JOIN unnest(%(erased)s::text[]) AS u(user_id) "
                             "ON l.user_hash = hashtextextended(u.user_id, 0)",
}


def names_erased(value: str) -> bool:
    return any(user in value for user in [*ERASED, UNKNOWN])


def live_census(postgres) -> tuple[Counter, Counter]:
    """Rows naming an erased user, and rows naming anybody else, per live store."""
    erased, others = Counter(), Counter()
    queries = STORE_QUERIES | (CACHE_QUERIES if cache_built(postgres) else {})
    with postgres.connection() as conn:
        for store, query in queries.items():
            for (value,) in conn.execute(query, {"erased": ERASED}):
                if value is not None:
                    (erased if names_erased(value) else others)[store] += 1
    return erased, others


def file_census(table: pa.Table) -> tuple[int, int]:
    """(values naming an erased user, rows of other users) in one archived table."""
    if "user_id" in table.column_names:
        users = table.column("user_id").to_pylist()
        hits = sum(names_erased(user) for user in users)
        return hits, len(users) - hits
    entries = pc.list_flatten(table.column("users")).to_pylist()
    return sum(names_erased(user) for user in entries if user), table.num_rows


def archive_census(store: ArchiveStore) -> dict[str, tuple[int, int]]:
    """Every file under the archive root, staging included, read whole."""
    archive = store.open()
    return {
        key: file_census(pq.read_table(archive.path(key), filesystem=archive.filesystem))
        for key in archive.list_files("")
    }


def old_versions_naming_erased(store: ArchiveStore) -> int:
    """On S3: every stored version of every object, noncurrent ones included, read whole."""
    bucket = store.root.removeprefix("s3://").split("/")[0]
    client = store.s3.get_client()
    found = 0
    for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for version in page.get("Versions", []):
            if version["Key"].endswith("/"):
                continue
            body = client.get_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])["Body"].read()
            found += file_census(pq.read_table(io.BytesIO(body)))[0]
    return found


def file_schema(archive: Archive, key: str) -> tuple[pa.Schema, dict]:
    schema = archive.open_parquet(key).schema_arrow
    return schema, schema.metadata


def manifests_match_files(postgres, archive: Archive) -> None:
    with postgres.connection() as conn:
        for day, rows, size in conn.execute("SELECT day, rows, bytes FROM archive_manifest"):
            assert archive.size(archive_key(day)) == size
            assert archive.open_parquet(archive_key(day)).metadata.num_rows == rows
        for uri, rows, size in conn.execute("SELECT uri, rows, bytes FROM profile_snapshots UNION ALL "
                                            "SELECT uri, rows, bytes FROM retention_archive_files"):
            key = uri.removeprefix(archive.uri("") + "/")
            assert (archive.size(key), archive.open_parquet(key).metadata.num_rows) == (size, rows)


# -- the whole story ----------------------------------------------------------------------------


def test_an_erased_user_is_gone_from_every_store_and_archive_and_nobody_else_loses_a_row(postgres, store, policy):
    archive = store.open()
    seed_everything(postgres, archive)
    erased_before, others_before = live_census(postgres)
    files_before = archive_census(store)
    assert set(erased_before) == set(STORE_QUERIES) | (set(CACHE_QUERIES) if cache_built(postgres) else set())
    assert sum(hits for hits, _ in files_before.values()) > 0
    assert {key.split("/")[0] for key, (hits, _) in files_before.items() if hits} == {"signals", "profiles", "tables"}

    schemas = {key: file_schema(archive, key) for key in archive.list_files("")}
    receipt = policy.request(postgres, [*ERASED, UNKNOWN, "u_03"], requested_by="privacy desk")
    assert receipt.queued == sorted([*ERASED, UNKNOWN]) and receipt.already_pending == []
    report = erase_pending(postgres, archive, policy, run_id="run-1")

    assert (report.requests, report.completed, report.not_found) == (3, 3, 1)
    assert not +report.residual and not report.problems
    erased_after, others_after = live_census(postgres)
    assert not +erased_after
    assert others_after == others_before
    files_after = archive_census(store)
    assert all(hits == 0 for hits, _ in files_after.values()), files_after
    assert {key: others for key, (_, others) in files_after.items()} == {key: others for key, (_, others) in files_before.items()}
    if store.is_s3:
        assert report.old_versions_deleted > 0
        assert old_versions_naming_erased(store) == 0
    manifests_match_files(postgres, archive)
    assert archives_intact(postgres, store).passed
    assert archive_day(postgres, archive, DAYS[1]).status == "already_verified"
    # Same schema, metadata included (uuid and json types, dataset tags); signals still sorted by user.
    assert {key: file_schema(archive, key) for key in archive.list_files("")} == schemas
    for day in DAYS[:2]:
        users = archive.open_parquet(archive_key(day)).read(columns=["user_id"]).column("user_id").to_pylist()
        assert users == sorted(users)

    with postgres.connection() as conn:
        assert conn.execute("SELECT count(*) FROM erasure_requests").fetchone()[0] == 0
        log = {
            user_hash: (found, removed, by, run, ordered)
            for user_hash, found, removed, by, run, ordered in conn.execute(
                "SELECT user_hash, found, removed, requested_by, run_id, completed_at >= requested_at FROM erasure_log"
            )
        }
        evidence = conn.execute("SELECT (SELECT string_agg(l::text, ' ') FROM erasure_log AS l) || "
                                "(SELECT string_agg(t::text, ' ') FROM erasure_tombstones AS t)").fetchone()[0]
        cache_answers = [kind for (kind,) in conn.execute("SELECT kind FROM semantic_cache ORDER BY 1")] if cache_built(postgres) else []
    assert not names_erased(evidence)
    u03, u07, unknown = (log[hashlib.sha256((SALT + user).encode()).digest()] for user in [*ERASED, UNKNOWN])
    assert [u03[0], u07[0], unknown[0]] == [True, True, False]
    assert all(entry[2:] == ("privacy desk", "run-1", True) for entry in log.values())
    assert u03[1]["raw_signals"] > 0 and u03[1]["user_profile_versions"] > 0 and u03[1]["signal_archive"] > 0
    assert u03[1]["profile_snapshots"] == 1 and u03[1]["table_archives"] == 1 and u03[1]["llm_usage"] == 1
    assert u03[1]["signal_rejects"] == 1
    assert u07[1]["signal_rejects"] == 1 and u07[1]["embedding_rejects"] == 1
    assert unknown[1] == {}
    if cache_built(postgres):
        assert u03[1]["semantic_cache"] == 1 and u03[1]["user_segments"] == 1 and u03[1]["semantic_cache_ledger"] == 2
        assert cache_answers == ["elsewhere", "many"]


def test_later_events_of_an_erased_user_are_quarantined_without_naming_them(postgres, local_store, policy):
    ingest_days(postgres, DAYS[:1], per_user=2)
    policy.request(postgres, ["u_03"])
    ingestor = SignalIngestor(postgres=postgres, erasure_salt=SALT)
    late = [signal("u_03", DAYS[1], 1), signal("u_04", DAYS[1], 2), signal("u_03", DAYS[1], 3)]

    report = ingestor.ingest_records(late, received_at=received(DAYS[1]))

    assert (report.accepted, report.rejected, dict(report.rejects_by_reason)) == (1, 2, {"erased_user": 2})
    with postgres.connection() as conn:
        rejects = conn.execute("SELECT event_id, user_id, raw FROM signal_rejects WHERE reason = 'erased_user' ORDER BY 1").fetchall()
        stored = conn.execute("SELECT user_id FROM raw_signals WHERE received_at >= %s", (received(DAYS[1]) - timedelta(hours=1),)).fetchall()
    assert stored == [("u_04",)]
    assert sorted(rejects) == sorted((e["event_id"], None, f'{{"event_id":"{e["event_id"]}"}}') for e in late if e["user_id"] == "u_03")


def test_a_salt_other_than_the_first_is_refused_by_requests_and_ingestion(postgres, local_store, policy):
    policy.request(postgres, ["u_03"])
    with pytest.raises(SaltMismatchError):
        ErasurePolicy(salt="another-salt-0000000000").request(postgres, ["u_04"])
    with pytest.raises(SaltMismatchError):
        SignalIngestor(postgres=postgres, erasure_salt="another-salt-0000000000").ingest_records(
            [signal("u_05", DAYS[0], 1)], received_at=received(DAYS[0])
        )
    with postgres.connection() as conn:
        assert conn.execute("SELECT count(*) FROM raw_signals").fetchone()[0] == 0


def test_erasing_again_changes_nothing_and_logs_an_empty_erasure(postgres, local_store, policy):
    archive = local_store.open()
    seed_signals_and_archives(postgres, archive)
    policy.request(postgres, ERASED)
    first = erase_pending(postgres, archive, policy)
    files = archive_census(local_store)
    _, others = live_census(postgres)

    policy.request(postgres, ERASED)
    again = erase_pending(postgres, archive, policy)

    assert first.completed == again.completed == 2
    assert again.removed == Counter() and again.rewrites == [] and again.files_scanned == first.files_scanned
    assert archive_census(local_store) == files and live_census(postgres)[1] == others
    assert [row["state"] for row in policy.status(postgres, [*ERASED, "u_01"])] == ["erased", "erased", "not requested"]
    assert erase_pending(postgres, archive, policy).requests == 0


# -- killed half-way ------------------------------------------------------------------------------


class Killed(Exception):
    pass


def kill_at(step: str, nth: int = 1):
    seen = Counter()

    def on_step(name: str) -> None:
        seen[name] += 1
        if name == step and seen[name] == nth:
            raise Killed(step)

    return on_step


@pytest.mark.parametrize(
    ("step", "nth"),
    [("postgres_erased", 1), ("journaled", 1), ("published", 1), ("published", 2), ("archives_erased", 1)],
)
def test_a_run_killed_at_any_step_resumes_without_resurrecting_or_losing_rows(postgres, local_store, policy, step, nth):
    archive = local_store.open()
    seed_signals_and_archives(postgres, archive)
    erased_live, others = live_census(postgres)
    before = archive_census(local_store)
    files = {key: kept for key, (_, kept) in before.items()}
    policy.request(postgres, ERASED)

    with pytest.raises(Killed):
        erase_pending(postgres, archive, policy, on_step=kill_at(step, nth))
    assert policy.pending(postgres)[0] == 2
    resumed = erase_pending(postgres, archive, policy)

    assert resumed.completed == 2 and not +resumed.residual
    assert resumed.rewrites_resumed == (1 if step == "published" else 0)
    erased_after, others_after = live_census(postgres)
    assert not +erased_after and others_after == others
    after = archive_census(local_store)
    assert all(hits == 0 for hits, _ in after.values())
    assert {key: kept for key, (_, kept) in after.items()} == files
    manifests_match_files(postgres, archive)
    with postgres.connection() as conn:
        removed = [r for (r,) in conn.execute("SELECT removed FROM erasure_log ORDER BY request_id")]
        assert conn.execute("SELECT count(*) FROM erasure_rewrites").fetchone()[0] == 0
    # Each row is counted once, however the work was split between the two runs.
    assert sum(r["signal_archive"] for r in removed) == sum(hits for hits, _ in before.values())
    assert sum(r["raw_signals"] for r in removed) == erased_live["raw_signals"]


def test_a_killed_rewrite_on_versioned_s3_leaves_no_old_version_behind(postgres, versioned_s3_store, policy):
    archive = versioned_s3_store.open()
    seed_signals_and_archives(postgres, archive)
    policy.request(postgres, ERASED)

    with pytest.raises(Killed):
        erase_pending(postgres, archive, policy, on_step=kill_at("published"))
    resumed = erase_pending(postgres, archive, policy)

    assert resumed.completed == 2 and resumed.rewrites_resumed == 1
    assert old_versions_naming_erased(versioned_s3_store) == 0
    manifests_match_files(postgres, archive)


# -- the checks -----------------------------------------------------------------------------------


def test_a_row_written_back_during_the_run_fails_the_residue_check_and_keeps_the_request(postgres, local_store, policy, monkeypatch):
    archive = local_store.open()
    seed_signals_and_archives(postgres, archive)
    policy.request(postgres, ["u_03"])

    def racing_writer(step: str) -> None:
        if step == "archives_erased":
            with postgres.connection() as conn:
                conn.execute("INSERT INTO user_profile_heads VALUES ('u_03', 1, %s, 1, 0, 'explorer', NULL, now())", (DAYS[0],))

    honest = erasure_module.erase_pending
    monkeypatch.setattr(erasure_module, "erase_pending", lambda *args, **kwargs: honest(*args, **{**kwargs, "on_step": racing_writer}))
    raced = materialize(postgres, local_store, policy)
    monkeypatch.setattr(erasure_module, "erase_pending", honest)
    check = raced.check(ERASED_USERS_LEAVE_NO_ROWS)
    assert not check.passed and check.metadata["residual_rows"].value == {"user_profile_heads": 1}
    assert policy.pending(postgres)[0] == 1

    clean = materialize(postgres, local_store, policy)
    assert clean.check(ERASED_USERS_LEAVE_NO_ROWS).passed and policy.pending(postgres)[0] == 0


def test_a_rewrite_that_would_lose_another_users_row_is_not_published(postgres, local_store, policy, monkeypatch):
    archive = local_store.open()
    seed_signals_and_archives(postgres, archive)
    files = archive_census(local_store)
    policy.request(postgres, ["u_03"])
    honest = erasure_module.without_erased

    def lossy(batch, erased, column):
        kept, taken = honest(batch, erased, column)
        return kept.slice(1), taken

    monkeypatch.setattr(erasure_module, "without_erased", lossy)
    lossy_run = materialize(postgres, local_store, policy)
    check = lossy_run.check(OTHER_USERS_ROWS_KEPT)
    assert not check.passed and len(check.metadata["problems"].value) == 2
    assert "other users' rows" in next(iter(check.metadata["problems"].value.values()))
    assert archive_census(local_store) == files and policy.pending(postgres)[0] == 1
    assert not lossy_run.check(ERASED_USERS_LEAVE_NO_ROWS).passed

    monkeypatch.setattr(erasure_module, "without_erased", honest)
    fixed = materialize(postgres, local_store, policy)
    assert fixed.check(OTHER_USERS_ROWS_KEPT).passed and fixed.check(ERASED_USERS_LEAVE_NO_ROWS).passed
    metadata = fixed.metadata
    assert metadata["files_rewritten"] == 2 and metadata["completed"] == 1 and metadata["bytes_rewritten"] > 0


def test_an_erased_user_written_back_later_fails_the_live_store_check(postgres, local_store, policy):
    archive = local_store.open()
    ingest_days(postgres, DAYS[:1], per_user=2)
    policy.request(postgres, ["u_03"])
    # A pending request is the queue's business, not this check's.
    assert check_no_erased_user_in_live_stores(postgres, policy).passed
    erase_pending(postgres, archive, policy)
    assert check_no_erased_user_in_live_stores(postgres, policy).passed

    with postgres.connection() as conn:
        conn.execute("INSERT INTO raw_signals (event_id, user_id, event_type, occurred_at, received_at, batch_id) "
                     "VALUES (gen_random_uuid(), 'u_03', 'view', %s, %s, 1)", (received(DAYS[0]), received(DAYS[0])))
    back = check_no_erased_user_in_live_stores(postgres, policy)
    assert not back.passed and back.metadata["erased_users_found"].value["raw_signals"] == 1


def test_a_request_waiting_past_the_cycle_fails_the_deadline_check(postgres, local_store, policy):
    policy.request(postgres, ["u_03"])
    assert check_requests_within_cycle(postgres, policy).passed
    with postgres.connection() as conn:
        conn.execute("UPDATE erasure_requests SET requested_at = now() - interval '27 hours'")
    late = check_requests_within_cycle(postgres, policy)
    assert not late.passed and late.metadata["overdue"].value == 1

    erase_pending(postgres, local_store.open(), policy)
    assert check_requests_within_cycle(postgres, policy).passed


# -- in Dagster -------------------------------------------------------------------------------------


class Materialized:
    def __init__(self, result: dg.ExecuteInProcessResult):
        self.result = result
        self.metadata = {k: v.value for k, v in result.asset_materializations_for_node("erasure_log")[0].metadata.items()}

    def check(self, name: str) -> dg.AssetCheckEvaluation:
        return next(e for e in self.result.get_asset_check_evaluations() if e.check_name == name)


def materialize(postgres, store: ArchiveStore, policy: ErasurePolicy) -> Materialized:
    return Materialized(
        dg.materialize([erasure_log], resources={"postgres": postgres, "archive_store": store, "erasure": policy})
    )
