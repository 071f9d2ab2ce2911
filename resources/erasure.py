"""Erasure's policy and its storage-level tools: requests and tombstones, the ingestion refusal,
Parquet scans and rewrites of batches, and old S3 object versions.

After a request, a user is known only by a salted hash, `erasure_hash(salt, user_id)` in SQL (sha256
of the salt followed by the id). The salt is configuration (DISTILLERY_ERASURE_SALT, else a secret
file made once under the home folder) and must never change: tombstones made with one salt match
nothing under another, so a salt other than the first one used is refused, loudly, everywhere.
"""

import os
import secrets
import threading
from bisect import bisect_left
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from psycopg.rows import dict_row
from pydantic import Field

from resources.archive_store import STAGING, Archive
from resources.postgres import PostgresResource
from resources.sql import load

ERASED_USER = "erased_user"
SALT_FILE = "erasure-salt"
S3_DELETE_BATCH = 1000

_NO_REFUSALS = pa.table(
    {name: pa.array([], pa.string()) for name in ("reason", "detail", "event_id", "user_id", "raw")}
)


class SaltMismatchError(RuntimeError):
    """The configured salt is not the one the tombstones were made with."""


SALT_MISMATCH = (
    "the erasure salt in use is not the one the tombstones were made with: erased users would be let "
    "back in. Set DISTILLERY_ERASURE_SALT to the original salt for ingestion and erasure alike."
)


@dataclass(frozen=True)
class Receipt:
    queued: list[str]
    already_pending: list[str]


def resolve_salt(home: Path, configured: str | None) -> str:
    """The configured salt, else a random one kept in `<home>/erasure-salt` (made once, readable by its owner only)."""
    if configured:
        return configured
    path = Path(home) / SALT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(descriptor, "w") as salt_file:
        salt_file.write(secrets.token_hex(32))
    return path.read_text().strip()


class ErasurePolicy(dg.ConfigurableResource):
    """How users are forgotten: the salt of their tombstones, batches, the cache rule and the deadline."""

    salt: str = Field(
        min_length=16,
        description="Secret salt of the hashed ids kept in tombstones and the erasure log; never change it once used.",
    )
    batch_users: int = Field(
        default=10_000, ge=1, description="Requests erased together: one rewrite of an archived file serves all of them."
    )
    min_cache_users: int = Field(
        default=10, ge=1,
        description="A semantic cache entry an erased user contributed to is deleted when built from fewer users than this.",
    )
    max_pending_hours: int = Field(
        default=26, ge=1,
        description="A request still pending after this long fails erasure_requests_within_cycle "
        "(one nightly cycle, plus the time a run takes).",
    )

    def verify_salt(self, conn: psycopg.Connection) -> None:
        """Records the salt's check value on first use; raises SaltMismatchError for any other salt afterwards."""
        if not conn.execute(load("erasure/record_salt_check"), {"salt": self.salt}).fetchone()[0]:
            raise SaltMismatchError(SALT_MISMATCH)

    def request(self, postgres: PostgresResource, user_ids: Sequence[str], requested_by: str | None = None) -> Receipt:
        """Queues the ids and tombstones them at once: ingestion refuses their events from this commit on."""
        users = sorted(set(user_ids))
        with postgres.connection() as conn:
            self.verify_salt(conn)
            parameters = {"users": users, "salt": self.salt, "requested_by": requested_by}
            queued = {user for (user,) in conn.execute(load("erasure/enqueue_requests"), parameters)}
            conn.execute(load("erasure/add_tombstones"), parameters)
        return Receipt(sorted(queued), [user for user in users if user not in queued])

    def status(self, postgres: PostgresResource, user_ids: Sequence[str]) -> list[dict]:
        with postgres.connection() as conn:
            return conn.cursor(row_factory=dict_row).execute(
                load("erasure/status_of_users"), {"users": list(user_ids), "salt": self.salt}
            ).fetchall()

    def recent(self, postgres: PostgresResource, limit: int = 20) -> list[dict]:
        with postgres.connection() as conn:
            return conn.cursor(row_factory=dict_row).execute(load("erasure/recent_log"), {"limit": limit}).fetchall()

    def pending(self, postgres: PostgresResource) -> tuple[int, datetime | None]:
        with postgres.connection() as conn:
            return conn.execute(load("erasure/pending_summary")).fetchone()


def refuse_erased_users(conn: psycopg.Connection, rows: pa.Table, salt: str) -> tuple[pa.Table, pa.Table]:
    """Splits validated signals into those of users never erased and quarantine rows for the rest.

    The chunk's distinct users are hashed in DuckDB and matched against the tombstones, which each
    process keeps in memory and reloads when their count changes. The quarantine row keeps only the
    event_id: nothing that names the erased user is stored again.
    """
    if rows.num_rows == 0:
        return rows, _NO_REFUSALS
    tombstone_count, newest, salt_matches = conn.execute(load("erasure/tombstone_state"), {"salt": salt}).fetchone()
    if not salt_matches:
        raise SaltMismatchError(SALT_MISMATCH)
    if tombstone_count == 0:
        return rows, _NO_REFUSALS
    users = pa.table({"user_id": pc.unique(rows["user_id"])})  # noqa: F841  (read by DuckDB)
    tombstones = _tombstones(conn, (tombstone_count, newest))  # noqa: F841  (read by DuckDB)
    found = _duckdb().cursor().sql(load("erasure/erased_users_of_chunk"), params={"salt": salt}).to_arrow_table()
    if found.num_rows == 0:
        return rows, _NO_REFUSALS
    erased = pc.is_in(rows["user_id"], value_set=found["user_id"])
    event_ids = rows.filter(erased)["event_id"].cast(pa.string())
    refused = pa.table(
        {
            "reason": pa.repeat(pa.scalar(ERASED_USER), len(event_ids)),
            "detail": pa.repeat(pa.scalar("the user was erased: their later events are refused"), len(event_ids)),
            "event_id": event_ids,
            "user_id": pa.nulls(len(event_ids), pa.string()),
            "raw": pc.binary_join_element_wise('{"event_id":"', event_ids, '"}', ""),
        }
    )
    return rows.filter(pc.invert(erased)), refused


