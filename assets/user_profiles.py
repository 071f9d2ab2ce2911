"""user_profiles: each user's signals of a receive day distilled into a small, versioned profile.

Exactly once, by watermark: for each (receive day, user shard) `distill_watermarks` holds the
newest ingestion batch already merged. A run first fixes a horizon (the newest batch, taken while
in-flight batches are made to commit), then for every shard behind it merges the shard's rows with
batch_id in (watermark, horizon] into profiles, writes the new versions and advances the watermark
in ONE transaction. A killed run rolls back only its current shard; a re-run continues; a finished
day distills nothing new. A backfilled day has its own watermarks and decays its evidence to the
profile's newer day, so nothing is counted twice and the order of days does not matter.

The work is set-based: COPYs stream the day's pending rows into DuckDB (by halves of the
shards, so merging starts before the day is read), and each chunk of shards gets its features,
merge, interpretation and documents in SQL (dbt_like_sql/distill/) on a DuckDB connection of its
own, whose temporary tables no other chunk sees; so memory follows the chunk, not the day, and
chunks are merged side by side while earlier ones are stored.
"""

import select
import shutil
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import dagster as dg
import duckdb
import psycopg
from psycopg import pq
from pydantic import Field

from assets.distillers import (
    DEFAULT_INJECTION_CANARIES,
    ChunkContext,
    Distiller,
    GeminiDistiller,
    LlmReport,
    LocalDistiller,
    duckdb_query,
    run_duckdb,
)
from assets.ingestion import MAX_ID_CHARS
from assets.partitions import daily_partition
from assets.profile_schema import (
    DAYPARTS,
    MAX_CITIES,
    MAX_INTERESTS,
    MAX_ITEMS,
    MAX_KEY_CHARS,
    MAX_SUMMARY_CHARS,
    MAX_TAGS,
    MAX_TOP_ITEMS,
    MAX_VIBES,
    PERSONAS,
    TAG_PATTERN,
    TRAVEL_STYLES,
    profile_error,
)
from assets.raw_signals import raw_signals
from resources.gemini import GeminiResource
from resources.postgres import PostgresResource
from resources.sql import load

EVERY_USER_HAS_A_FRESH_PROFILE = "every_user_has_a_fresh_profile"
STORED_PROFILES_VALIDATE = "stored_profiles_validate"
LLM_CALLS_WITHIN_BOUND = "llm_calls_within_bound"
NO_INJECTION_CANARY = "no_injection_canary"

COPY_BLOCK_BYTES = 1024 * 1024
MAX_SHARD_ATTEMPTS = 3


class ConcurrentProfileUpdate(RuntimeError):
    """Another run changed some of the shard's profiles first; the shard is merged again."""


@dataclass
class RunState:
    """A run's inputs (its day, SQL parameters, horizon), each shard's watermark as last read, where
    each shard's new profiles are staged (with their count and signals), and the LLM's spend."""

    day: date
    run_id: str | None
    parameters: dict[str, Any]
    watermarks: list[int]
    horizon: int
    staged: dict[int, tuple[Path, int, int]] = field(default_factory=dict)
    llm: LlmReport = field(default_factory=LlmReport)


class InvalidProfiles(RuntimeError):
    """Distillation produced documents that break the profile schema; nothing of the shard is stored."""


@dataclass
class ShardReport:
    shard: int
    signals: int = 0
    profiles_updated: int = 0
    skipped: bool = False


