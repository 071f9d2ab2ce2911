"""Batch ingestion: one code path from any batch (records, NDJSON, Parquet, Arrow) to raw_signals.

A batch is validated as a whole in DuckDB over Arrow, its event_ids are claimed in the dedup
ledger, and the rows it owns are COPYed straight into the receive day's partition; rejected
lines go to `signal_rejects` with their reason. One batch is one transaction, so a killed batch
leaves nothing behind and re-sending it stores nothing twice.
"""

import hashlib
import io
import json
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from psycopg import sql
from pydantic import Field

from resources.erasure import refuse_erased_users
from resources.postgres import PostgresResource
from resources.sql import load, statement

EVENT_TYPES = ("view", "click", "scroll", "dwell", "search", "save", "book", "chat_message")
# The longest id (user, session, item) or city accepted; a profile keeps its user_id as ingested.
MAX_ID_CHARS = 256
SIGNAL_COLUMNS = (
    "event_id", "user_id", "session_id", "event_type", "occurred_at",
    "received_at", "city", "item_id", "dwell_ms", "props", "batch_id",
)
REJECT_COLUMNS = ("batch_id", "source", "received_at", "reason", "detail", "event_id", "user_id", "raw")
READ_BLOCK_BYTES = 16 * 1024 * 1024


class CircuitOpenError(RuntimeError):
    """Ingestion is stopped until a person resets the circuit breaker."""


