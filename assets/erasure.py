"""erasure_log: users forgotten everywhere (right to erasure), with evidence.

A request (`distillery erase USER_ID...`, or `ErasurePolicy.request` from the product backend) queues
the id and tombstones its salted hash at once, so ingestion quarantines the user's later events
(`erased_user`). The nightly erasure_job then takes the queue in batches; for each batch it:

1. waits for in-flight ingestion batches, which may have passed the tombstone check before it existed;
2. in one transaction deletes the users' live signals, quarantined lines, profile heads and every
   version, vectors, embedding rejects, cache segment memberships and the cached answers of their
   segments reasoned from too few users, and sets their ids to NULL in the LLM usage ledger and the
   cache ledger (the spend and savings figures stay, naming nobody);
3. rewrites every archived Parquet file holding one of them (signal days, profile snapshots, table
   archives), once for the whole batch: the new file is written to staging, re-read and verified (no
   row of theirs; every other row kept, by count and, for signals, by event_id checksum), journaled,
   published over the old name and its record updated; on S3, old object versions there are deleted;
4. counts what is left of them in every store and file, and completes only the requests with nothing
   left: the request, with the raw id, becomes an erasure_log row (hashed id, times, rows per store).

Every step is idempotent, so a killed run is run again: deletes find nothing twice, a rewrite that was
published but not recorded is finished from its journal, and no request completes while any row of
its user remains.
"""

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import dagster as dg
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from assets.signal_archive import (
    ROW_GROUP_ROWS,
    WRITER_OPTIONS,
    Fingerprint,
    fingerprint_uuids,
    read_fingerprint,
)
from resources.archive_store import Archive, ArchiveStore
from resources.erasure import (
    ErasurePolicy,
    erased_counts,
    purge_old_versions,
    user_column,
    without_erased,
)
from resources.postgres import PostgresResource
from resources.sql import load

ERASED_USERS_LEAVE_NO_ROWS = "erased_users_leave_no_rows"
OTHER_USERS_ROWS_KEPT = "other_users_rows_kept"
NO_ERASED_USER_IN_LIVE_STORES = "no_erased_user_in_live_stores"
REQUESTS_WITHIN_CYCLE = "erasure_requests_within_cycle"

# Only once the semantic cache is built on this database; answers go first, while the users'
# segments and profiles still say which answers they were reasoned into.
CACHE_STORES = [
    ("semantic_cache", "erasure/delete_cache_entries"),
    ("user_segments", "erasure/delete_user_segments"),
    ("semantic_cache_ledger", "erasure/scrub_cache_ledger"),
]
# (store, statement): each deletes the given users' rows and returns rows removed per user.
POSTGRES_STORES = [
    ("raw_signals", "erasure/delete_signals"),
    ("signal_rejects", "erasure/delete_rejects"),
    ("user_profile_heads", "erasure/delete_profile_heads"),
    ("user_profile_versions", "erasure/delete_profile_versions"),
    ("profile_embeddings", "erasure/delete_embeddings"),
    ("embedding_rejects", "erasure/delete_embedding_rejects"),
    ("llm_usage", "erasure/scrub_llm_usage"),
]


@dataclass(frozen=True)
class ArchivedDataset:
    """One kind of archived file and the statements that find, lock, read and update its records."""

    store: str
    identities: str  # the identity (day, date or uri) of every recorded file
    lock: str | None  # the lock its writers hold, taken for the whole rewrite
    record: str  # uri, rows, bytes, checksum of one file, read under the lock
    update: str  # the record of the rewritten file, only if it still describes the old one
    checksum: str  # "event_ids" (the manifest's fingerprint) or "sha256" of the file
    writer_options: dict