@dataclass
class DistillReport:
    """What one run did for one receive day: the asset's metadata."""

    day: date
    distiller: str
    horizon: int = 0
    shards: int = 0
    shards_distilled: int = 0
    shards_already_done: int = 0
    signals: int = 0
    profiles_updated: int = 0
    day_signals: int = 0
    day_users: int = 0
    complete: bool = False
    seconds: float = 0.0
    llm: LlmReport = field(default_factory=LlmReport)

    def add(self, shard: ShardReport) -> None:
        if shard.skipped:
            self.shards_already_done += 1
            return
        self.shards_distilled += 1
        self.signals += shard.signals
        self.profiles_updated += shard.profiles_updated

    def metadata(self) -> dict[str, Any]:
        per_1k = 1000 / self.signals if self.signals else 0.0
        return {
            "distiller": self.distiller,
            "signals_in": self.signals,
            # Each user with new signals gets exactly one new version per run.
            "users": self.profiles_updated,
            "profiles_updated": self.profiles_updated,
            "versions_written": self.profiles_updated,
            "signals_per_profile_update": round(self.signals / self.profiles_updated, 2) if self.profiles_updated else 0.0,
            "llm_due_users": self.llm.due,
            "llm_calls": self.llm.calls,
            "llm_users_read": self.llm.users_read,
            "llm_input_tokens": self.llm.input_tokens,
            "llm_output_tokens": self.llm.output_tokens,
            "llm_cost_usd": round(self.llm.cost_usd, 6),
            "llm_calls_per_1k_signals": round(self.llm.calls * per_1k, 4),
            "cost_per_1k_signals_usd": round(self.llm.cost_usd * per_1k, 6),
            "llm_fallbacks": dict(self.llm.fallbacks),
            "seconds": round(self.seconds, 3),
            "signals_per_second": round(self.signals / self.seconds) if self.seconds and self.signals else 0,
            "shards": self.shards,
            "shards_distilled": self.shards_distilled,
            "shards_already_done": self.shards_already_done,
            "ingest_horizon_batch": self.horizon,
            "day_signals_distilled": self.day_signals,
            "day_users_distilled": self.day_users,
            "day_complete": self.complete,
        }