@dataclass
class IngestReport:
    """What one batch did: the figures the CLI prints and the assets report as metadata."""

    source: str
    batch_id: int | None = None
    received_at: datetime | None = None
    rows_in: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    rate_limited: int = 0
    rejects_by_reason: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    already_ingested: bool = False
    # The files this batch committed (or found already committed, or quarantined whole).
    files: list[Path] = field(default_factory=list)

    def add(self, other: "IngestReport") -> None:
        for name in ("rows_in", "accepted", "duplicates", "rejected", "rate_limited", "seconds"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.rejects_by_reason.update(other.rejects_by_reason)


@dataclass(frozen=True)
class BreakerState:
    open: bool
    reason: str | None
    opened_at: datetime | None
    reset_at: datetime | None
    reset_by: str | None


@dataclass(frozen=True)
class Source:
    """One input of a batch (an API call, a file): where its lines came from and when they arrived."""

    name: str
    received_at: datetime
    sha256: str | None = None
    path: Path | None = None


class SignalIngestor(dg.ConfigurableResource):
    """The ingestion policy and the one path every entry point (API, CLI, sensor) goes through."""

    postgres: dg.ResourceDependency[PostgresResource]
    event_types: list[str] = Field(default_factory=lambda: list(EVENT_TYPES))
    max_line_bytes: int = Field(default=64 * 1024, description="Larger signals are quarantined.")
    max_json_depth: int = 32
    max_id_length: int = Field(default=MAX_ID_CHARS, ge=1, le=MAX_ID_CHARS, description="Longer ids are quarantined.")
    future_tolerance_hours: int = Field(default=24, description="How far occurred_at may run ahead of receipt.")
    oldest_occurred_at: str = Field(default="2000-01-01T00:00:00+00:00", description="Earlier occurred_at is quarantined.")
    max_signals_per_user_per_day: int | None = Field(
        default=None, description="Abuse guard: signals over this per user and day are quarantined."
    )
    breaker_error_rate: float = Field(default=0.05, description="Invalid share of recent rows that stops ingestion.")
    breaker_window_batches: int = Field(default=20, ge=1)
    breaker_min_rows: int = Field(default=1000, ge=1, description="Fewer recent rows than this never trip it.")
    chunk_rows: int = Field(default=100_000, ge=1, description="Rows validated and copied per step.")
    batch_rows: int = Field(
        default=500_000, ge=1, description="Small files are committed together in batches of up to this many rows."
    )
    streamed_file_bytes: int = Field(
        default=32 * 1024 * 1024, ge=1, description="Larger files are streamed in chunks, each one batch of its own."
    )
    reject_raw_cap: int = Field(default=2048, description="Characters of a rejected line kept for inspection.")
    erasure_salt: str = Field(
        default="", description="Salt of the erased-user tombstones (the erasure policy's); their events are quarantined."
    )

    # -- entry points ---------------------------------------------------------------------------

    def ingest_records(
        self, records: Iterable[dict], source: str = "api", received_at: datetime | None = None
    ) -> IngestReport:
        """A batch of signal dicts from the product backend (datetimes become ISO strings)."""
        lines = [json.dumps(record, default=str, ensure_ascii=False).encode() for record in records]
        return self.ingest_lines([lines], source, received_at)

    def ingest_ndjson(self, data: bytes, source: str = "api", received_at: datetime | None = None) -> IngestReport:
        return self.ingest_lines(_split_lines(io.BytesIO(data), self.chunk_rows), source, received_at)

    def ingest_arrow(self, table: pa.Table, source: str = "arrow", received_at: datetime | None = None) -> IngestReport:
        return self.ingest_lines(_arrow_as_lines(table.to_batches(self.chunk_rows)), source, received_at)

    def ingest_file(self, path: Path, received_at: datetime | None = None) -> IngestReport:
        """An NDJSON (.ndjson/.jsonl/.json) or Parquet file; a file that cannot be read is one quarantined row."""
        return next(self.ingest_files([(Path(path), received_at or datetime.now(UTC))]))

    def ingest_files(self, files: Iterable[tuple[Path, datetime]]) -> Iterator[IngestReport]:
        """Ingests files in receive order, yielding one report per batch as it commits.

        Client batches are small (~1K rows), and a batch's fixed cost (its transaction, the ledger
        lock, planning the validation) would dominate each: consecutive small files of one receive
        day are read whole and committed together, up to `batch_rows`. A large file is streamed as a
        batch of its own; a file already committed is skipped; one that cannot be read is
        quarantined as one row. Every line keeps its own file and receive time.
        """
        group: list[tuple[Source, pa.Array]] = []

        def flush() -> Iterator[IngestReport]:
            if group:
                sources = [source for source, _ in group]
                tables = [_lines_table(lines, part) for part, (_, lines) in enumerate(group)]
                group.clear()
                yield self._ingest(sources, _rechunk(tables, self.chunk_rows))

        for path, received_at in files:
            source = Source(str(path), received_at.astimezone(UTC), _sha256(path), path)
            if group and source.received_at.date() != group[0][0].received_at.date():
                yield from flush()
            with self.postgres.connection() as conn:
                done = conn.execute(load("ingest/batch_by_checksum"), (source.sha256,)).fetchone()
            if done:
                yield IngestReport(source=source.name, batch_id=done[0], already_ingested=True, files=[path])
                continue
            if path.stat().st_size > self.streamed_file_bytes:
                yield from flush()
                try:
                    report = self._ingest([source], (_lines_table(lines, 0) for lines in self._stream_lines(path)))
                except (pa.ArrowException, duckdb.Error, OSError) as error:
                    report = self._quarantine_file(source, error)
                yield report
                continue
            try:
                lines = pa.concat_arrays([_as_binary(chunk) for chunk in self._stream_lines(path)] or [pa.array([], pa.binary())])
            except (pa.ArrowException, duckdb.Error, OSError) as error:
                yield from flush()
                yield self._quarantine_file(source, error)
                continue
            group.append((source, lines))
            if sum(len(lines) for _, lines in group) >= self.batch_rows:
                yield from flush()
        yield from flush()

    def _stream_lines(self, path: Path) -> Iterator[list[bytes] | pa.Array]:
        if path.suffix == ".parquet":
            return _arrow_as_lines(pq.ParquetFile(path).iter_batches(batch_size=self.chunk_rows))
        return _split_lines(path.open("rb"), self.chunk_rows)

    # -- the path -------------------------------------------------------------------------------

    def ingest_lines(
        self, chunks: Iterable[list[bytes] | pa.Array], source: str, received_at: datetime | None = None
    ) -> IngestReport:
        """Validates, deduplicates and stores one batch given as chunks of raw lines; one transaction."""
        origin = Source(source, (received_at or datetime.now(UTC)).astimezone(UTC))
        return self._ingest([origin], (_lines_table(_as_binary(chunk), 0) for chunk in chunks))

    def _ingest(self, sources: list[Source], chunks: Iterable[pa.Table]) -> IngestReport:
        """One batch, one transaction: chunks of (line, part) tables, `part` indexing `sources`."""
        started = time.perf_counter()
        self.raise_if_breaker_open()
        received_at = min(source.received_at for source in sources)
        name = sources[0].name if len(sources) == 1 else (
            f"{len(sources)} files, {Path(sources[0].name).name} .. {Path(sources[-1].name).name}"
        )
        report = IngestReport(source=name, received_at=received_at, files=[s.path for s in sources if s.path])
        validator = _Validator(self, sources)
        with self.postgres.connection() as conn:
            partition = conn.execute(load("raw_signals/ensure_partition"), {"day": received_at.date()}).fetchone()[0]
            report.batch_id = conn.execute(load("ingest/open_batch"), {"source": name, "received_at": received_at}).fetchone()[0]
            _record_files(conn, report.batch_id, sources)
            conn.execute(load("ingest/create_claim_table"))
            # Preparing the next chunk (DuckDB and Polars, both release the GIL) overlaps the COPY
            # of this one, so the server is rarely left waiting for the client.
            with ThreadPoolExecutor(max_workers=1) as pool:
                pending = None
                for chunk in chunks:
                    upcoming = pool.submit(_prepare, validator, chunk, report)
                    if pending is not None:
                        report.add(self._store(conn, partition, report, pending.result()))
                    pending = upcoming
                if pending is not None:
                    report.add(self._store(conn, partition, report, pending.result()))
            report.seconds = time.perf_counter() - started
            conn.execute(
                load("ingest/close_batch"),
                {
                    "batch_id": report.batch_id, "rows_in": report.rows_in, "accepted": report.accepted,
                    "duplicates": report.duplicates, "rejected": report.rejected,
                    "rate_limited": report.rate_limited, "seconds": report.seconds,
                },
            )
        self._update_breaker()
        return report

    def _store(self, conn: psycopg.Connection, partition: str, batch: IngestReport, chunk: "_PreparedChunk") -> IngestReport:
        step = IngestReport(source=batch.source, rows_in=chunk.rows_in, duplicates=chunk.repeated_in_chunk)
        rejects = chunk.rejects

        seen_before = _claim_event_ids(conn, chunk.claims)
        fresh = chunk.good
        if len(seen_before):
            fresh = fresh.filter(pc.invert(pc.is_in(fresh["event_id"], value_set=seen_before)))
            step.duplicates += chunk.good.num_rows - fresh.num_rows

        kept, refused = refuse_erased_users(conn, fresh, self.erasure_salt)
        if refused.num_rows:
            # Refused rows are the erased users' rows, in order: they keep their input and receive time.
            origin = fresh.filter(pc.invert(pc.is_in(fresh["event_id"], value_set=kept["event_id"])))
            refused = refused.append_column("part", origin["part"]).append_column("received_at", origin["received_at"])
            rejects = pa.concat_tables([rejects, refused], promote_options="permissive")
        fresh = kept

        if self.max_signals_per_user_per_day is not None and fresh.num_rows:
            fresh, limited = self._apply_user_cap(conn, fresh, batch.received_at.date())
            rejects = pa.concat_tables([rejects, limited], promote_options="permissive")
            step.rate_limited = limited.num_rows

        # Every step above only removes rows: the same count means the prepared CSV is still exact.
        signals_csv = chunk.signals_csv if fresh.num_rows == chunk.good.num_rows else _signals_csv(fresh, batch)
        _copy_csv(conn, statement("ingest/copy_signals").format(partition=sql.Identifier(partition)), signals_csv)
        step.accepted = fresh.num_rows

        if rejects.num_rows:
            quarantined = pl.from_arrow(
                rejects.select(["reason", "detail", "event_id", "user_id", "raw", "received_at"]).append_column(
                    "source", chunk.source_names.take(rejects["part"])
                )
            ).with_columns(pl.lit(batch.batch_id).alias("batch_id"))
            _copy(conn, load("ingest/copy_rejects"), quarantined.select(REJECT_COLUMNS))
            step.rejected = rejects.num_rows
            step.rejects_by_reason.update(dict(Counter(rejects["reason"].to_pylist())))
        return step

    def _apply_user_cap(self, conn: psycopg.Connection, fresh: pa.Table, day: date) -> tuple[pa.Table, pa.Table]:
        users = pc.unique(fresh["user_id"]).to_pylist()
        stored = conn.execute(load("ingest/user_day_counts"), {"day": day, "users": users}).fetchall()
        stored_counts = pl.DataFrame(stored, schema={"user_id": pl.String, "stored": pl.Int64}, orient="row")
        ranked = (
            pl.from_arrow(fresh)
            .with_columns(pl.int_range(1, pl.len() + 1).over("user_id", order_by=["occurred_at", "event_id"]).alias("nth"))
            .join(stored_counts, on="user_id", how="left")
            .with_columns((pl.col("nth") + pl.col("stored").fill_null(0) > self.max_signals_per_user_per_day).alias("over"))
        )
        limited = ranked.filter("over").with_columns(
            pl.lit("rate_limited").alias("reason"),
            pl.format("user {} is over the cap of {} signals per day", "user_id", pl.lit(self.max_signals_per_user_per_day)).alias("detail"),
            pl.concat_str(pl.lit('{"event_id":"'), "event_id", pl.lit('"}')).alias("raw"),
        )
        return ranked.filter(~pl.col("over")).drop("nth", "stored", "over").to_arrow(), limited.drop("nth", "stored", "over").to_arrow()

    def _quarantine_file(self, source: Source, error: Exception) -> IngestReport:
        """Keeps a whole unreadable file aside as one reject row so the landing folder moves on."""
        report = IngestReport(source=source.name, received_at=source.received_at, rows_in=1, rejected=1, files=[source.path])
        report.rejects_by_reason["unparseable_file"] = 1
        with self.postgres.connection() as conn:
            report.batch_id = conn.execute(
                load("ingest/open_batch"), {"source": source.name, "received_at": source.received_at}
            ).fetchone()[0]
            _record_files(conn, report.batch_id, [source])
            with source.path.open("rb") as unreadable:
                head = unreadable.read(self.reject_raw_cap)
            raw = head.decode("utf-8", "backslashreplace").replace("\x00", "\\x00")
            quarantined = pl.DataFrame(
                [[report.batch_id, source.name, source.received_at, "unparseable_file",
                  f"{type(error).__name__}: {error}"[:500], None, None, raw]],
                schema=list(REJECT_COLUMNS), orient="row",
            )
            _copy(conn, load("ingest/copy_rejects"), quarantined)
            conn.execute(
                load("ingest/close_batch"),
                {"batch_id": report.batch_id, "rows_in": 1, "accepted": 0, "duplicates": 0,
                 "rejected": 1, "rate_limited": 0, "seconds": 0.0},
            )
        return report

    # -- circuit breaker ------------------------------------------------------------------------

    def breaker_state(self) -> BreakerState:
        with self.postgres.connection() as conn:
            return BreakerState(*conn.execute(load("ingest/breaker_state")).fetchone())

    def raise_if_breaker_open(self) -> None:
        state = self.breaker_state()
        if state.open:
            raise CircuitOpenError(
                f"ingestion is stopped since {state.opened_at:%Y-%m-%d %H:%M:%S} UTC: {state.reason}. "
                "Inspect signal_rejects, then run `distillery ingest --resume`."
            )

    def reset_breaker(self, reset_by: str) -> None:
        with self.postgres.connection() as conn:
            conn.execute(load("ingest/reset_breaker"), {"reset_by": reset_by})

    def _update_breaker(self) -> None:
        with self.postgres.connection() as conn:
            rows_in, invalid = conn.execute(
                load("ingest/recent_error_rate"), {"batches": self.breaker_window_batches}
            ).fetchone()
            if rows_in >= self.breaker_min_rows and invalid / rows_in > self.breaker_error_rate:
                reason = (
                    f"{invalid} of the last {rows_in} rows ({invalid / rows_in:.1%}) were invalid, "
                    f"over the {self.breaker_error_rate:.0%} limit"
                )
                conn.execute(load("ingest/open_breaker"), {"reason": reason})


class _Validator:
    """Runs the validation SQL in DuckDB; one connection per batch, used by one thread at a time."""

    def __init__(self, ingestor: SignalIngestor, sources: list[Source]):
        self.connection = _duckdb_database().cursor()
        self.connection.execute("SET TimeZone = 'UTC'")
        self.received_at = pa.array([source.received_at for source in sources], pa.timestamp("us", tz="UTC"))
        self.source_names = pa.array([source.name for source in sources], pa.string())
        self.parameters = {
            "max_bytes": ingestor.max_line_bytes,
            "max_depth": ingestor.max_json_depth,
            "max_id_length": ingestor.max_id_length,
            "event_types": list(ingestor.event_types),
            "future_tolerance_hours": ingestor.future_tolerance_hours,
            "oldest_occurred_at": datetime.fromisoformat(ingestor.oldest_occurred_at),
            "raw_cap": ingestor.reject_raw_cap,
        }

    def validate(self, lines: pa.Table) -> pa.Table:
        batch_lines = lines.append_column("received_at", self.received_at.take(lines["part"]))  # noqa: F841  (read by DuckDB)
        return self.connection.sql(load("ingest/validate_lines"), params=self.parameters).to_arrow_table()


@dataclass(frozen=True)
class _PreparedChunk:
    """One validated chunk, ready for the database: everything here is built off the connection."""

    rows_in: int
    source_names: pa.Array
    rejects: pa.Table
    good: pa.Table
    repeated_in_chunk: int
    claims: pl.DataFrame
    signals_csv: bytes


def _prepare(validator: _Validator, lines: pa.Table, batch: IngestReport) -> _PreparedChunk:
    validated = validator.validate(lines)
    good_mask = pc.is_null(validated["reason"])
    valid = validated.filter(good_mask)
    good = pl.from_arrow(valid).unique(subset="event_id", keep="first", maintain_order=True).to_arrow()
    claims = pl.DataFrame({"event_id": pl.from_arrow(good["event_id"])}).sort("event_id").with_columns(
        pl.lit(batch.received_at.date()).alias("received_on")
    )
    return _PreparedChunk(
        rows_in=validated.num_rows,
        source_names=validator.source_names,
        rejects=validated.filter(pc.invert(good_mask)),
        good=good,
        repeated_in_chunk=valid.num_rows - good.num_rows,
        claims=claims,
        signals_csv=_signals_csv(good, batch),
    )


def _signals_csv(rows: pa.Table, batch: IngestReport) -> bytes:
    signals = pl.from_arrow(rows).sort("user_id").with_columns(pl.lit(batch.batch_id).alias("batch_id"))
    return _csv_bytes(signals.select(SIGNAL_COLUMNS))


@cache
def _duckdb_database() -> duckdb.DuckDBPyConnection:
    """One in-memory DuckDB per process; each batch takes its own cursor (opening one costs ~20 ms).

    One thread: validation runs beside the database's COPY, and a second DuckDB thread would take
    the core the server needs (ingestion of 1M rows: 14.1 s with all cores, 11.4 s with one).
    """
    return duckdb.connect(config={"threads": 1})


def _claim_event_ids(conn: psycopg.Connection, claims: pl.DataFrame) -> pa.Array:
    """Claims the chunk's ids in the ledger; returns the ids that were claimed before (duplicates).

    The usual chunk (no id seen before) costs one COPY in key order: the ledger's primary key is
    the duplicate check, and sorted ids keep its B-tree inserts on neighbouring pages. A chunk
    holding a claimed id (a retry) fails that COPY at its savepoint, then pays for a probe and
    claims only the unseen ids; the ledger lock keeps other batches from claiming in between.
    """
    if claims.height == 0:
        return pa.array([], pa.string())
    conn.execute(load("ingest/lock_ledger"))
    try:
        with conn.transaction():
            _copy(conn, load("ingest/copy_ledger"), claims)
        return pa.array([], pa.string())
    except psycopg.errors.UniqueViolation:
        pass
    seen = _claimed_before(conn, claims.select("event_id"))
    _copy(conn, load("ingest/copy_ledger"), claims.filter(~pl.col("event_id").is_in(pl.from_arrow(seen))))
    return seen


def _claimed_before(conn: psycopg.Connection, ids: pl.DataFrame) -> pa.Array:
    """The ids the ledger already holds, probed in key order."""
    conn.execute(load("ingest/clear_claim_table"))
    with conn.cursor().copy(load("ingest/copy_claim_ids")) as copy:
        copy.write(_csv_bytes(ids))
    returned = io.BytesIO()
    with conn.cursor().copy(load("ingest/claim_event_ids")) as copy:
        for block in copy:
            returned.write(block)
    if not returned.tell():
        return pa.array([], pa.string())
    returned.seek(0)
    return pa_csv.read_csv(
        returned,
        read_options=pa_csv.ReadOptions(column_names=["event_id"]),
        convert_options=pa_csv.ConvertOptions(column_types={"event_id": pa.string()}),
    )["event_id"].combine_chunks()


def _copy(conn: psycopg.Connection, copy_statement, frame: pl.DataFrame) -> None:
    if frame.height:
        _copy_csv(conn, copy_statement, _csv_bytes(frame))


def _copy_csv(conn: psycopg.Connection, copy_statement, payload: bytes) -> None:
    if payload:
        with conn.cursor().copy(copy_statement) as copy:
            copy.write(payload)


def _csv_bytes(frame: pl.DataFrame) -> bytes:
    # Polars writes null as an empty field and "" quoted, which is exactly COPY's CSV convention.
    buffer = io.BytesIO()
    frame.write_csv(buffer, include_header=False, datetime_format="%Y-%m-%dT%H:%M:%S%.6f%z")
    return buffer.getvalue()


def _split_lines(stream, chunk_rows: int) -> Iterator[list[bytes]]:
    """Streams a byte stream as chunks of non-empty lines without holding the whole file."""
    with stream:
        carry = b""
        lines: list[bytes] = []
        while block := stream.read(READ_BLOCK_BYTES):
            parts = (carry + block).split(b"\n")
            carry = parts.pop()
            lines.extend(parts)
            while len(lines) >= chunk_rows:
                yield lines[:chunk_rows]
                lines = lines[chunk_rows:]
        if carry:
            lines.append(carry)
        if lines:
            yield lines


def _arrow_as_lines(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.Array]:
    """Turns typed batches into JSON lines so Parquet and Arrow share the validation of NDJSON."""
    connection = _duckdb_database().cursor()
    for record_batch in batches:
        rows = pa.Table.from_batches([record_batch])  # noqa: F841  (read by DuckDB)
        yield connection.sql(load("ingest/rows_as_json_lines")).to_arrow_table()["line"].combine_chunks()


def _as_binary(chunk: list[bytes] | pa.Array) -> pa.Array:
    if isinstance(chunk, list):
        return pa.array(chunk, pa.binary())
    return chunk.cast(pa.binary())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(READ_BLOCK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def _lines_table(lines: pa.Array, part: int) -> pa.Table:
    """Raw lines with the index of the batch input they came from."""
    return pa.table({"line": _as_binary(lines), "part": pa.repeat(pa.scalar(part, pa.int32()), len(lines))})


def _rechunk(tables: Iterable[pa.Table], rows: int) -> Iterator[pa.Table]:
    """Small tables gathered into chunks of about `rows` rows."""
    pending: list[pa.Table] = []
    for table in tables:
        pending.append(table)
        if sum(len(t) for t in pending) >= rows:
            yield pa.concat_tables(pending)
            pending = []
    if pending:
        yield pa.concat_tables(pending)


def _record_files(conn: psycopg.Connection, batch_id: int, sources: list[Source]) -> None:
    files = [source for source in sources if source.sha256]
    if files:
        conn.execute(load("ingest/record_batch_files"), {
            "batch_id": batch_id,
            "sources": [source.name for source in files],
            "checksums": [source.sha256 for source in files],
            "received_at": [source.received_at for source in files],
        })