DATASETS = [
    ArchivedDataset(
        "signal_archive", "erasure/signal_archive_days", "archive/lock_day", "erasure/signal_archive_record",
        "erasure/update_signal_manifest", "event_ids", WRITER_OPTIONS,
    ),
    ArchivedDataset(
        "profile_snapshots", "erasure/profile_snapshot_dates", "archive/lock_profile_snapshot",
        "erasure/profile_snapshot_file", "erasure/update_profile_snapshot", "sha256",
        {"compression": "zstd", "use_dictionary": ["user_id"]},
    ),
    ArchivedDataset(
        "table_archives", "erasure/table_archive_uris", None, "erasure/table_archive_record",
        "erasure/update_table_archive_file", "sha256", {"compression": "zstd"},
    ),
]


@dataclass
class FileRewrite:
    """One archive file rewritten without the batch's users: what it held before and after."""

    store: str
    uri: str
    rows_before: int
    rows_after: int
    other_rows_before: int
    other_rows_after: int
    bytes_before: int
    bytes_after: int
    problem: str | None = None


@dataclass
class ErasureReport:
    requests: int = 0
    completed: int = 0
    not_found: int = 0
    removed: Counter = field(default_factory=Counter)  # store -> rows removed
    residual: Counter = field(default_factory=Counter)  # store -> rows of this run's users still there
    files_scanned: int = 0
    rewrites: list[FileRewrite] = field(default_factory=list)
    rewrites_resumed: int = 0
    old_versions_deleted: int = 0
    unreachable: dict[str, str] = field(default_factory=dict)  # uri -> why it could not be scanned
    seconds: float = 0.0

    @property
    def published(self) -> list[FileRewrite]:
        return [rewrite for rewrite in self.rewrites if rewrite.problem is None]

    @property
    def problems(self) -> dict[str, str]:
        return {rewrite.uri: rewrite.problem for rewrite in self.rewrites if rewrite.problem}


@dataclass(frozen=True)
class _Staged:
    key: str
    rows_before: int
    rows_after: int
    rows_removed: int
    removed: Counter  # user -> rows (or list entries) taken out
    read: Fingerprint | None  # event_ids of the old file, as read
    kept: Fingerprint | None  # event_ids of the rows kept, as read from the old file
    found: Fingerprint | None  # event_ids of the staged file, re-read
    residual: int
    bytes: int
    checksum: str


@dataclass(frozen=True)
class _Batch:
    request_of: dict[str, int]  # user_id -> request_id

    @property
    def users(self) -> list[str]:
        return sorted(self.request_of)

    def per_request(self, per_user: dict[str, int]) -> dict[int, int]:
        return {self.request_of[user]: rows for user, rows in per_user.items() if rows}


def _no_step(step: str) -> None:
    """Each step is announced; the asset logs them, tests interrupt at them."""


def erase_pending(
    postgres: PostgresResource,
    archive: Archive,
    policy: ErasurePolicy,
    run_id: str | None = None,
    on_step: Callable[[str], None] = _no_step,
) -> ErasureReport:
    """Erases every pending request, a batch at a time; safe to kill and run again."""
    started = time.perf_counter()
    report = ErasureReport()
    with postgres.connection() as conn:
        policy.verify_salt(conn)
    # A session lock, so two runs never rewrite the same file; it goes with the connection, even on a kill.
    with psycopg.connect(postgres.conninfo, autocommit=True) as lock:
        lock.execute(load("erasure/lock_erasure"))
        after = 0
        while requests := _pending_batch(postgres, after, policy.batch_users):
            after = requests[-1][0]
            _erase_batch(postgres, archive, policy, _Batch({user: request for request, user in requests}), run_id, report, on_step)
    report.seconds = time.perf_counter() - started
    return report


def _pending_batch(postgres: PostgresResource, after: int, limit: int) -> list[tuple[int, str]]:
    with postgres.connection() as conn:
        return conn.execute(load("erasure/pending_batch"), {"after": after, "limit": limit}).fetchall()