class DistillerResource(dg.ConfigurableResource):
    """How signals become profiles: decay, shards, which distiller, and the LLM's economy and guards."""

    postgres: dg.ResourceDependency[PostgresResource]
    gemini: dg.ResourceDependency[GeminiResource]
    provider: Literal["local", "gemini"] = Field(
        default="local", description="local: no key needed. gemini: the LLM reads users due a reading."
    )
    half_life_days: float = Field(default=30.0, gt=0, description="Evidence loses half its weight in this many days.")
    shards: int = Field(default=16, ge=1, le=1024, description="User shards of a new day; one transaction each.")
    llm_signal_threshold: int = Field(default=1000, ge=1, description="New signals since a user's last LLM reading that make one due.")
    llm_min_signals_on_persona_change: int = Field(
        default=100, ge=0, description="A changed persona makes a reading due once this many signals have built up."
    )
    users_per_request: int = Field(default=8, ge=1, description="Users read in one LLM request.")
    user_daily_token_budget: int | None = Field(default=None, description="LLM tokens one user may use per UTC day.")
    max_llm_calls_per_1k_signals: float = Field(default=1.0, ge=0, description="Bound checked by llm_calls_within_bound.")
    chat_samples_per_user: int = Field(default=5, ge=1, description="Recent chat messages the LLM sees per user.")
    chat_chars: int = Field(default=300, ge=1, description="Characters kept of each chat message.")
    versions_kept: int = Field(default=20, ge=1, description="Newest versions kept per user for history and rollback.")
    injection_canaries: list[str] = Field(
        default_factory=lambda: list(DEFAULT_INJECTION_CANARIES),
        description="Phrases that must never appear in a stored profile.",
    )
    backlog_signals: int = Field(default=100_000, description="Undistilled signals of today that trigger a run.")
    backlog_max_age_minutes: int = Field(default=60, description="Age of the oldest undistilled signal that triggers a run.")
    store_workers: int = Field(default=2, ge=1, description="Shards written to Postgres at once.")
    merge_workers: int = Field(
        default=2, ge=1, description="Chunks merged at once, each single-threaded on a DuckDB connection of its own."
    )
    chunk_signals: int = Field(
        default=250_000, ge=1,
        description="Signals merged at once; shards are grouped up to it, and a chunk is stored while the next are merged.",
    )
    duckdb_memory_limit: str = Field(default="1GB", description="DuckDB spills to disk beyond this.")

    def distiller(self) -> Distiller:
        if self.provider == "gemini":
            return GeminiDistiller(
                self.gemini, self.postgres, self.users_per_request, self.injection_canaries, self.user_daily_token_budget
            )
        return LocalDistiller()

    # -- a run --------------------------------------------------------------------------------

    def distill_day(self, day: date, run_id: str | None = None, part: tuple[int, int] = (0, 1)) -> DistillReport:
        """Merges every signal of `day` not yet distilled into profiles; safe to re-run and to kill.

        `part` (k, n) limits the run to the shards s with s % n == k, so one day can fan out across
        n processes or machines: each shard has its own watermark and transaction, so parts never
        overlap and any of them can be re-run.
        """
        number, parts = part
        if not 0 <= number < parts:
            raise ValueError(f"part {number} of {parts}: want 0 <= part < parts")
        started = time.perf_counter()
        distiller = self.distiller()
        report = DistillReport(day=day, distiller=distiller.name)
        horizon, taken_at = self._horizon()
        shard_count, watermarks = self._watermarks(day)
        chosen = range(number, shard_count, parts)
        if not chosen:
            raise ValueError(f"part {number} of {parts} holds none of the {shard_count} shards of {day}")
        pending = [shard for shard in chosen if watermarks[shard] < horizon]
        report.horizon, report.shards = horizon, shard_count
        report.shards_already_done = len(chosen) - len(pending)
        if pending:
            with tempfile.TemporaryDirectory(prefix="distill-") as folder, self._duckdb(folder) as db:
                work = RunState(day, run_id, self._parameters(day, run_id, folder), watermarks, horizon)
                chunks = self._pending_chunks(db, work, shard_count, pending, Path(folder))
                for shard_report in self._merge_and_store(db, distiller, work, chunks):
                    report.add(shard_report)
                report.llm = work.llm
        self._record_day(day, horizon, taken_at, run_id, report)
        report.seconds = time.perf_counter() - started
        return report

    def _parameters(self, day: date, run_id: str | None, folder: str) -> dict[str, Any]:
        return {
            "day": day,
            "run_id": run_id,
            "folder": folder,
            "updated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "half_life_days": float(self.half_life_days),
            "chat_samples": self.chat_samples_per_user,
            "llm_signal_threshold": self.llm_signal_threshold,
            "llm_min_signals_on_persona_change": self.llm_min_signals_on_persona_change,
            "max_interests": MAX_INTERESTS, "max_cities": MAX_CITIES, "max_vibes": MAX_VIBES,
            "max_items": MAX_ITEMS, "max_top_items": MAX_TOP_ITEMS, "max_tags": MAX_TAGS,
            "max_summary_chars": MAX_SUMMARY_CHARS, "max_id_chars": MAX_ID_CHARS,
            "personas": list(PERSONAS), "travel_styles": list(TRAVEL_STYLES), "dayparts": list(DAYPARTS),
            "key_pattern": rf"[^\x00-\x1f\x7f<>]{{1,{MAX_KEY_CHARS}}}", "tag_pattern": TAG_PATTERN,
        }

    def _duckdb(self, folder: str) -> duckdb.DuckDBPyConnection:
        db = duckdb.connect(config={
            "memory_limit": self.duckdb_memory_limit,
            "temp_directory": str(Path(folder) / "spill"),
            "preserve_insertion_order": False,
        })
        # Parallelism comes from merging chunks side by side; a chunk's tables are too small for a
        # multi-threaded plan to pay for itself (it cost a tenth more CPU). Only the first load of a
        # day widens it for a moment (_pending_chunks).
        for statement in (
            "distill/one_thread", "distill/utc_session", "distill/quiet_session",
            "distill/event_weight_macro", "distill/clean_key_macro", "distill/pg_text_macro", "distill/create_day_signals",
        ):
            run_duckdb(db, statement, {})
        return db

    def _horizon(self) -> tuple[int, datetime]:
        """The newest batch such that every batch up to it has committed or rolled back for good.

        Batch ids are taken when a batch starts but become visible when it commits, so a plain
        max(batch_id) could pass over a slower batch still in flight; the SHARE lock waits for
        in-flight batches (each holds ingest_batches until it commits) and is released at once.
        """
        with self.postgres.connection() as conn:
            conn.execute(load("distill/lock_ingest_batches"))
            return conn.execute(load("distill/ingest_horizon")).fetchone()

    def _watermarks(self, day: date) -> tuple[int, list[int]]:
        with self.postgres.connection() as conn:
            conn.execute(load("distill/ensure_watermarks"), {"day": day, "shards": self.shards})
            rows = conn.execute(load("distill/day_watermarks"), {"day": day}).fetchall()
        counts = {shards for _, shards, _ in rows}
        if len(counts) != 1 or [shard for shard, _, _ in rows] != list(range(next(iter(counts)))):
            raise RuntimeError(f"distill_watermarks of {day} are inconsistent: shard counts {sorted(counts)}, {len(rows)} rows")
        return counts.pop(), [mark for _, _, mark in rows]

    def _pending_chunks(
        self, db: duckdb.DuckDBPyConnection, work: "RunState", shard_count: int, pending: list[int], folder: Path
    ) -> Iterator[list[int]]:
        """The pending shards in chunks of bounded size. With shards enough for every merge worker
        in each half, the day's signals stream in by halves, so the first half's chunks are merged
        while the second half is read."""
        middle = (len(pending) + 1) // 2 if len(pending) >= 2 * self.merge_workers else len(pending)
        for number, half in enumerate([half for half in (pending[:middle], pending[middle:]) if half]):
            path = folder / "signals.csv"
            with self.postgres.connection() as conn:
                _copy_out(conn, load("distill/copy_day_signals"), {
                    "day": work.day, "shards": shard_count, "shard_set": half,
                    "after": min(work.watermarks[shard] for shard in half), "upto": work.horizon,
                    "seen_upto": max(work.watermarks[shard] for shard in half), "watermarks": work.watermarks,
                    "chat_chars": self.chat_chars,
                }, path)
            if number == 0:
                # Nothing is merged yet while the first half loads, so the load may use every core.
                run_duckdb(db, "distill/all_threads", {})
            run_duckdb(db, "distill/load_day_signals", {"path": str(path)})
            run_duckdb(db, "distill/one_thread", {})
            path.unlink()
            counts = dict(run_duckdb(db, "distill/shard_signal_counts", {"watermarks": work.watermarks}))
            yield from chunked(half, counts, self.chunk_signals, self.merge_workers)

    def _merge(self, db: duckdb.DuckDBPyConnection, distiller: Distiller, work: "RunState", chunk: list[int]) -> LlmReport:
        """Merges the chunk on a connection of its own and stages its documents for the store."""
        with db.cursor() as own:
            return self._merge_on(own, distiller, work, chunk)

    def _merge_on(self, db: duckdb.DuckDBPyConnection, distiller: Distiller, work: "RunState", chunk: list[int]) -> LlmReport:
        """Computes the chunk's new documents in DuckDB (table `documents`) from its signals and current profiles."""
        parameters = {**work.parameters, "chunk": chunk, "watermarks": list(work.watermarks)}
        for step in ("distill/new_user_evidence", "distill/new_keyed_evidence"):
            run_duckdb(db, step, parameters)
        users = [user_id for (user_id,) in run_duckdb(db, "distill/new_users_of_chunk", {})]
        staged = Path(tempfile.mkdtemp(prefix="staged-", dir=work.parameters["folder"]))
        path = staged / "profiles.tsv"
        with self.postgres.connection() as conn:
            _copy_out(conn, load("distill/copy_current_profiles"), {"users": users}, path)
        for step in (
            "distill/previous_evidence", "distill/previous_keyed_evidence",
            "distill/merged_user_evidence", "distill/merged_keyed_evidence",
        ):
            run_duckdb(db, step, {**parameters, "path": str(path)})
        path.unlink()
        llm = distiller.interpret(db, ChunkContext(work.day, work.run_id, parameters))
        run_duckdb(db, "distill/profile_documents", parameters)
        violations = run_duckdb(db, "distill/profile_violations", parameters)
        if violations:
            examples = "; ".join(f"{user}: {why}" for user, why in violations[:5])
            raise InvalidProfiles(f"{len(violations)} new profiles break the schema ({examples})")
        self._stage(db, work, parameters, staged)
        return llm

    def _stage(self, db: duckdb.DuckDBPyConnection, work: "RunState", parameters: dict[str, Any], staged: Path) -> None:
        """Writes the chunk's documents and heads once, one file per shard in COPY's text format.

        The queries escape their strings for that format, so nothing is quoted: several times
        faster than CSV for JSON documents, whose every quote CSV would double. Each merge stages
        into a folder of its own, so its shards are stored while other chunks are merged.
        """
        for name in ("heads", "versions"):
            duckdb_query(db, f"distill/staged_{name}", parameters).write_csv(
                str(staged / name), header=False, sep="\t", quotechar="", escapechar="", na_rep="\\N",
                partition_by=["shard"],
            )
        counts = {shard: (profiles, signals) for shard, profiles, signals in run_duckdb(db, "distill/document_counts", {})}
        for shard in parameters["chunk"]:
            work.staged[shard] = (staged, *counts.get(shard, (0, 0)))

    def _merge_and_store(
        self, db: duckdb.DuckDBPyConnection, distiller: Distiller, work: "RunState", chunks: Iterator[list[int]]
    ) -> list[ShardReport]:
        """Merges a few chunks at once while the shards of merged chunks are stored, a few at a
        time, each in its own transaction. A shard another run changed meanwhile is merged again
        and stored on its own at the end."""
        reports, changed = [], []
        stores: list[tuple[int, Future]] = []

        def collect(wait: bool) -> None:
            for shard, future in [item for item in stores if wait or item[1].done()]:
                stores.remove((shard, future))
                try:
                    reports.append(future.result())
                except ConcurrentProfileUpdate as change:
                    dg.get_dagster_logger().info(f"{change}; merging the shard again")
                    changed.append(shard)

        with (
            ThreadPoolExecutor(max_workers=self.merge_workers, thread_name_prefix="distill-merge") as merging,
            ThreadPoolExecutor(max_workers=self.store_workers, thread_name_prefix="distill-store") as storing,
        ):
            try:
                merges = [(chunk, merging.submit(self._merge, db, distiller, work, chunk)) for chunk in chunks]
                for chunk, merge in merges:
                    work.llm.add(merge.result())
                    collect(wait=False)
                    stores.extend((shard, storing.submit(self._store_shard, work, shard)) for shard in chunk)
                collect(wait=True)
            except BaseException:
                merging.shutdown(cancel_futures=True)
                storing.shutdown(cancel_futures=True)
                raise
        for shard in changed:
            for attempt in range(2, MAX_SHARD_ATTEMPTS + 1):
                work.llm.add(self._merge(db, distiller, work, [shard]))
                try:
                    reports.append(self._store_shard(work, shard))
                    break
                except ConcurrentProfileUpdate:
                    if attempt == MAX_SHARD_ATTEMPTS:
                        raise
        return reports

    def _store_shard(self, work: "RunState", shard: int) -> ShardReport:
        """One shard, one transaction: its versions, heads and watermark, or nothing."""
        with self.postgres.connection() as conn:
            watermark = conn.execute(load("distill/claim_shard"), {"day": work.day, "shard": shard}).fetchone()[0]
            if watermark >= work.horizon:
                return ShardReport(shard, skipped=True)
            if watermark != work.watermarks[shard]:
                work.watermarks[shard] = watermark
                raise ConcurrentProfileUpdate(f"shard {shard} of {work.day} was advanced by another run")
            report = store_profiles(conn, work, shard, self.versions_kept)
        staged = work.staged[shard][0]
        for name in ("heads", "versions"):
            shutil.rmtree(staged / name / f"shard={shard}", ignore_errors=True)
        return report

    # -- the day's record, the backlog --------------------------------------------------------

    def _record_day(self, day: date, horizon: int, taken_at: datetime, run_id: str | None, report: DistillReport) -> None:
        with self.postgres.connection() as conn:
            signals, profiles_updated, distilled_upto = conn.execute(load("distill/day_totals"), {"day": day}).fetchone()
            users = conn.execute(load("distill/day_distilled_users"), {"day": day}).fetchone()[0]
            day_closed = taken_at >= datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC)
            complete = day_closed and distilled_upto >= horizon
            conn.execute(load("distill/record_distilled_day"), {
                "day": day, "signals": signals, "users": users, "profiles_updated": profiles_updated,
                "complete": complete, "run_id": run_id,
            })
        report.day_signals, report.day_users, report.complete = signals, users, complete

    def backlog(self, day: date) -> tuple[int, datetime | None, int]:
        """Undistilled signals received on `day`, when the oldest arrived, and the newest batch."""
        with self.postgres.connection() as conn:
            return conn.execute(load("distill/undistilled_backlog"), {"day": day}).fetchone()


