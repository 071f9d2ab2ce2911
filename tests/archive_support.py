"""Data helpers shared by the archive, retention and analyst tests."""

from datetime import date

from resources.postgres import PostgresResource
from resources.sql import load


def fill_day(postgres: PostgresResource, day: date, rows: int, users: int = 500, seed: int = 1, batch_id: int = 1) -> None:
    with postgres.connection() as conn:
        conn.execute("SELECT ensure_raw_signals_partition(%s)", (day,))
        conn.execute(
            load("archive/fill_synthetic_day"),
            {"day": day, "rows": rows, "users": users, "seed": seed, "batch_id": batch_id},
        )


def mark_distilled(postgres: PostgresResource, *days: date, complete: bool = True) -> None:
    with postgres.connection() as conn:
        for day in days:
            conn.execute(
                "INSERT INTO distilled_days (day, complete) VALUES (%s, %s) "
                "ON CONFLICT (day) DO UPDATE SET complete = EXCLUDED.complete",
                (day, complete),
            )


def live_event_ids(postgres: PostgresResource) -> list[str]:
    with postgres.connection() as conn:
        return [str(row[0]) for row in conn.execute("SELECT event_id FROM raw_signals")]


def manifest(postgres: PostgresResource) -> dict:
    with postgres.connection() as conn:
        rows = conn.execute(
            "SELECT day, rows, verified_at IS NOT NULL, dropped_at IS NOT NULL FROM archive_manifest ORDER BY day"
        ).fetchall()
    return {day: {"rows": n, "verified": verified, "dropped": dropped} for day, n, verified, dropped in rows}