def _erase_batch(
    postgres: PostgresResource, archive: Archive, policy: ErasurePolicy, batch: _Batch,
    run_id: str | None, report: ErasureReport, on_step: Callable[[str], None],
) -> None:
    report.requests += len(batch.request_of)
    with postgres.connection() as conn:
        conn.execute(load("erasure/wait_for_ingestion"))
    on_step("ingestion_settled")
    _erase_from_postgres(postgres, policy, batch, report)
    on_step("postgres_erased")
    for dataset in DATASETS:
        for identity in _identities(postgres, dataset):
            _erase_from_file(postgres, archive, dataset, identity, batch, report, on_step)
    on_step("archives_erased")
    left = _residual(postgres, archive, batch, report)
    _complete(postgres, [request for user, request in batch.request_of.items() if not left[user]], run_id, report)
    on_step("completed")


def _erase_from_postgres(postgres: PostgresResource, policy: ErasurePolicy, batch: _Batch, report: ErasureReport) -> None:
    """Every live store in one transaction: a kill leaves all of them as they were, or none."""
    parameters = {"users": batch.users, "min_users": policy.min_cache_users}
    with postgres.connection() as conn:
        stores = (CACHE_STORES if _cache_built(conn) else []) + POSTGRES_STORES
        for store, name in stores:
            _credit(conn, store, batch.per_request(dict(conn.execute(load(name), parameters).fetchall())), report)


def _cache_built(conn: psycopg.Connection) -> bool:
    return conn.execute(load("erasure/cache_tables")).fetchone()[0]


def _credit(conn: psycopg.Connection, store: str, removed: dict[int, int], report: ErasureReport) -> None:
    if not removed:
        return
    conn.execute(
        load("erasure/credit_requests"), {"store": store, "requests": list(removed), "rows": list(removed.values())}
    )
    report.removed[store] += sum(removed.values())


def _identities(postgres: PostgresResource, dataset: ArchivedDataset) -> list[dict]:
    with postgres.connection() as conn:
        return conn.cursor(row_factory=dict_row).execute(load(dataset.identities)).fetchall()


def _archive_key(archive: Archive, uri: str) -> str | None:
    base = archive.uri("") + "/"
    return uri[len(base):] if uri.startswith(base) else None


# -- one archived file ---------------------------------------------------------------------------


def _erase_from_file(
    postgres: PostgresResource, archive: Archive, dataset: ArchivedDataset, identity: dict,
    batch: _Batch, report: ErasureReport, on_step: Callable[[str], None],
) -> None:
    """Rewrites one file without the batch's users, holding the lock its writers take."""
    with postgres.connection() as conn:
        if dataset.lock:
            conn.execute(load(dataset.lock), identity)
        record = _record(conn, dataset, identity)
        if record is None:
            return
        key = _archive_key(archive, record["uri"])
        if key is None:
            report.unreachable[record["uri"]] = "not under this archive root"
            return
        folder = str(PurePosixPath(key).parent)
        archive.clean_leftovers(folder)
        record = _finish_journaled(conn, archive, dataset, identity, record, key, report)
        report.files_scanned += 1
        if archive.size(key) is not None and erased_counts(archive.open_parquet(key), batch.users):
            _rewrite(conn, postgres, archive, dataset, identity, record, key, batch, report, on_step)
        report.old_versions_deleted += purge_old_versions(archive, folder)


def _record(conn: psycopg.Connection, dataset: ArchivedDataset, identity: dict) -> dict | None:
    return conn.cursor(row_factory=dict_row).execute(load(dataset.record), identity).fetchone()


def _rewrite(
    conn: psycopg.Connection, postgres: PostgresResource, archive: Archive, dataset: ArchivedDataset,
    identity: dict, record: dict, key: str, batch: _Batch, report: ErasureReport, on_step: Callable[[str], None],
) -> None:
    staged = _write_without(archive, key, dataset, batch.users)
    rewrite = FileRewrite(
        dataset.store, record["uri"], staged.rows_before, staged.rows_after,
        staged.rows_before - staged.rows_removed, staged.rows_after, record["bytes"], staged.bytes,
        _verification_problem(record, staged),
    )
    report.rewrites.append(rewrite)
    if rewrite.problem:
        # The old file stays; its users stay pending and the check reports the file.
        archive.delete(staged.key)
        return
    removed = batch.per_request(staged.removed)
    with postgres.connection() as journal:
        journal.execute(
            load("erasure/journal_rewrite"),
            {"uri": record["uri"], "rows": staged.rows_after, "bytes": staged.bytes, "checksum": staged.checksum,
             "removed": Jsonb({str(request): rows for request, rows in removed.items()})},
        )
    on_step("journaled")
    archive.publish(staged.key, key)
    on_step("published")
    _update_record(conn, dataset, identity, record, staged.rows_after, staged.bytes, staged.checksum, removed, report)