def store_profiles(conn: psycopg.Connection, work: "RunState", shard: int, versions_kept: int) -> ShardReport:
    """Moves the shard's heads, writes its versions and advances its watermark, in the caller's transaction."""
    staged, profiles, signals = work.staged[shard]
    conn.execute(load("distill/create_head_staging"))
    _copy_files(conn, staged / "heads" / f"shard={shard}", load("distill/copy_head_staging"))
    moved = conn.execute(load("distill/upsert_profile_heads"), {"updated_at": work.parameters["updated_at"]}).rowcount
    if moved != profiles:
        raise ConcurrentProfileUpdate(f"{profiles - moved} profiles of shard {shard} changed during the merge")
    _copy_files(conn, staged / "versions" / f"shard={shard}", load("distill/copy_profile_versions"))
    conn.execute(load("distill/prune_profile_versions"), {"kept": versions_kept})
    conn.execute(load("distill/advance_watermark"), {
        "day": work.day, "shard": shard, "upto": work.horizon, "signals": signals,
        "profiles": profiles, "run_id": work.run_id,
    })
    return ShardReport(shard, signals=signals, profiles_updated=profiles)


def chunked(shards: list[int], signals: dict[int, int], limit: int, workers: int = 1) -> list[list[int]]:
    """Consecutive shards in groups of near-equal signals, each within `limit` where a shard allows.

    A day that needs several chunks gets a multiple of `workers` of them, so the chunks merged side
    by side finish together instead of one large chunk running on alone at the end.
    """
    total = sum(signals.get(shard, 0) for shard in shards)
    parts = max(1, -(-total // limit))
    if parts > 1:
        parts = min(len(shards), -(-parts // workers) * workers)
    groups: list[list[int]] = [[]]
    done = 0
    for shard in shards:
        size = signals.get(shard, 0)
        # A group closes at the shard whose middle passes the group's share of the signals.
        if groups[-1] and len(groups) < parts and done + size / 2 > total * len(groups) / parts:
            groups.append([])
        groups[-1].append(shard)
        done += size
    return [chunk for group in groups for chunk in _within(group, signals, limit)]


def _within(shards: list[int], signals: dict[int, int], limit: int) -> list[list[int]]:
    """Consecutive shards grouped so that a group holds at most `limit` signals (or one shard)."""
    chunks: list[list[int]] = []
    size = 0
    for shard in shards:
        if chunks and size + signals.get(shard, 0) <= limit:
            chunks[-1].append(shard)
            size += signals.get(shard, 0)
        else:
            chunks.append([shard])
            size = signals.get(shard, 0)
    return chunks


def _copy_files(conn: psycopg.Connection, folder: Path, copy_statement: str) -> None:
    """Streams the staged files of one shard (none when it has no new profiles) into a COPY."""
    with conn.cursor().copy(copy_statement) as copy:
        for path in sorted(folder.glob("*.csv")):
            with path.open("rb") as staged:
                while block := staged.read(COPY_BLOCK_BYTES):
                    copy.write(block)


def _copy_out(conn: psycopg.Connection, statement: str, parameters: dict[str, Any], path: Path) -> None:
    """Streams a COPY ... TO STDOUT into a file.

    psycopg starts the COPY; its rows are then taken off libpq's buffer in a tight loop that waits
    on the socket only when the buffer is empty. Copy.read() waits once per row, which for a day's
    million small rows took twice as long as this loop.
    """
    pgconn = conn.pgconn
    with path.open("wb", buffering=COPY_BLOCK_BYTES) as out, conn.cursor().copy(statement, parameters):
        while True:
            size, row = pgconn.get_copy_data(1)
            if size > 0:
                out.write(row)
            elif size == 0:
                select.select([pgconn.socket], [], [])
                pgconn.consume_input()
            else:
                break
        result = pgconn.get_result()
        while pgconn.get_result() is not None:
            pass
    if result.status != pq.ExecStatus.COMMAND_OK:
        raise psycopg.errors.error_from_result(result, encoding=conn.info.encoding)


# -- the asset ---------------------------------------------------------------------------------


@dg.asset(
    partitions_def=daily_partition,
    deps=[raw_signals],
    kinds={"postgres", "duckdb"},
    group_name="distillation",
    description="Each user's signals of the receive day merged, exactly once, into a small versioned profile "
    "(decayed evidence, persona, interests, cities, travel style, activity, summary).",
)
def user_profiles(context: dg.AssetExecutionContext, distiller: DistillerResource) -> dg.MaterializeResult:
    report = distiller.distill_day(date.fromisoformat(context.partition_key), run_id=context.run_id)
    context.log.info(
        f"{report.signals:,} signals of {report.day} into {report.profiles_updated:,} profiles in {report.seconds:.1f}s "
        f"({report.shards_distilled} shards distilled, {report.shards_already_done} already done, "
        f"{report.llm.calls} LLM calls)"
    )
    return dg.MaterializeResult(metadata=report.metadata())


# -- checks ------------------------------------------------------------------------------------


def check_fresh_profiles(postgres: PostgresResource, day: date) -> dg.AssetCheckResult:
    with postgres.connection() as conn:
        users, stale, examples = conn.execute(load("distill/stale_profiles"), {"day": day}).fetchone()
    return dg.AssetCheckResult(
        passed=stale == 0,
        metadata={"users_distilled": users, "users_without_fresh_profile": stale, "examples": ", ".join(examples or [])},
    )


def check_profiles_validate(postgres: PostgresResource, day: date, chunk_rows: int = 5000) -> dg.AssetCheckResult:
    checked, invalid, examples = 0, 0, []
    with postgres.connection() as conn, conn.cursor(name="day_profile_versions") as cursor:
        cursor.itersize = chunk_rows
        cursor.execute(load("distill/day_profile_versions"), {"day": day})
        for user_id, version, profile in cursor:
            checked += 1
            error = profile_error(profile)
            if error is not None:
                invalid += 1
                if len(examples) < 5:
                    examples.append(f"{user_id} v{version}: {error}")
    return dg.AssetCheckResult(
        passed=invalid == 0,
        metadata={"versions_checked": checked, "invalid": invalid, "examples": "; ".join(examples)},
    )


def check_llm_calls(postgres: PostgresResource, day: date, bound_per_1k: float) -> dg.AssetCheckResult:
    with postgres.connection() as conn:
        calls, tokens, cost, signals = conn.execute(load("distill/day_llm_usage"), {"day": day}).fetchone()
    per_1k = round(calls * 1000 / signals, 4) if signals else None
    return dg.AssetCheckResult(
        # A call on a day with no signals distilled is over any bound.
        passed=calls == 0 if per_1k is None else per_1k <= bound_per_1k,
        metadata={
            "llm_calls": calls, "signals": signals, "llm_calls_per_1k_signals": per_1k,
            "bound_per_1k_signals": bound_per_1k, "tokens": tokens, "cost_usd": round(float(cost), 6),
        },
    )


def check_no_canary(postgres: PostgresResource, day: date, canaries: list[str]) -> dg.AssetCheckResult:
    patterns = ["%" + canary.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%" for canary in canaries]
    with postgres.connection() as conn:
        hits, examples = conn.execute(load("distill/canaries_in_profiles"), {"day": day, "patterns": patterns}).fetchone()
    return dg.AssetCheckResult(
        passed=hits == 0,
        metadata={"versions_with_canary": hits, "canaries": len(canaries), "examples": ", ".join(examples or [])},
    )


@dg.asset_check(
    asset=user_profiles, name=EVERY_USER_HAS_A_FRESH_PROFILE, partitions_def=daily_partition, blocking=True,
    description="Every user whose signals of the day were distilled has a profile at least as new as the day.",
)
def every_user_has_a_fresh_profile(context: dg.AssetCheckExecutionContext, distiller: DistillerResource) -> dg.AssetCheckResult:
    return check_fresh_profiles(distiller.postgres, date.fromisoformat(context.partition_key))


@dg.asset_check(
    asset=user_profiles, name=STORED_PROFILES_VALIDATE, partitions_def=daily_partition, blocking=True,
    description="Every profile version written for the day validates against the profile JSON Schema.",
)
def stored_profiles_validate(context: dg.AssetCheckExecutionContext, distiller: DistillerResource) -> dg.AssetCheckResult:
    return check_profiles_validate(distiller.postgres, date.fromisoformat(context.partition_key))


@dg.asset_check(
    asset=user_profiles, name=LLM_CALLS_WITHIN_BOUND, partitions_def=daily_partition,
    description="LLM requests per 1,000 signals distilled for the day stay within the configured bound.",
)
def llm_calls_within_bound(context: dg.AssetCheckExecutionContext, distiller: DistillerResource) -> dg.AssetCheckResult:
    return check_llm_calls(distiller.postgres, date.fromisoformat(context.partition_key), distiller.max_llm_calls_per_1k_signals)


@dg.asset_check(
    asset=user_profiles, name=NO_INJECTION_CANARY, partitions_def=daily_partition, blocking=True,
    description="No profile version written for the day contains a known prompt-injection phrase.",
)
def no_injection_canary(context: dg.AssetCheckExecutionContext, distiller: DistillerResource) -> dg.AssetCheckResult:
    return check_no_canary(distiller.postgres, date.fromisoformat(context.partition_key), distiller.injection_canaries)


user_profiles_checks = [every_user_has_a_fresh_profile, stored_profiles_validate, llm_calls_within_bound, no_injection_canary]
