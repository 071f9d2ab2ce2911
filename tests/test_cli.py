import json
import uuid

import pytest

from orchestration.cli import main


@pytest.fixture
def cli_env(monkeypatch, database_url, tmp_path):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DISTILLERY_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DISTILLERY_BREAKER_ERROR_RATE", "0.05")
    return tmp_path


def write_batch(path, good: int, bad: int = 0):
    lines = [
        json.dumps({"event_id": str(uuid.uuid4()), "user_id": f"u_{i}", "event_type": "save",
                    "occurred_at": "2026-11-20T09:00:00Z", "props": {"item_id": "stay_1"}})
        for i in range(good)
    ] + ["nonsense"] * bad
    path.write_text("\n".join(lines))
    return path


def test_ingest_shows_progress_and_totals(cli_env, capsys):
    folder = cli_env / "batches"
    folder.mkdir()
    write_batch(folder / "batch-20261120T090000Z-000001.ndjson", good=40)
    write_batch(folder / "batch-20261120T090040Z-000002.ndjson", good=30, bad=1)

    assert main(["ingest", str(folder)]) == 0
    out = capsys.readouterr().out
    # Small files are committed together, in one batch.
    assert ("[2/2] 2 files, batch-20261120T090000Z-000001.ndjson .. batch-20261120T090040Z-000002.ndjson: "
            "70 stored, 0 duplicates, 1 rejected") in out
    assert "2 files, 71 rows" in out and "malformed_json: 1" in out

    assert main(["ingest", str(folder)]) == 0
    assert "(already ingested)" in capsys.readouterr().out


def test_ingest_refuses_while_the_breaker_is_open_until_resume(cli_env, capsys, monkeypatch):
    monkeypatch.setenv("DISTILLERY_BREAKER_ERROR_RATE", "0.0")
    bad = write_batch(cli_env / "batch-20261120T090000Z-000001.ndjson", good=1000, bad=200)
    later = write_batch(cli_env / "batch-20261120T091000Z-000002.ndjson", good=10)

    assert main(["ingest", str(bad)]) == 0
    assert main(["ingest", str(later)]) == 3
    assert "distillery ingest --resume" in capsys.readouterr().err

    assert main(["ingest", "--resume", str(later)]) == 0
    assert "10 stored" in capsys.readouterr().out


def test_distill_takes_a_day_and_a_part_of_its_shards(cli_env, capsys):
    assert main(["distill", "2026-11-20"]) == 0
    assert "0 signals into 0 profiles" in capsys.readouterr().out
    for bad in ("2/2", "1of2", "-1/2"):
        with pytest.raises(SystemExit):
            main(["distill", "2026-11-20", f"--part={bad}"])
        assert "want K/N with 0 <= K < N" in capsys.readouterr().err
    assert main(["distill", "2026-11-20", "--part", "20/32"]) == 2
    assert "holds none of the 16 shards" in capsys.readouterr().err


def test_ingest_without_files_is_a_usage_error(cli_env, capsys):
    assert main(["ingest"]) == 2
    assert main(["ingest", str(cli_env / "missing.ndjson")]) == 1