def _write_without(archive: Archive, key: str, dataset: ArchivedDataset, erased: list[str]) -> _Staged:
    """Streams the file into a staging copy without the erased users, then re-reads the copy.

    What the copy must hold (other users' rows and event_id checksum) is counted from the old file
    apart from the rows written, so a fault in the writing path cannot vouch for itself.
    """
    parquet = archive.open_parquet(key)
    column = user_column(parquet.schema_arrow)
    erased_ids = pa.array(erased, pa.string())
    event_ids = dataset.checksum == "event_ids"
    read = theirs = Fingerprint(0, "0" * 32)
    removed: Counter = Counter()
    rows_removed = 0
    with archive.staged_parquet(key, parquet.schema_arrow, **dataset.writer_options) as staged:
        for batch in parquet.iter_batches(batch_size=ROW_GROUP_ROWS):
            remaining, taken = without_erased(batch, erased_ids, column)
            removed.update(dict(zip(*_value_counts(taken), strict=True)))
            if column == "user_id":
                their_rows = batch.filter(pc.is_in(batch.column(column), value_set=erased_ids))
                rows_removed += their_rows.num_rows
                if event_ids:
                    read = _combine(read, fingerprint_uuids([batch.column("event_id")]))
                    theirs = _combine(theirs, fingerprint_uuids([their_rows.column("event_id")]))
            staged.writer.write_batch(remaining, row_group_size=ROW_GROUP_ROWS)
    written = archive.open_parquet(staged.key)
    found = read_fingerprint(archive, staged.key) if event_ids else None
    return _Staged(
        key=staged.key,
        rows_before=parquet.metadata.num_rows,
        rows_after=written.metadata.num_rows,
        rows_removed=rows_removed,
        removed=removed,
        read=read if event_ids else None,
        kept=_combine(read, theirs, sign=-1) if event_ids else None,
        found=found,
        residual=sum(erased_counts(written, erased).values()),
        bytes=archive.size(staged.key) or 0,
        checksum=found.checksum if found else archive.sha256(staged.key),
    )


def _value_counts(values: pa.Array) -> tuple[list, list]:
    counted = values.value_counts()
    return counted.field("values").to_pylist(), counted.field("counts").to_pylist()


def _combine(total: Fingerprint, part: Fingerprint, sign: int = 1) -> Fingerprint:
    """The fingerprint of two sets of rows together (sign 1) or of `total` without `part` (sign -1)."""
    return Fingerprint.from_sums(
        total.rows + sign * part.rows,
        int(total.checksum[:16], 16) + sign * int(part.checksum[:16], 16),
        int(total.checksum[16:], 16) + sign * int(part.checksum[16:], 16),
    )


def _verification_problem(record: dict, staged: _Staged) -> str | None:
    """Why the staged file must not replace the old one, or None when it may."""
    if staged.rows_before != record["rows"]:
        return f"the file holds {staged.rows_before} rows, its record says {record['rows']}"
    if staged.read is not None and staged.read.checksum != record["checksum"]:
        return "the file's event_ids do not match its manifest checksum"
    if staged.residual:
        return f"the rewritten file still holds {staged.residual} rows of erased users"
    others = staged.rows_before - staged.rows_removed
    if staged.rows_after != others:
        return f"other users' rows: {others} before, {staged.rows_after} after"
    if staged.kept is not None and staged.found != staged.kept:
        return "other users' event_ids differ after the rewrite"
    return None


