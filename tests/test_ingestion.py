import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assets.ingestion import CircuitOpenError, SignalIngestor

RECEIVED = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def signal(**overrides) -> dict:
    record = {
        "event_id": str(uuid.uuid4()),
        "user_id": "u_000001",
        "session_id": "s_1",
        "event_type": "view",
        "occurred_at": "2026-11-20T11:59:00Z",
        "props": {"city": "Lisbon", "item_id": "stay_000001", "dwell_ms": 1200, "vibe": "slow traveller"},
    }
    record.update(overrides)
    return record


def line(record: dict) -> bytes:
    return json.dumps(record).encode()


# One line per reason the product quarantines, each with the reason it must get.
BAD_LINES = {
    "malformed_json": b'{"event_id": "truncated',
    "invalid_utf8": b'{"user_id": "\xff\xfe"}',
    "nul_byte": line(signal(user_id="u\u0000x")),
    "oversize_payload": line(signal(props={"text": "x" * 70_000})),
    "too_deep": line(signal(props=json.loads('{"a":' * 40 + "1" + "}" * 40))),
    "not_an_object": b"[1, 2, 3]",
    "missing_field": line({k: v for k, v in signal().items() if k != "user_id"}),
    "bad_type": line(signal(props={"dwell_ms": "abc"})),
    "invalid_event_id": line(signal(event_id="'; DROP TABLE raw_signals; --")),
    "empty_id": line(signal(user_id="")),
    "id_too_long": line(signal(user_id="u" * 257)),
    "unknown_event_type": line(signal(event_type="teleport")),
    "occurred_in_future": line(signal(occurred_at="2026-11-22T12:00:01Z")),
    "occurred_too_old": line(signal(occurred_at="1999-12-31T23:59:59Z")),
}


@pytest.fixture
def ingestor(postgres) -> SignalIngestor:
    return SignalIngestor(postgres=postgres, breaker_min_rows=10_000)


def stored_count(postgres) -> int:
    with postgres.connection() as conn:
        return conn.execute("SELECT count(*) FROM raw_signals").fetchone()[0]


def test_a_batch_with_bad_rows_keeps_exactly_the_good_ones_and_quarantines_each_with_its_reason(ingestor, postgres):
    good = [signal(user_id=f"u_{i:06d}") for i in range(266)]
    lines = [line(record) for record in good]
    for position, bad in enumerate(BAD_LINES.values()):
        lines.insert(position * 19, bad)

    report = ingestor.ingest_lines([lines], "test", RECEIVED)

    assert (report.rows_in, report.accepted, report.rejected) == (280, 266, 14)
    assert dict(report.rejects_by_reason) == {reason: 1 for reason in BAD_LINES}
    with postgres.connection() as conn:
        stored = {row[0] for row in conn.execute("SELECT event_id::text FROM raw_signals")}
        quarantined = dict(conn.execute("SELECT reason, raw FROM signal_rejects").fetchall())
    assert stored == {record["event_id"] for record in good}
    assert set(quarantined) == set(BAD_LINES)
    # SQL-looking ids are data: stored verbatim in quarantine, never executed.
    assert "DROP TABLE raw_signals" in quarantined["invalid_event_id"]
    assert len(quarantined["oversize_payload"]) == ingestor.reject_raw_cap


def test_typed_columns_are_promoted_and_the_rest_kept_in_props(ingestor, postgres):
    record = signal(props={"city": "Porto", "item_id": "food_000007", "dwell_ms": 4200, "vibe": "foodie", "price": 12.5})
    ingestor.ingest_records([record], received_at=RECEIVED)
    with postgres.connection() as conn:
        row = conn.execute(
            "SELECT city, item_id, dwell_ms, props->>'vibe', received_at, occurred_at FROM raw_signals"
        ).fetchone()
    assert row == ("Porto", "food_000007", 4200, "foodie", RECEIVED, datetime(2026, 11, 20, 11, 59, tzinfo=UTC))


def test_replayed_batches_store_nothing_twice_across_days(ingestor, postgres):
    batch = [line(signal(user_id=f"u_{i}")) for i in range(500)]
    first = ingestor.ingest_lines([batch], "sdk", RECEIVED)
    # The client retries the same batch, and also re-sends part of it the next day mixed with new rows.
    again = ingestor.ingest_lines([batch], "sdk", RECEIVED + timedelta(minutes=1))
    new_rows = [line(signal()) for _ in range(100)]
    next_day = ingestor.ingest_lines([batch[:250] + new_rows + new_rows[:10]], "sdk", RECEIVED + timedelta(days=1))

    assert (first.accepted, again.accepted, again.duplicates) == (500, 0, 500)
    assert (next_day.accepted, next_day.duplicates) == (100, 260)
    assert stored_count(postgres) == 600
    with postgres.connection() as conn:
        assert conn.execute(
            "SELECT count(*) FROM (SELECT event_id FROM raw_signals GROUP BY 1 HAVING count(*) > 1) AS d"
        ).fetchone()[0] == 0


