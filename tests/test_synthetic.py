"""The synthetic signal generator: deterministic, realistic, and bad in exactly the ways it says."""

import argparse
import itertools
import json
import os
import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest

from orchestration import synthetic
from orchestration.synthetic import (
    BAD_KINDS,
    CHAT_TEMPLATES,
    CITIES,
    EVENT_TYPES,
    ITEM_KINDS,
    ITEMS_PER_CITY,
    KINDS_BY_FORMAT,
    PERSONA_CITIES,
    PERSONAS,
    SEARCH_PHRASES,
    Population,
    generate_landing_files,
    iter_signal_batches,
)

DAY = date(2026, 11, 20)
NAME = re.compile(r"^batch-(\d{8}T\d{6}Z)-(\d{6})\.(ndjson|parquet)$")
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def received_at(path: Path) -> datetime:
    return datetime.strptime(NAME.match(path.name).group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def depth(value) -> int:
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


def classify(record: dict, received: datetime) -> str | None:
    """An independent reading of the rules a signal must follow: the first broken one, or None."""
    if any(record.get(name) is None for name in ("event_id", "user_id", "event_type", "occurred_at")):
        return synthetic.MISSING_FIELD
    props = record["props"]
    if depth(props) > 32:
        return synthetic.TOO_DEEP
    if "dwell_ms" in props and not isinstance(props["dwell_ms"], int):
        return synthetic.BAD_TYPE
    try:
        occurred = parse_time(record["occurred_at"])
    except ValueError:
        return synthetic.BAD_TYPE
    if not UUID4.match(record["event_id"]):
        return synthetic.INVALID_EVENT_ID
    if record["user_id"] == "":
        return synthetic.EMPTY_ID
    if len(record["user_id"]) > 256:
        return synthetic.ID_TOO_LONG
    if record["event_type"] not in EVENT_TYPES:
        return synthetic.UNKNOWN_EVENT_TYPE
    if occurred > received + timedelta(hours=24):
        return synthetic.OCCURRED_IN_FUTURE
    if occurred.year < 2000:
        return synthetic.OCCURRED_TOO_OLD
    return None


def classify_line(line: bytes, received: datetime) -> str | None:
    if len(line) > 64 * 1024:
        return synthetic.OVERSIZE_PAYLOAD
    try:
        text = line.decode()
    except UnicodeDecodeError:
        return synthetic.INVALID_UTF8
    if "\\u0000" in text:
        return synthetic.NUL_BYTE
    try:
        record = json.loads(text)
    except json.JSONDecodeError:
        return synthetic.MALFORMED_JSON
    return classify(record, received)


def classify_row(row: dict, received: datetime) -> str | None:
    if len(json.dumps(row)) > 64 * 1024:
        return synthetic.OVERSIZE_PAYLOAD
    if "\x00" in (row["user_id"] or "") or "\\u0000" in row["props"]:
        return synthetic.NUL_BYTE
    return classify({**row, "props": json.loads(row["props"])}, received)


def ndjson_rows(landing: Path) -> list[tuple[Path, bytes]]:
    return [(path, line) for path in sorted(landing.glob("*.ndjson")) for line in path.read_bytes().split(b"\n")[:-1]]


def good_records(landing: Path) -> pl.DataFrame:
    records = []
    for path, line in ndjson_rows(landing):
        if classify_line(line, received_at(path)) is None:
            record = json.loads(line)
            records.append({**record, **record.pop("props"), "received_at": received_at(path)})
    return pl.DataFrame(records, infer_schema_length=None)


def test_same_seed_gives_identical_files_and_another_seed_differs(tmp_path):
    def files(folder: str, seed: int) -> dict[str, bytes]:
        generate_landing_files(
            tmp_path / folder, [DAY, DAY + timedelta(days=1)], users=300, signals_per_day=2500, seed=seed,
            bad_share=0.05, duplicate_share=0.05,
        )
        return {path.name: path.read_bytes() for path in sorted((tmp_path / folder).iterdir())}

    first, again, other = files("a", 7), files("b", 7), files("c", 8)
    assert first == again
    assert len(first) == 6
    assert first.keys() != other.keys()
    assert set(first.values()).isdisjoint(other.values())


def test_a_day_is_the_same_whichever_days_are_generated_with_it():
    alone = [batch.payload for batch in iter_signal_batches([DAY], 200, 1500, seed=3)]
    together = [batch.payload for batch in iter_signal_batches([DAY - timedelta(days=1), DAY], 200, 1500, seed=3)]
    assert together[-2:] == alone


def test_user_activity_is_zipf_skewed(tmp_path):
    batches = iter_signal_batches([DAY], users=2000, signals_per_day=40_000, seed=11)
    users = pl.concat([pl.read_ndjson(batch.payload).select("user_id") for batch in batches])
    per_user = users["user_id"].value_counts(sort=True)["count"]
    top_share = per_user.head(20).sum() / per_user.sum()  # the most active 1% of 2,000 users
    assert top_share > 0.25
    assert per_user.median() < per_user.mean() / 2  # a long tail of occasional users


def test_personas_differ_in_events_cities_items_vibes_and_prices(tmp_path):
    generate_landing_files(tmp_path, [DAY], users=400, signals_per_day=60_000, seed=5)
    truth = Population.build(400, 5).table()
    signals = good_records(tmp_path).join(truth, on="user_id")

    type_share = signals.group_by("persona").agg(
        [(pl.col("event_type") == name).mean().alias(name) for name in EVENT_TYPES]
    ).sort("persona")
    share = {row["persona"]: row for row in type_share.to_dicts()}
    assert share["night owl"]["chat_message"] > 3 * share["culture buff"]["chat_message"]
    assert share["slow traveller"]["dwell"] > 3 * share["budget backpacker"]["dwell"]
    for row in share.values():
        assert row["view"] + row["scroll"] > 0.45  # views and scrolls dominate every mix

    for persona, favourites in zip(PERSONAS, PERSONA_CITIES, strict=True):
        per_user = signals.group_by("user_id", "persona").agg(pl.col("city").is_in(favourites).mean())
        own = per_user.filter(pl.col("persona") == persona)["city"].mean()
        others = per_user.filter(pl.col("persona") != persona)["city"].mean()
        assert own > 0.5 and own > 2 * others, persona

    items = signals.drop_nulls("item_id")
    kind_share = items.group_by("persona").agg(
        (pl.col("item_id").str.starts_with("food_")).mean().alias("food")
    )
    food = dict(kind_share.iter_rows())
    assert food["foodie"] > 2 * food["culture buff"]
    # A user's items belong to the catalogue of the city they were looking at.
    catalogue_city = items["item_id"].str.split("_").list.get(1).cast(pl.Int64) // ITEMS_PER_CITY.max()
    assert (catalogue_city == items["city"].replace_strict(CITIES, range(len(CITIES)))).all()

    vibes = signals.drop_nulls("vibe")
    assert (vibes["vibe"] == vibes["persona"]).mean() > 0.6
    prices = signals.drop_nulls("price").group_by("persona").agg(pl.col("price").median())
    price = dict(prices.iter_rows())
    assert price["luxury"] > 5 * price["budget backpacker"]

    searches = signals.filter(pl.col("event_type") == "search")
    assert all(query.endswith(city) for query, city in searches.select("query", "city").iter_rows())
    chats = signals.filter(pl.col("event_type") == "chat_message")
    assert chats["text"].str.contains("|".join(CITIES)).all()


def test_events_come_in_sessions_close_in_time_and_before_their_sync(tmp_path):
    generate_landing_files(tmp_path, [DAY], users=300, signals_per_day=20_000, seed=2)
    signals = good_records(tmp_path).with_columns(
        occurred=pl.col("occurred_at").str.to_datetime("%Y-%m-%dT%H:%M:%S%.3fZ", time_zone="UTC")
    )
    sessions = signals.group_by("session_id").agg(
        pl.col("user_id").n_unique().alias("users"),
        pl.col("city").n_unique().alias("cities"),
        (pl.col("occurred").max() - pl.col("occurred").min()).dt.total_seconds().alias("span_s"),
        pl.len().alias("events"),
    )
    assert (sessions["users"] == 1).all() and (sessions["cities"] == 1).all()
    assert sessions["events"].mean() > 5
    assert sessions["span_s"].median() < 15 * 60
    lead = (signals["occurred"] - signals["received_at"]).dt.total_seconds()
    assert (lead <= 120).all()  # device clocks run at most two minutes ahead
    assert ((lead <= 0) & (lead > -60)).mean() > 0.9  # most events were sent at the next sync
    assert (lead < -3600).any()  # and a few come late from devices that were offline
    assert UUID4.match(signals["event_id"][0]) and signals["session_id"][0].startswith("s_")
    assert signals["item_id"].drop_nulls().str.contains(rf"^({'|'.join(ITEM_KINDS)})_\d{{6}}$").all()


def test_bad_share_gives_exactly_that_many_bad_rows_of_every_kind(tmp_path):
    summary = generate_landing_files(tmp_path, [DAY], users=200, signals_per_day=2600, seed=9, bad_share=0.05)
    assert summary.bad == 130
    assert summary.bad_rows == Counter({kind: 10 for kind in BAD_KINDS})
    found = Counter(classify_line(line, received_at(path)) for path, line in ndjson_rows(tmp_path))
    assert found.pop(None) == 2600 - 130
    assert found == summary.bad_rows


def test_parquet_bad_rows_are_the_kinds_parquet_can_hold(tmp_path):
    summary = generate_landing_files(
        tmp_path, [DAY], users=200, signals_per_day=2200, seed=9, bad_share=0.05, fmt="parquet"
    )
    assert summary.bad_rows == Counter({kind: 10 for kind in KINDS_BY_FORMAT["parquet"]})
    found = Counter(
        classify_row(row, received_at(path))
        for path in sorted(tmp_path.glob("*.parquet"))
        for row in pq.read_table(path).to_pylist()
    )
    assert found.pop(None) == 2200 - 110
    assert found == summary.bad_rows


def test_duplicates_resend_earlier_events_verbatim_sometimes_in_a_later_file(tmp_path):
    summary = generate_landing_files(
        tmp_path, [DAY], users=200, signals_per_day=5000, seed=4, bad_share=0.02, duplicate_share=0.1
    )
    assert summary.duplicates == 500
    first_seen: dict[bytes, tuple[Path, bytes]] = {}
    repeats = []
    for path, line in ndjson_rows(tmp_path):
        if classify_line(line, received_at(path)) is not None:
            continue
        event_id = json.loads(line)["event_id"]
        if event_id in first_seen:
            repeats.append((first_seen[event_id], (path, line)))
        else:
            first_seen[event_id] = (path, line)
    assert len(repeats) == 500
    assert all(original_line == line for (_, original_line), (_, line) in repeats)
    files_later = sum(original_path != path for (original_path, _), (path, _) in repeats)
    assert 0 < files_later < 500


def test_files_are_named_by_receive_time_30_to_60_seconds_apart(tmp_path):
    summary = generate_landing_files(tmp_path, [DAY, DAY + timedelta(days=1)], 100, 12_345, seed=1)
    paths = sorted(tmp_path.iterdir())
    assert [path.name for path in paths] == sorted(path.name for path in summary.paths)
    assert all(NAME.match(path.name) for path in paths)
    assert [int(NAME.match(p.name).group(2)) for p in paths] == list(range(1, 27))
    for day in (DAY, DAY + timedelta(days=1)):
        times = [received_at(p) for p in paths if received_at(p).date() == day]
        assert len(times) == 13
        gaps = {(b - a).total_seconds() for a, b in itertools.pairwise(times)}
        assert min(gaps) >= 30 and max(gaps) <= 60
    rows = [len(path.read_bytes().split(b"\n")) - 1 for path in paths]
    assert rows == [1000] * 12 + [345] + [1000] * 12 + [345]
    assert summary.signals == 2 * 12_345 and summary.files == 26
    assert summary.bytes == sum(path.stat().st_size for path in paths)


def test_a_day_generated_in_several_chunks_keeps_exact_counts_and_one_timeline():
    batches = list(iter_signal_batches([DAY], 80, 4321, seed=2, bad_share=0.03, duplicate_share=0.04, batch_size=10))
    assert len(batches) == 433 > 2 * synthetic.CHUNK_BATCHES
    assert sum(b.rows for b in batches) == 4321
    assert sum(sum(b.bad_rows.values()) for b in batches) == round(0.03 * 4321)
    assert sum(b.duplicates for b in batches) == round(0.04 * 4321)
    gaps = {(b.received_at - a.received_at).total_seconds() for a, b in itertools.pairwise(batches)}
    assert min(gaps) >= 30 and max(gaps) <= 60
    lines = [(b.received_at, line) for b in batches for line in b.lines()]
    event_ids = [json.loads(line)["event_id"] for received, line in lines if classify_line(line, received) is None]
    assert len(event_ids) - len(set(event_ids)) == round(0.04 * 4321)


def test_a_day_too_busy_for_30_second_syncs_still_fits_in_the_day():
    batches = list(iter_signal_batches([DAY], 50, 3_000, seed=1, batch_size=1))
    assert len(batches) == 3_000
    assert all(batch.received_at.date() == DAY for batch in batches)
    assert [b.received_at for b in batches] == sorted(b.received_at for b in batches)


def test_parquet_and_ndjson_are_readable_by_common_tools(tmp_path):
    generate_landing_files(tmp_path / "json", [DAY], 100, 3000, seed=6)
    generate_landing_files(tmp_path / "pq", [DAY], 100, 3000, seed=6, fmt="parquet")

    from_json = pl.read_ndjson(min((tmp_path / "json").iterdir()))
    assert from_json.columns == ["event_id", "user_id", "session_id", "event_type", "occurred_at", "props"]
    assert from_json["props"].struct.field("city").is_in(CITIES).all()

    table = pq.read_table(tmp_path / "pq")
    assert table.num_rows == 3000
    assert str(table.schema.field("props").type) == "extension<arrow.json>"
    cities = duckdb.sql(
        f"SELECT props->>'city' AS city, props->>'dwell_ms' AS dwell FROM read_parquet('{tmp_path / 'pq'}/*.parquet')"
    ).pl()
    assert cities["city"].is_in(CITIES).all()
    assert cities["dwell"].drop_nulls().cast(pl.Int64).min() > 0


def test_in_memory_batches_match_the_files(tmp_path):
    generate_landing_files(tmp_path, [DAY], 100, 2500, seed=8, bad_share=0.1, duplicate_share=0.1)
    batches = list(iter_signal_batches([DAY], 100, 2500, seed=8, bad_share=0.1, duplicate_share=0.1))
    assert [(tmp_path / b.file_name).read_bytes() for b in batches] == [b.payload for b in batches]
    assert [len(b.lines()) for b in batches] == [b.rows for b in batches] == [1000, 1000, 500]

    tables = list(iter_signal_batches([DAY], 100, 2500, seed=8, fmt="parquet"))
    assert [t.payload.num_rows for t in tables] == [1000, 1000, 500]
    assert tables[0].file_name.endswith(".parquet")
    assert tables[0].payload.schema == synthetic.PARQUET_SCHEMA


def test_files_appear_whole_through_an_atomic_rename(tmp_path, monkeypatch):
    renames = []
    replace = os.replace

    def watched_replace(source, target):
        assert Path(source).name.startswith(".") and not Path(target).exists()
        renames.append(Path(target).name)
        replace(source, target)

    monkeypatch.setattr(synthetic.os, "replace", watched_replace)
    summary = generate_landing_files(tmp_path, [DAY], 100, 3500, seed=1, fmt="parquet")
    assert renames == [path.name for path in summary.paths]
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(renames)


def test_vocabulary_needs_no_json_escaping():
    phrases = [p for group in SEARCH_PHRASES for p in group]
    texts = [part for group in CHAT_TEMPLATES for template in group for part in template]
    for value in [*CITIES, *PERSONAS, *phrases, *texts]:
        assert json.dumps(value, ensure_ascii=False) == f'"{value}"'
        assert synthetic.UTF8_SENTINEL not in value


@pytest.mark.parametrize(
    ("bad_share", "duplicate_share"), [(-0.1, 0.0), (0.6, 0.5), (0.0, 1.0), (1.5, 0.0)]
)
def test_impossible_shares_are_refused(bad_share, duplicate_share):
    with pytest.raises(ValueError):
        next(iter_signal_batches([DAY], 10, 100, 1, bad_share, duplicate_share))


def test_cli_generate_writes_files_and_prints_a_summary(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    synthetic.register_cli(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args([
        "generate", "--out", str(tmp_path), "--start", "2026-11-20", "--end", "2026-11-21",
        "--users", "50", "--signals-per-day", "1500", "--seed", "3", "--bad-share", "0.02",
        "--duplicate-share", "0.01", "--format", "parquet",
    ])
    assert args.handler(args) == 0
    out = capsys.readouterr().out
    assert out.startswith("generated 4 files, 3000 signals (60 bad, 30 duplicates)")
    assert len(out.strip().splitlines()) == 1
    assert {received_at(p).date() for p in tmp_path.iterdir()} == {DAY, DAY + timedelta(days=1)}

    args = parser.parse_args(["generate", "--out", str(tmp_path / "today"), "--days", "2", "--signals-per-day", "10"])
    assert args.handler(args) == 0
    today = datetime.now(UTC).date()
    assert {received_at(p).date() for p in (tmp_path / "today").iterdir()} == {today - timedelta(days=1), today}

    args = parser.parse_args(["generate", "--out", str(tmp_path), "--bad-share", "2"])
    assert args.handler(args) == 2


def test_population_ground_truth_is_stable_per_seed():
    first, again = Population.build(1000, 12), Population.build(1000, 12)
    assert first.table().equals(again.table())
    table = first.table()
    assert table["user_id"][0] == "u_000001" and table["persona"].n_unique() == len(PERSONAS)
    assert np.isclose(table["activity"].sum(), 1.0)