def _update_record(
    conn: psycopg.Connection, dataset: ArchivedDataset, identity: dict, record: dict,
    rows: int, size: int, checksum: str, removed: dict[int, int], report: ErasureReport,
) -> None:
    updated = conn.execute(
        load(dataset.update),
        {**identity, "uri": record["uri"], "rows": rows, "bytes": size, "checksum": checksum,
         "old_rows": record["rows"], "old_bytes": record["bytes"], "old_checksum": record["checksum"]},
    ).rowcount
    if updated != 1:
        raise RuntimeError(f"{record['uri']}: its record changed while the file was rewritten")
    _credit(conn, dataset.store, removed, report)
    conn.execute(load("erasure/clear_rewrite"), {"uri": record["uri"]})


def _finish_journaled(
    conn: psycopg.Connection, archive: Archive, dataset: ArchivedDataset, identity: dict,
    record: dict, key: str, report: ErasureReport,
) -> dict:
    """Completes the record of a rewrite a killed run published; forgets one it never published."""
    journaled = conn.execute(load("erasure/journaled_rewrite"), {"uri": record["uri"]}).fetchone()
    if journaled is None:
        return record
    rows, size, checksum, removed = journaled
    if archive.size(key) == size and _file_checksum(archive, key, dataset) == checksum:
        removed_rows = {int(request): count for request, count in removed.items()}
        _update_record(conn, dataset, identity, record, rows, size, checksum, removed_rows, report)
        report.rewrites_resumed += 1
        return _record(conn, dataset, identity)
    conn.execute(load("erasure/clear_rewrite"), {"uri": record["uri"]})
    return record


def _file_checksum(archive: Archive, key: str, dataset: ArchivedDataset) -> str:
    return read_fingerprint(archive, key).checksum if dataset.checksum == "event_ids" else archive.sha256(key)


# -- evidence -----------------------------------------------------------------------------------


def _residual(postgres: PostgresResource, archive: Archive, batch: _Batch, report: ErasureReport) -> Counter:
    """Rows of each user of the batch still anywhere: live stores, then every recorded archive file."""
    left: Counter = Counter()
    with postgres.connection() as conn:
        rows = conn.execute(load("erasure/residual_rows"), {"users": batch.users}).fetchall()
        if _cache_built(conn):
            rows += conn.execute(load("erasure/residual_cache_rows"), {"users": batch.users}).fetchall()
    for store, user, count in rows:
        left[user] += count
        report.residual[store] += count
    for dataset in DATASETS:
        for identity in _identities(postgres, dataset):
            with postgres.connection() as conn:
                record = _record(conn, dataset, identity)
            key = _archive_key(archive, record["uri"]) if record else None
            if record and key is None:
                # Unscanned, so not proven free of them: the batch's users stay pending.
                left.update(dict.fromkeys(batch.users, 1))
                continue
            if key is None or archive.size(key) is None:
                continue
            found = erased_counts(archive.open_parquet(key), batch.users)
            left.update(found)
            report.residual[dataset.store] += sum(found.values())
    return left


def _complete(postgres: PostgresResource, requests: list[int], run_id: str | None, report: ErasureReport) -> None:
    if not requests:
        return
    with postgres.connection() as conn:
        done = conn.execute(load("erasure/complete_requests"), {"requests": requests, "run_id": run_id}).fetchall()
    report.completed += len(done)
    report.not_found += sum(1 for _, found in done if not found)


# -- the asset and its checks ---------------------------------------------------------------------