_tombstone_cache: dict[str, tuple[tuple, pa.Table]] = {}
_tombstone_lock = threading.Lock()


def _tombstones(conn: psycopg.Connection, version: tuple) -> pa.Table:
    """The tombstoned hashes of this database, reloaded only when their version (count, newest) changed."""
    database = f"{conn.info.host}:{conn.info.port}/{conn.info.dbname}"
    with _tombstone_lock:
        cached = _tombstone_cache.get(database)
    if cached and cached[0] == version:
        return cached[1]
    hashes = conn.execute(load("erasure/tombstone_hashes")).fetchall()
    table = pa.table({"user_hash": pa.array([row[0] for row in hashes], pa.string())})
    with _tombstone_lock:
        _tombstone_cache[database] = (version, table)
    return table


@cache
def _duckdb() -> duckdb.DuckDBPyConnection:
    """One in-memory DuckDB per process; each use takes its own cursor."""
    return duckdb.connect()


# -- Parquet ------------------------------------------------------------------------------------


def user_column(schema: pa.Schema) -> str | None:
    """The column that names users: `user_id` (rows are removed) or a `users` list (entries become null)."""
    if "user_id" in schema.names and pa.types.is_string(schema.field("user_id").type):
        return "user_id"
    if "users" in schema.names:
        users = schema.field("users").type
        if pa.types.is_list(users) and pa.types.is_string(users.value_type):
            return "users"
    return None


def erased_counts(parquet: pq.ParquetFile, erased: Sequence[str]) -> Counter:
    """Rows (or list entries) of each erased user in a file.

    `erased` must be sorted. For `user_id`, only row groups whose min/max statistics admit one of the
    ids are read; archives sorted by user read one or two row groups per user.
    """
    column = user_column(parquet.schema_arrow)
    if column is None or not erased:
        return Counter()
    if column == "user_id":
        groups = _row_groups_admitting(parquet.metadata, erased)
        if not groups:
            return Counter()
        values = parquet.read_row_groups(groups, columns=[column]).column(column)
    else:
        values = pc.list_flatten(parquet.read(columns=[column]).column(column))
    hits = values.filter(pc.is_in(values, value_set=pa.array(erased, pa.string())))
    counted = pc.value_counts(hits)
    return Counter(dict(zip(counted.field("values").to_pylist(), counted.field("counts").to_pylist(), strict=True)))


def _row_groups_admitting(metadata: pq.FileMetaData, erased: Sequence[str]) -> list[int]:
    leaf = next(i for i in range(metadata.num_columns) if metadata.schema.column(i).path == "user_id")
    groups = []
    for group in range(metadata.num_row_groups):
        stats = metadata.row_group(group).column(leaf).statistics
        if stats is None or not stats.has_min_max:
            groups.append(group)
            continue
        first = bisect_left(erased, stats.min)
        if first < len(erased) and erased[first] <= stats.max:
            groups.append(group)
    return groups


def without_erased(batch: pa.RecordBatch, erased: pa.Array, column: str) -> tuple[pa.RecordBatch, pa.Array]:
    """The batch without the erased users (rows removed, or list entries set to null) and the ids taken out."""
    index = batch.schema.get_field_index(column)
    values = batch.column(index)
    if column == "user_id":
        hit = pc.is_in(values, value_set=erased)
        return batch.filter(pc.invert(hit)), values.filter(hit)
    flat = pc.list_flatten(values)
    hit = pc.is_in(flat, value_set=erased)
    lengths = pc.fill_null(pc.list_value_length(values), 0).to_numpy()
    offsets = pa.array(np.concatenate([[0], np.cumsum(lengths)]), pa.int32())
    scrubbed = pa.ListArray.from_arrays(
        offsets, pc.if_else(hit, pa.scalar(None, flat.type), flat), type=values.type, mask=pc.is_null(values)
    )
    return batch.set_column(index, batch.schema.field(index), scrubbed), flat.filter(hit)


# -- S3 object versions -------------------------------------------------------------------------


def purge_old_versions(archive: Archive, folder: str) -> int:
    """Deletes every noncurrent object version and delete marker under `folder` and its staging folder.

    On a versioned bucket, replacing or deleting an object keeps the old bytes as a noncurrent
    version; a rewrite that drops a user's rows must drop those too. Current objects are untouched,
    and a bucket without versioning has nothing to delete.
    """
    if not archive.is_s3:
        return 0
    doomed = []
    paginator = archive.s3_client.get_paginator("list_object_versions")
    for prefix in (folder, f"{STAGING}/{folder}"):
        object_prefix = archive.path(prefix)[len(archive.bucket) + 1 :] + "/"
        for page in paginator.paginate(Bucket=archive.bucket, Prefix=object_prefix):
            doomed += [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in page.get("Versions", []) if not v["IsLatest"]]
            doomed += [{"Key": m["Key"], "VersionId": m["VersionId"]} for m in page.get("DeleteMarkers", [])]
    for start in range(0, len(doomed), S3_DELETE_BATCH):
        answer = archive.s3_client.delete_objects(
            Bucket=archive.bucket, Delete={"Objects": doomed[start : start + S3_DELETE_BATCH], "Quiet": True}
        )
        if answer.get("Errors"):
            raise OSError(f"could not delete old versions under {folder}: {answer['Errors'][:3]}")
    return len(doomed)
