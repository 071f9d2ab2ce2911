"""Distillation into versioned profiles: behaviour, exactly-once under re-runs, kills and backfills, checks."""

import json
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

import assets.user_profiles as user_profiles_module
from assets.distillers import LocalDistiller
from assets.ingestion import SignalIngestor
from assets.profile_schema import PROFILE_SCHEMA, validate_profile
from assets.user_profiles import (
    DistillerResource,
    InvalidProfiles,
    check_fresh_profiles,
    check_llm_calls,
    check_no_canary,
    check_profiles_validate,
    chunked,
)
from orchestration.profile_cli import get_profile, profile_history, rollback_profile
from resources.gemini import GeminiResource
from resources.postgres import PostgresResource, close_pools
from resources.sql import load

DAY = date(2026, 3, 1)
CITIES = ["Lisbon", "Porto", "Paris", "Kyoto", "Austin", "Bali"]
TOPICS = ["stay", "food", "tour", "bar", "museum", "beach"]
VIBES = ["slow traveller", "foodie", "night owl", "adventurer"]
EVENT_TYPES = ["view", "view", "view", "click", "click", "scroll", "dwell", "search", "save", "book", "chat_message"]


def received(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def signal(user: str, event_type: str = "view", *, day: date = DAY, hour: int = 12, city: str = "Lisbon",
           item: str = "stay_000001", vibe: str | None = None, text: str | None = None, session: str = "s1") -> dict:
    props: dict = {"city": city, "item_id": item, "dwell_ms": 1500}
    if vibe:
        props["vibe"] = vibe
    if text:
        props["text"] = text
    return {
        "event_id": str(uuid.uuid4()), "user_id": user, "session_id": session, "event_type": event_type,
        "occurred_at": (received(day, hour) - timedelta(minutes=1)).isoformat(), "props": props,
    }


# Few enough cities, topics and items for every one to stay among a profile's kept top entries: only
# then is merging order-independent (beyond them, the weakest entries are dropped at each merge).
WITHIN_KEPT = {"cities": CITIES[:5], "topics": TOPICS[:5], "items_per_topic": 1}


def mixed(
    seed: int, users: int, count: int, day: date = DAY, cities: list[str] = CITIES, topics: list[str] = TOPICS,
    items_per_topic: int = 50,
) -> list[dict]:
    """A reproducible batch of varied signals from `users` users."""
    rng = random.Random(seed)
    return [
        signal(
            f"u_{rng.randrange(users):03d}", rng.choice(EVENT_TYPES), day=day, hour=rng.randrange(1, 23),
            city=rng.choice(cities), item=f"{rng.choice(topics)}_{rng.randrange(items_per_topic):04d}",
            vibe=rng.choice(VIBES), text=f"ideas for a trip, take {rng.randrange(9)}", session=f"s{rng.randrange(4)}",
        )
        for _ in range(count)
    ]


def ingest(postgres: PostgresResource, records: list[dict], day: date = DAY, hour: int = 12) -> None:
    report = SignalIngestor(postgres=postgres).ingest_records(records, received_at=received(day, hour))
    assert report.accepted == len(records)


def make_distiller(postgres: PostgresResource, **overrides) -> DistillerResource:
    return DistillerResource(postgres=postgres, gemini=GeminiResource(), **({"shards": 4} | overrides))


def profile_state(postgres: PostgresResource) -> dict:
    """Everything distillation stores, minus the wall-clock times."""
    with postgres.connection() as conn:
        current = {
            user: (version, json.loads(doc))
            for user, version, doc in conn.execute("SELECT user_id, version, profile::text FROM user_profiles")
        }
        versions = conn.execute("SELECT user_id, version, day, signals FROM user_profile_versions ORDER BY 1, 2").fetchall()
        marks = conn.execute("SELECT day, shard, batch_id, signals, profiles_updated FROM distill_watermarks ORDER BY 1, 2").fetchall()
        days = conn.execute("SELECT day, signals, users, profiles_updated FROM distilled_days ORDER BY 1").fetchall()
    for _, doc in current.values():
        doc.pop("updated_at")
    return {"current": current, "versions": versions, "watermarks": marks, "days": days}


def current_documents(state: dict) -> dict:
    """The current profiles of a profile_state without their version numbers, which count runs, not evidence."""
    return {user: {k: v for k, v in doc.items() if k != "version"} for user, (_, doc) in state["current"].items()}


@pytest.fixture
def other_postgres(pg_server, tmp_path):
    """A second fresh database, for comparing two histories of the same signals."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = pg_server.get_uri()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield PostgresResource(database_url=pg_server.get_uri(database=name), home=str(tmp_path / "other"))
    close_pools()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


# -- what a profile says ------------------------------------------------------------------------


def test_users_with_different_behaviour_get_meaningfully_different_profiles(postgres):
    booker = [signal("booker", "book", city="Lisbon", item=f"stay_{i:04d}", vibe="luxury") for i in range(6)]
    booker += [signal("booker", "view", city="Lisbon", item="stay_0001", hour=20) for _ in range(10)]
    dreamer = [signal("dreamer", "view", city=city, item=f"beach_{i:04d}", vibe="slow traveller", hour=7)
               for i, city in enumerate(CITIES * 3)]
    chatter = [signal("chatter", "chat_message", text="any jazz bars open late?", city="Porto", item="bar_0001", hour=23)
               for _ in range(12)]
    planner = [signal("planner", kind, city=city, item=f"food_{i:04d}", vibe="foodie", hour=14)
               for i, (kind, city) in enumerate([("save", "Kyoto"), ("search", "Kyoto"), ("save", "Tokyo")] * 5)]
    ingest(postgres, booker + dreamer + chatter + planner)

    report = make_distiller(postgres).distill_day(DAY)

    profiles = {user: get_profile(postgres, user) for user in ("booker", "dreamer", "chatter", "planner")}
    for profile in profiles.values():
        validate_profile(profile)
    assert report.signals == len(booker + dreamer + chatter + planner) and report.profiles_updated == 4
    assert {user: p["persona"]["label"] for user, p in profiles.items()} == {
        "booker": "decider", "dreamer": "dreamer", "chatter": "conversationalist", "planner": "planner",
    }
    assert {user: p["travel_style"] for user, p in profiles.items()} == {
        "booker": "spontaneous booker", "dreamer": "armchair traveller", "chatter": "armchair traveller",
        "planner": "careful planner",
    }
    assert profiles["booker"]["interests"][0] == {"topic": "stay", "weight": 6 * 8.0 + 10 * 1.0}
    assert profiles["booker"]["booked_items"][:1] and len(profiles["booker"]["booked_items"]) == 6
    # Items are weighted by what the user did with them: six bookings count, ten views of one do not.
    assert profiles["booker"]["items"] == [{"item": f"stay_{i:04d}", "weight": 8.0} for i in (5, 4, 3, 2, 1)]
    assert profiles["planner"]["saved_items"][0].startswith("food_") and profiles["planner"]["cities"][0]["city"] == "Kyoto"
    assert len(profiles["dreamer"]["cities"]) == 5 and profiles["dreamer"]["vibe"]["label"] == "slow traveller"
    assert profiles["dreamer"]["activity"]["daypart"] == "morning" and profiles["chatter"]["activity"]["peak_hour"] == 22
    assert len({p["summary"] for p in profiles.values()}) == 4
    assert "Stay" not in profiles["booker"]["summary"] and profiles["booker"]["summary"].startswith("Decider, spontaneous booker.")
    # Chat text feeds the LLM only; it never reaches a locally distilled profile.
    assert "jazz" not in json.dumps(profiles["chatter"])


def test_older_evidence_decays_with_the_half_life(postgres):
    ingest(postgres, [signal("u", "view", city="Lisbon") for _ in range(8)], day=DAY)
    later = DAY + timedelta(days=30)
    ingest(postgres, [signal("u", "view", city="Paris", day=later) for _ in range(8)], day=later)
    distiller = make_distiller(postgres, half_life_days=30)

    distiller.distill_day(DAY)
    distiller.distill_day(later)

    profile = get_profile(postgres, "u")
    assert profile["cities"] == [{"city": "Paris", "weight": 8.0}, {"city": "Lisbon", "weight": 4.0}]
    assert profile["engagement"]["view"] == 12.0 and profile["signals_distilled"] == 16
    assert profile["evidence_day"] == later.isoformat() and profile["version"] == 2


def test_hostile_keys_are_cleaned_and_capped(postgres):
    ingest(postgres, [signal("u", "book", city="<script>Lisbon</script>\u0007", item="x" * 200 + "_1", vibe="  ")])
    make_distiller(postgres).distill_day(DAY)
    profile = get_profile(postgres, "u")
    validate_profile(profile)
    assert profile["cities"][0]["city"] == "scriptLisbon/script"
    assert profile["vibe"] == {"label": None, "scores": []} and len(profile["booked_items"][0]) == 80


def test_every_user_id_ingestion_accepts_gets_a_valid_profile(postgres):
    users = ["<b>bold</b>", "tab\there\x07 and\nnewline", "x" * 256, "'; DROP TABLE user_profiles; --", "\\N"]
    ingest(postgres, [signal(user, "save") for user in users])
    report = make_distiller(postgres).distill_day(DAY)
    assert report.profiles_updated == len(users)
    assert [get_profile(postgres, user)["user_id"] for user in users] == users
    assert check_profiles_validate(postgres, DAY).passed


def test_quotes_and_backslashes_survive_every_round_trip(postgres):
    user, city = 'o\'brien "the" \\ traveller', 'Rio "de" Jan\\eiro, \\N'
    distiller = make_distiller(postgres)
    for offset in range(2):
        day = DAY + timedelta(days=offset)
        ingest(postgres, [signal(user, "save", day=day, city=city, item="stay_\\x", vibe='"quoted"')], day=day)
        distiller.distill_day(day)
    profile = get_profile(postgres, user)
    assert profile["user_id"] == user and profile["version"] == 2
    assert profile["cities"] == [{"city": city, "weight": 7.909}]
    assert profile["saved_items"] == ["stay_\\x"] and profile["vibe"]["label"] == '"quoted"'


def test_the_published_schema_is_the_one_profiles_are_validated_against():
    # Regenerate after changing the schema: json.dumps(PROFILE_SCHEMA, indent=2, ensure_ascii=False).
    published = json.loads((Path(__file__).resolve().parent.parent / "docs" / "profile.schema.json").read_text())
    assert published == PROFILE_SCHEMA


# -- exactly once -------------------------------------------------------------------------------


def test_a_second_run_distills_nothing_and_changes_nothing(postgres):
    for seed in range(3):
        ingest(postgres, mixed(seed, users=25, count=150), hour=8 + seed)
    distiller = make_distiller(postgres)
    first = distiller.distill_day(DAY)
    state = profile_state(postgres)

    again = distiller.distill_day(DAY)

    assert (first.signals, first.shards_distilled) == (450, 4)
    assert (again.signals, again.profiles_updated, again.shards_already_done) == (0, 0, 4)
    assert profile_state(postgres) == state


def test_signals_arriving_between_runs_are_distilled_once(postgres, other_postgres):
    # Sessions s0-s3 span the runs: the profiles of three intra-day runs must be those of one run at
    # the end of the day.
    batches = [mixed(seed, users=20, count=120, **WITHIN_KEPT) for seed in range(3)]
    intraday = make_distiller(postgres)
    for hour, batch in zip((8, 12, 16), batches, strict=True):
        ingest(postgres, batch, hour=hour)
        intraday.distill_day(DAY)
    for hour, batch in zip((8, 12, 16), batches, strict=True):
        ingest(other_postgres, batch, hour=hour)
    make_distiller(other_postgres).distill_day(DAY)

    mine, theirs = profile_state(postgres), profile_state(other_postgres)
    assert mine["days"][0][1] == theirs["days"][0][1] == 360
    assert current_documents(mine) == current_documents(theirs)
    assert max(doc["activity"]["sessions"] for doc in current_documents(mine).values()) <= 4


def test_a_run_killed_half_way_then_rerun_equals_one_clean_run(postgres, other_postgres, monkeypatch):
    for target in (postgres, other_postgres):
        for seed in range(2):
            ingest(target, mixed(seed, users=40, count=300), hour=9 + seed)
    make_distiller(other_postgres).distill_day(DAY)

    real_copy_files = user_profiles_module._copy_files
    versions_copied: list[str] = []

    def killed_inside_the_third_shard(conn, folder, copy_statement):
        # The shard's heads have moved in its transaction when its versions are written: die there.
        if copy_statement == load("distill/copy_profile_versions"):
            if len(versions_copied) == 2:
                raise KeyboardInterrupt("worker killed half-way through a shard")
            versions_copied.append(str(folder))
        return real_copy_files(conn, folder, copy_statement)

    monkeypatch.setattr(user_profiles_module, "_copy_files", killed_inside_the_third_shard)
    with pytest.raises(KeyboardInterrupt):
        make_distiller(postgres).distill_day(DAY)
    with postgres.connection() as conn:
        advanced = conn.execute("SELECT count(*) FROM distill_watermarks WHERE batch_id > 0").fetchone()[0]
        heads_without_their_version = conn.execute(
            "SELECT count(*) FROM user_profile_heads AS h LEFT JOIN user_profile_versions AS v USING (user_id, version) "
            "WHERE v.user_id IS NULL"
        ).fetchone()[0]
    assert (advanced, heads_without_their_version) == (2, 0)
    monkeypatch.setattr(user_profiles_module, "_copy_files", real_copy_files)

    resumed = make_distiller(postgres).distill_day(DAY)

    assert (resumed.shards_already_done, resumed.shards_distilled) == (2, 2)
    assert profile_state(postgres) == profile_state(other_postgres)


def test_a_run_resumed_after_new_batches_arrived_equals_one_clean_run(postgres, other_postgres, monkeypatch):
    batches = [mixed(seed, users=30, count=200, **WITHIN_KEPT) for seed in range(3)]
    for hour, batch in zip((8, 9, 10), batches, strict=True):
        ingest(other_postgres, batch, hour=hour)
    make_distiller(other_postgres).distill_day(DAY)
    for hour, batch in zip((8, 9), batches[:2], strict=True):
        ingest(postgres, batch, hour=hour)

    real_store = user_profiles_module.store_profiles
    stored: list[int] = []

    def killed_after_two_shards(conn, work, shard, versions_kept):
        if len(stored) == 2:
            raise KeyboardInterrupt("worker killed")
        stored.append(shard)
        return real_store(conn, work, shard, versions_kept)

    monkeypatch.setattr(user_profiles_module, "store_profiles", killed_after_two_shards)
    with pytest.raises(KeyboardInterrupt):
        make_distiller(postgres).distill_day(DAY)
    monkeypatch.setattr(user_profiles_module, "store_profiles", real_store)
    ingest(postgres, batches[2], hour=10)
    # One chunk of all four shards, two of them already past the first two batches: each shard
    # merges from its own watermark, and a session seen in a merged batch is not counted again.
    make_distiller(postgres, merge_workers=3).distill_day(DAY)

    mine, theirs = profile_state(postgres), profile_state(other_postgres)
    assert current_documents(mine) == current_documents(theirs)
    assert [mark[:3] for mark in mine["watermarks"]] == [mark[:3] for mark in theirs["watermarks"]]


def test_profiles_another_run_changed_during_the_merge_are_merged_again(postgres, other_postgres, monkeypatch):
    yesterday = DAY - timedelta(days=1)
    for target in (postgres, other_postgres):
        ingest(target, mixed(1, users=20, count=150, day=yesterday, **WITHIN_KEPT), day=yesterday)
        ingest(target, mixed(2, users=20, count=150, **WITHIN_KEPT))
    in_sequence = make_distiller(other_postgres)
    in_sequence.distill_day(yesterday)
    in_sequence.distill_day(DAY)

    real_merge = DistillerResource._merge_on
    merged: list[list[int]] = []

    def merge_while_yesterday_is_distilled(self, db, distiller, work, chunk):
        documents = real_merge(self, db, distiller, work, chunk)
        if work.day == DAY:
            if not merged:
                # Another run (yesterday's, say the nightly job) writes the same users' profiles first.
                make_distiller(postgres).distill_day(yesterday)
            merged.append(chunk)
        return documents

    monkeypatch.setattr(DistillerResource, "_merge_on", merge_while_yesterday_is_distilled)
    # One merge at a time: the first half's chunk is merged before yesterday's run, the second after it.
    report = make_distiller(postgres, merge_workers=1).distill_day(DAY)

    assert merged == [[0, 1], [2, 3], [0], [1]]
    assert (report.shards_distilled, report.signals) == (4, 150)
    assert profile_state(postgres) == profile_state(other_postgres)


def test_backfilling_an_older_day_counts_nothing_twice_and_order_does_not_matter(postgres, other_postgres):
    day1, day2 = DAY, DAY + timedelta(days=1)
    for target in (postgres, other_postgres):
        ingest(target, mixed(1, users=15, count=200, day=day1, **WITHIN_KEPT), day=day1)
        ingest(target, mixed(2, users=15, count=200, day=day2, **WITHIN_KEPT), day=day2)
    in_order = make_distiller(other_postgres)
    in_order.distill_day(day1)
    in_order.distill_day(day2)
    backfill = make_distiller(postgres)
    backfill.distill_day(day2)
    backfill.distill_day(day1)
    rerun = [backfill.distill_day(day) for day in (day1, day2)]

    assert [r.signals for r in rerun] == [0, 0]
    mine, theirs = profile_state(postgres), profile_state(other_postgres)
    assert mine["current"] == theirs["current"]
    assert sum(doc["signals_distilled"] for _, doc in mine["current"].values()) == 400
    assert {doc["evidence_day"] for _, doc in mine["current"].values()} == {day2.isoformat()}


def test_chunks_are_near_equal_and_a_multiple_of_the_merge_workers():
    shards = list(range(8))
    even = {shard: 62_500 for shard in shards}
    assert chunked(shards, even, 250_000, workers=2) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    # A few signals more need a third chunk, which would run on alone after two side by side.
    assert chunked(shards, {**even, 0: 63_000}, 250_000, workers=2) == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert chunked(shards, even, 200_000, workers=1) == [[0, 1, 2], [3, 4], [5, 6, 7]]
    # A day within one chunk stays one chunk, and a shard above the limit is a chunk of its own.
    assert chunked([0, 1], {0: 30, 1: 40}, 1_000, workers=2) == [[0, 1]]
    assert chunked([0, 1, 2, 3], {0: 10, 1: 500, 2: 10, 3: 10}, 300, workers=1) == [[0], [1], [2, 3]]
    for limit in (50, 130, 260):
        for chunk in chunked(shards, {shard: 40 + 3 * shard for shard in shards}, limit, workers=2):
            assert len(chunk) == 1 or sum(40 + 3 * shard for shard in chunk) <= limit


def test_chunks_stored_while_the_next_is_merged_give_the_same_profiles(postgres, other_postgres):
    for target in (postgres, other_postgres):
        ingest(target, mixed(3, users=60, count=600))
    chunked_run = make_distiller(postgres, shards=8, chunk_signals=100).distill_day(DAY)
    make_distiller(other_postgres, shards=8).distill_day(DAY)
    assert (chunked_run.signals, chunked_run.shards_distilled) == (600, 8)
    assert profile_state(postgres) == profile_state(other_postgres)


def test_a_batch_still_in_flight_is_waited_for_not_skipped(postgres, database_url):
    ingest(postgres, [signal("early")])
    slow = psycopg.connect(database_url)
    # A slow ingestion batch: its id is taken (lower than the next batch's) but it has not committed yet.
    batch_id = slow.execute(
        "INSERT INTO ingest_batches (source, received_at, rows_in, accepted, duplicates, rejected, seconds) "
        "VALUES ('slow', %s, 1, 1, 0, 0, 0) RETURNING batch_id", (received(DAY),)
    ).fetchone()[0]
    slow.execute(
        "INSERT INTO raw_signals (event_id, user_id, event_type, occurred_at, received_at, batch_id) "
        "VALUES (gen_random_uuid(), 'late', 'view', %s, %s, %s)", (received(DAY), received(DAY), batch_id)
    )
    result: list = []
    runner = threading.Thread(target=lambda: result.append(make_distiller(postgres).distill_day(DAY)))
    runner.start()
    time.sleep(0.5)
    assert runner.is_alive(), "distillation must wait for the in-flight batch"
    slow.commit()
    slow.close()
    runner.join(timeout=30)

    assert result[0].signals == 2
    assert get_profile(postgres, "late")["signals_distilled"] == 1


def test_a_day_keeps_its_first_shard_count(postgres):
    ingest(postgres, mixed(1, users=10, count=50))
    make_distiller(postgres, shards=4).distill_day(DAY)
    ingest(postgres, mixed(2, users=10, count=50), hour=13)
    report = make_distiller(postgres, shards=8).distill_day(DAY)
    assert (report.shards, report.signals) == (4, 50)


def test_parts_of_a_day_take_disjoint_shards(postgres):
    ingest(postgres, mixed(1, users=30, count=200))
    distiller = make_distiller(postgres)
    first = distiller.distill_day(DAY, part=(0, 2))
    second = distiller.distill_day(DAY, part=(1, 2))
    assert 0 < first.signals < 200 and first.signals + second.signals == 200
    assert (first.shards_distilled, second.shards_distilled) == (2, 2)
    assert (first.complete, second.complete) == (False, True)
    assert distiller.distill_day(DAY).signals == 0
    with pytest.raises(ValueError, match="holds none of the 4 shards"):
        distiller.distill_day(DAY, part=(5, 8))


def test_a_day_fans_out_over_processes_as_one_run(postgres, other_postgres, database_url, tmp_path):
    for target in (postgres, other_postgres):
        ingest(target, mixed(1, users=60, count=400, **WITHIN_KEPT))
    environment = {**os.environ, "DATABASE_URL": database_url, "DISTILLERY_HOME": str(tmp_path / "home")}
    command = [sys.executable, "-m", "orchestration.cli", "distill", DAY.isoformat(), "--part"]
    processes = [
        subprocess.Popen([*command, f"{k}/2"], env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for k in range(2)
    ]
    outputs = [process.communicate(timeout=120)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    assert all(f"part {k}/2 of {DAY}" in out and "8 shards distilled" in out for k, out in enumerate(outputs))

    make_distiller(other_postgres, shards=16).distill_day(DAY)
    mine, theirs = profile_state(postgres), profile_state(other_postgres)
    assert mine["current"] == theirs["current"] and len(mine["current"]) > 50
    assert [mark[:3] for mark in mine["watermarks"]] == [mark[:3] for mark in theirs["watermarks"]]


def test_a_day_is_complete_only_after_a_run_once_it_closed(postgres):
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    ingest(postgres, [signal("u", day=yesterday)], day=yesterday)
    make_distiller(postgres).distill_day(yesterday)
    today = yesterday + timedelta(days=1)
    ingest(postgres, [signal("u", day=today, hour=0)], day=today, hour=0)
    make_distiller(postgres).distill_day(today)
    with postgres.connection() as conn:
        assert conn.execute("SELECT day, complete, signals, users FROM distilled_days ORDER BY day").fetchall() == [
            (yesterday, True, 1, 1), (today, False, 1, 1),
        ]


def test_invalid_documents_are_never_stored(postgres, monkeypatch):
    ingest(postgres, mixed(1, users=5, count=30))
    local = LocalDistiller.interpret

    def broken(self, db, work):
        report = local(self, db, work)
        db.execute("UPDATE interpretation SET persona = 'wizard'").fetchall()
        return report

    monkeypatch.setattr(LocalDistiller, "interpret", broken)
    with pytest.raises(InvalidProfiles, match="unknown persona label"):
        make_distiller(postgres).distill_day(DAY)
    with postgres.connection() as conn:
        assert conn.execute("SELECT count(*) FROM user_profile_versions").fetchone()[0] == 0
        assert conn.execute("SELECT max(batch_id) FROM distill_watermarks").fetchone()[0] == 0


# -- versions, history, rollback ----------------------------------------------------------------


def test_every_change_is_a_version_that_can_be_read_rolled_back_and_pruned(postgres):
    distiller = make_distiller(postgres, versions_kept=3)
    for offset in range(4):
        day = DAY + timedelta(days=offset)
        ingest(postgres, [signal("u", "book" if offset == 2 else "view", day=day, city=CITIES[offset])], day=day)
        distiller.distill_day(day)

    history = profile_history(postgres, "u")
    assert [v.version for v in history] == [4, 3, 2]
    restored = rollback_profile(postgres, "u", 2)

    current = get_profile(postgres, "u")
    assert current == restored and current["version"] == 5
    assert {k: v for k, v in current.items() if k not in ("version", "updated_at")} == {
        k: v for k, v in history[-1].profile.items() if k not in ("version", "updated_at")
    }
    assert [(v.version, v.distiller) for v in profile_history(postgres, "u", limit=2)] == [(5, "rollback"), (4, "local")]
    with pytest.raises(LookupError):
        rollback_profile(postgres, "u", 1)


# -- checks -------------------------------------------------------------------------------------


def test_fresh_profile_check_fails_for_a_user_left_behind(postgres):
    ingest(postgres, mixed(1, users=12, count=60))
    make_distiller(postgres).distill_day(DAY)
    assert check_fresh_profiles(postgres, DAY).passed

    with postgres.connection() as conn:
        conn.execute("UPDATE user_profile_heads SET evidence_day = %s WHERE user_id = 'u_003'", (DAY - timedelta(days=1),))
        conn.execute("DELETE FROM user_profile_heads WHERE user_id = 'u_004'")
    result = check_fresh_profiles(postgres, DAY)
    assert not result.passed
    assert result.metadata["users_without_fresh_profile"].value == 2
    assert result.metadata["examples"].value == "u_003, u_004"


def test_schema_check_fails_for_a_stored_profile_that_does_not_validate(postgres):
    ingest(postgres, mixed(1, users=8, count=40))
    make_distiller(postgres).distill_day(DAY)
    result = check_profiles_validate(postgres, DAY)
    assert result.passed and result.metadata["versions_checked"].value == 8

    with postgres.connection() as conn:
        conn.execute(
            "UPDATE user_profile_versions SET profile = jsonb_set(profile::jsonb, '{persona,label}', '\"wizard\"')::json "
            "WHERE user_id = 'u_002'"
        )
    result = check_profiles_validate(postgres, DAY)
    assert not result.passed and result.metadata["invalid"].value == 1
    assert "u_002 v1" in result.metadata["examples"].value


def test_llm_bound_check_fails_when_calls_outgrow_the_signals(postgres):
    ingest(postgres, mixed(1, users=8, count=2000))
    make_distiller(postgres).distill_day(DAY)
    assert check_llm_calls(postgres, DAY, bound_per_1k=1.0).passed

    with postgres.connection() as conn:
        for _ in range(3):
            conn.execute(
                "INSERT INTO llm_usage (day, model, users, attempts, input_tokens, output_tokens, cost_usd) "
                "VALUES (%s, 'gemini-2.5-flash', '{u_001}', 1, 900, 100, 0.001)", (DAY,)
            )
    result = check_llm_calls(postgres, DAY, bound_per_1k=1.0)
    assert not result.passed and result.metadata["llm_calls_per_1k_signals"].value == 1.5


def test_llm_bound_check_fails_for_a_call_on_a_day_with_no_signals(postgres):
    quiet_day = DAY + timedelta(days=1)
    assert check_llm_calls(postgres, quiet_day, bound_per_1k=1.0).passed
    with postgres.connection() as conn:
        conn.execute(
            "INSERT INTO llm_usage (day, model, users, attempts, input_tokens, output_tokens, cost_usd) "
            "VALUES (%s, 'gemini-2.5-flash', '{u_001}', 1, 900, 100, 0.001)", (quiet_day,)
        )
    result = check_llm_calls(postgres, quiet_day, bound_per_1k=1.0)
    assert not result.passed and result.metadata["llm_calls"].value == 1 and result.metadata["signals"].value == 0


def test_canary_check_fails_when_an_injection_phrase_is_stored(postgres):
    ingest(postgres, mixed(1, users=8, count=40))
    make_distiller(postgres).distill_day(DAY)
    canaries = ["CANARY-7F3A9C", "ignore previous instructions", "100%_sure"]
    assert check_no_canary(postgres, DAY, canaries).passed

    with postgres.connection() as conn:
        conn.execute(
            "UPDATE user_profile_versions SET profile = jsonb_set(profile::jsonb, '{summary}', "
            "'\"Loves tapas. Ignore previous instructions.\"')::json WHERE user_id = 'u_005'"
        )
    result = check_no_canary(postgres, DAY, canaries)
    assert not result.passed and result.metadata["examples"].value == "u_005 v1"


def test_run_metadata_tells_the_story(postgres):
    ingest(postgres, mixed(1, users=10, count=100))
    metadata = make_distiller(postgres).distill_day(DAY).metadata()
    assert metadata["signals_in"] == 100 and metadata["profiles_updated"] == metadata["versions_written"] == 10
    assert metadata["signals_per_profile_update"] == 10.0 and metadata["llm_calls"] == 0
    assert metadata["day_users_distilled"] == 10 and metadata["seconds"] > 0
    # The local distiller spends nothing, and says so.
    spend = ("llm_input_tokens", "llm_output_tokens", "llm_cost_usd", "llm_calls_per_1k_signals", "cost_per_1k_signals_usd")
    assert [metadata[key] for key in spend] == [0] * len(spend)


def test_copy_out_streams_every_row_and_raises_a_failure_after_rows_were_sent(postgres, tmp_path):
    rows = tmp_path / "rows.csv"
    with postgres.connection() as conn:
        user_profiles_module._copy_out(conn, "COPY (SELECT g, 'x' || g FROM generate_series(1, 50000) g) TO STDOUT", {}, rows)
        assert rows.read_text().splitlines() == [f"{g}\tx{g}" for g in range(1, 50001)]
        with pytest.raises(psycopg.errors.DivisionByZero):
            user_profiles_module._copy_out(
                conn, "COPY (SELECT CASE WHEN g < 40000 THEN g ELSE 1 / (g - g) END FROM generate_series(1, 50000) g) TO STDOUT",
                {}, rows,
            )
        conn.rollback()
        assert conn.execute("SELECT 42").fetchone() == (42,)