@dg.asset(
    deps=["raw_signals", "user_profiles", "profile_embeddings", "signal_archive", "profile_snapshot"],
    kinds={"postgres", "parquet"},
    group_name="erasure",
    description="Pending erasure requests carried out in every store and archived file, each completed "
    "request logged with its hashed id, times and rows removed per store.",
    check_specs=[
        dg.AssetCheckSpec(
            ERASED_USERS_LEAVE_NO_ROWS, asset="erasure_log",
            description="After the run, no live store and no archived file holds a row of a user it erased.",
        ),
        dg.AssetCheckSpec(
            OTHER_USERS_ROWS_KEPT, asset="erasure_log",
            description="Every rewritten archive file kept all other users' rows (count, and event_id checksum "
            "for signals); a file that would not is left as it was.",
        ),
    ],
)
def erasure_log(
    context: dg.AssetExecutionContext, postgres: PostgresResource, archive_store: ArchiveStore, erasure: ErasurePolicy
) -> dg.MaterializeResult:
    report = erase_pending(postgres, archive_store.open(), erasure, context.run.run_id, on_step=context.log.debug)
    pending, _ = erasure.pending(postgres)
    for uri, problem in {**report.problems, **report.unreachable}.items():
        context.log.error(f"{uri}: {problem}")
    return dg.MaterializeResult(
        metadata=erasure_metadata(report, pending),
        check_results=[
            dg.AssetCheckResult(
                check_name=ERASED_USERS_LEAVE_NO_ROWS,
                passed=not +report.residual and not report.unreachable,
                metadata={"residual_rows": dict(+report.residual), "unreachable_files": report.unreachable,
                          "still_pending": pending},
            ),
            dg.AssetCheckResult(
                check_name=OTHER_USERS_ROWS_KEPT,
                passed=not report.problems,
                metadata={
                    "files_rewritten": len(report.published),
                    "other_rows_before": sum(r.other_rows_before for r in report.rewrites),
                    "other_rows_after": sum(r.other_rows_after for r in report.rewrites),
                    "problems": report.problems,
                },
            ),
        ],
    )


def erasure_metadata(report: ErasureReport, pending: int) -> dict:
    published = report.published
    return {
        "requests": report.requests,
        "completed": report.completed,
        "not_found": report.not_found,
        "still_pending": pending,
        "rows": sum(report.removed.values()),
        "removed_per_store": dict(report.removed),
        "files_scanned": report.files_scanned,
        "files_rewritten": len(published),
        "rewrites_resumed": report.rewrites_resumed,
        "bytes_read": dg.MetadataValue.int(sum(r.bytes_before for r in published)),
        "bytes_rewritten": dg.MetadataValue.int(sum(r.bytes_after for r in published)),
        "old_versions_deleted": report.old_versions_deleted,
        "seconds": round(report.seconds, 3),
    }


def check_no_erased_user_in_live_stores(postgres: PostgresResource, policy: ErasurePolicy) -> dg.AssetCheckResult:
    with postgres.connection() as conn:
        found = dict(conn.execute(load("erasure/erased_users_present"), {"salt": policy.salt}).fetchall())
    return dg.AssetCheckResult(passed=not any(found.values()), metadata={"erased_users_found": found})


def check_requests_within_cycle(postgres: PostgresResource, policy: ErasurePolicy) -> dg.AssetCheckResult:
    with postgres.connection() as conn:
        overdue, oldest = conn.execute(load("erasure/overdue_requests"), {"hours": policy.max_pending_hours}).fetchone()
    return dg.AssetCheckResult(
        passed=overdue == 0,
        metadata={"overdue": overdue, "oldest": str(oldest) if oldest else "", "max_pending_hours": policy.max_pending_hours},
    )


@dg.asset_check(
    asset=erasure_log,
    name=NO_ERASED_USER_IN_LIVE_STORES,
    description="No user whose erasure completed is back in raw_signals, profiles or embeddings "
    "(a run racing the erasure could write them again): their ids are matched by salted hash.",
)
def no_erased_user_in_live_stores(postgres: PostgresResource, erasure: ErasurePolicy) -> dg.AssetCheckResult:
    return check_no_erased_user_in_live_stores(postgres, erasure)


@dg.asset_check(
    asset=erasure_log,
    name=REQUESTS_WITHIN_CYCLE,
    description="No erasure request waits longer than the policy allows (one nightly cycle by default).",
)
def erasure_requests_within_cycle(postgres: PostgresResource, erasure: ErasurePolicy) -> dg.AssetCheckResult:
    return check_requests_within_cycle(postgres, erasure)


erasure_checks = [no_erased_user_in_live_stores, erasure_requests_within_cycle]