def test_an_id_repeated_across_chunks_of_one_batch_is_stored_once_and_its_chunk_kept(ingestor, postgres):
    small = ingestor.model_copy(update={"chunk_rows": 50})
    lines = [line(signal(user_id=f"u_{i}")) for i in range(200)]
    # Chunk 3 repeats one id of chunk 1: its claim falls back to the probe and keeps its other 49 rows.
    lines[120] = lines[10]

    report = small.ingest_lines([lines], "sdk", RECEIVED)

    assert (report.rows_in, report.accepted, report.duplicates) == (200, 199, 1)
    assert stored_count(postgres) == 199
    with postgres.connection() as conn:
        assert conn.execute("SELECT count(*) FROM signal_ledger").fetchone()[0] == 199


def test_concurrent_batches_sharing_ids_store_each_once(ingestor, postgres):
    shared = [line(signal(user_id=f"u_{i}")) for i in range(300)]
    batches = [shared + [line(signal()) for _ in range(100)] for _ in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        reports = list(pool.map(lambda batch: ingestor.ingest_lines([batch], "sdk", RECEIVED), batches))

    assert sum(r.accepted for r in reports) == 300 + 4 * 100
    assert sum(r.duplicates for r in reports) == 3 * 300
    assert stored_count(postgres) == 700


def test_a_batch_is_atomic_when_it_fails_half_way(ingestor, postgres, monkeypatch):
    def chunks():
        yield [line(signal()) for _ in range(100)]
        raise OSError("connection to the client dropped")

    with pytest.raises(OSError):
        ingestor.ingest_lines(chunks(), "sdk", RECEIVED)
    assert stored_count(postgres) == 0
    with postgres.connection() as conn:
        assert conn.execute("SELECT count(*) FROM signal_ledger").fetchone()[0] == 0


def test_chunked_files_ndjson_and_parquet_share_the_path(ingestor, postgres, tmp_path):
    small = ingestor.model_copy(update={"chunk_rows": 64})
    records = [signal(user_id=f"u_{i % 17}") for i in range(300)]
    records[200]["props"] = {"city": "San Sebastián", "text": 'a "quoted" \\ backslash'}
    ndjson = tmp_path / "batch-20261120T120000Z-000001.ndjson"
    ndjson.write_bytes(b"\n".join(line(r) for r in records[:150]) + b"\n\n")
    parquet = tmp_path / "batch-20261120T120100Z-000002.parquet"
    pq.write_table(pa.Table.from_pylist(records[150:]), parquet)

    first = small.ingest_file(ndjson, RECEIVED)
    second = small.ingest_file(parquet, RECEIVED)
    replay = small.ingest_file(ndjson, RECEIVED)

    assert (first.accepted, second.accepted) == (150, 150)
    assert replay.already_ingested and replay.batch_id == first.batch_id
    assert stored_count(postgres) == 300


def test_small_files_commit_together_and_each_line_keeps_its_file_and_receive_time(ingestor, postgres, tmp_path):
    grouped = ingestor.model_copy(update={"batch_rows": 25})
    files = []
    for minute in range(4):
        path = tmp_path / f"batch-20261120T12{minute:02d}00Z-{minute:06d}.ndjson"
        path.write_bytes(b"\n".join([line(signal()) for _ in range(9)] + [BAD_LINES["unknown_event_type"]]))
        files.append((path, RECEIVED + timedelta(minutes=minute)))
    unreadable = tmp_path / "batch-20261120T120430Z-000009.parquet"
    unreadable.write_bytes(b"not parquet")
    files.insert(2, (unreadable, RECEIVED + timedelta(minutes=1, seconds=30)))
    next_day = tmp_path / "batch-20261121T000100Z-000010.ndjson"
    next_day.write_bytes(line(signal(occurred_at="2026-11-21T00:00:00Z")))
    files.append((next_day, RECEIVED + timedelta(hours=12, minutes=1)))

    reports = list(grouped.ingest_files(files))

    # 10-line files gathered up to 25 rows: the unreadable file and the day change close a batch early.
    assert [[path.name[6:21] for path in r.files] for r in reports] == [
        ["20261120T120000", "20261120T120100"], ["20261120T120430"],
        ["20261120T120200", "20261120T120300"], ["20261121T000100"],
    ]
    assert sum(r.accepted for r in reports) == 4 * 9 + 1
    assert [r.rejects_by_reason.get("unparseable_file", 0) for r in reports].count(1) == 1
    with postgres.connection() as conn:
        received = dict(conn.execute(
            "SELECT r.source, min(s.received_at) FROM signal_rejects r JOIN raw_signals s USING (batch_id) "
            "WHERE r.reason = 'unknown_event_type' GROUP BY 1"
        ).fetchall())
        per_file = dict(conn.execute(
            "SELECT source, received_at FROM signal_rejects WHERE reason = 'unknown_event_type'"
        ).fetchall())
        stored_times = {row[0] for row in conn.execute("SELECT DISTINCT received_at FROM raw_signals")}
    assert per_file == {str(path): at for path, at in files if path.suffix == ".ndjson" and path != next_day}
    assert len(received) == 4
    assert stored_times == {at for path, at in files if path.suffix == ".ndjson"}

    again = list(grouped.ingest_files(files))
    assert all(r.already_ingested for r in again) and len(again) == len(files)


def test_a_large_file_is_streamed_in_chunks_as_its_own_batch(ingestor, postgres, tmp_path):
    streamed = ingestor.model_copy(update={"chunk_rows": 64, "streamed_file_bytes": 1})
    large = tmp_path / "batch-20261120T120000Z-000001.ndjson"
    large.write_bytes(b"\n".join(line(signal()) for _ in range(150)))
    broken = tmp_path / "batch-20261120T120100Z-000002.parquet"
    broken.write_bytes(b"PAR1 but not really")

    reports = list(streamed.ingest_files([(large, RECEIVED), (broken, RECEIVED + timedelta(minutes=1))]))

    assert [(r.files, r.accepted, dict(r.rejects_by_reason)) for r in reports] == [
        ([large], 150, {}), ([broken], 0, {"unparseable_file": 1}),
    ]
    assert stored_count(postgres) == 150


def test_an_unreadable_file_is_quarantined_as_one_row(ingestor, postgres, tmp_path):
    broken = tmp_path / "batch-20261120T120000Z-000009.parquet"
    broken.write_bytes(b"PAR1 this is not parquet")
    report = ingestor.ingest_file(broken, RECEIVED)
    assert (report.rejected, dict(report.rejects_by_reason)) == (1, {"unparseable_file": 1})
    with postgres.connection() as conn:
        reason, detail = conn.execute("SELECT reason, detail FROM signal_rejects").fetchone()
    assert reason == "unparseable_file" and detail


def test_per_user_cap_quarantines_the_excess_as_rate_limited(ingestor, postgres):
    capped = ingestor.model_copy(update={"max_signals_per_user_per_day": 50})
    capped.ingest_lines([[line(signal(user_id="bot")) for _ in range(40)]], "sdk", RECEIVED)
    report = capped.ingest_lines(
        [[line(signal(user_id="bot")) for _ in range(30)] + [line(signal(user_id="human")) for _ in range(5)]],
        "sdk", RECEIVED,
    )
    assert (report.accepted, report.rate_limited, dict(report.rejects_by_reason)) == (15, 20, {"rate_limited": 20})
    with postgres.connection() as conn:
        assert dict(conn.execute("SELECT user_id, count(*) FROM raw_signals GROUP BY 1").fetchall()) == {
            "bot": 50, "human": 5
        }
    assert not capped.breaker_state().open


def test_circuit_breaker_trips_refuses_and_resets(ingestor, postgres):
    strict = ingestor.model_copy(update={"breaker_min_rows": 100})
    batch = [line(signal()) for _ in range(90)] + [b"not json"] * 10
    report = strict.ingest_lines([batch], "sdk", RECEIVED)
    assert report.accepted == 90  # the batch that trips the breaker keeps its good rows
    state = strict.breaker_state()
    assert state.open and "10.0%" in state.reason

    with pytest.raises(CircuitOpenError, match="distillery ingest --resume"):
        strict.ingest_lines([[line(signal())]], "sdk", RECEIVED)
    assert stored_count(postgres) == 90

    strict.reset_breaker("test")
    assert not strict.breaker_state().open
    assert strict.ingest_lines([[line(signal()) for _ in range(100)]], "sdk", RECEIVED).accepted == 100
    assert not strict.breaker_state().open


def test_epoch_millisecond_timestamps_and_naive_iso_are_utc(ingestor, postgres):
    ingestor.ingest_records(
        [signal(occurred_at=int(datetime(2025, 11, 20, 11, 59, tzinfo=UTC).timestamp() * 1000)), signal(occurred_at="2026-11-20T11:59:00")], received_at=RECEIVED
    )
    with postgres.connection() as conn:
        times = sorted(row[0] for row in conn.execute("SELECT occurred_at FROM raw_signals"))
    assert times == [datetime(2025, 11, 20, 11, 59, tzinfo=UTC), datetime(2026, 11, 20, 11, 59, tzinfo=UTC)]
