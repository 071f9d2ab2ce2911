"""profile_embeddings: one vector per user profile in pgvector, refreshed only when the profile's text changes.

The text embedded is the profile's canonical text (`profile_canonical_text` in Postgres), built only
from discrete facets, so weight drift leaves it, its sha256 and its vector alone. All models share
one table with an untyped `vector` column; each model has a partial HNSW index on the column cast
to its own dimension. A newly configured model is built beside the serving one and takes over when
every profile has its vector; the old model's vectors and index are then deleted.
"""

import hashlib
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import dagster as dg
import numpy as np
import psycopg
from pgvector import Vector
from pgvector.psycopg import register_vector
from psycopg import sql
from psycopg.rows import namedtuple_row

from assets.partitions import daily_partition
from resources.embedder import EmbedderResource, Embeddings
from resources.postgres import PostgresResource
from resources.sql import load, statement

DIMENSION_MATCHES_MODEL = "dimension_matches_model"
VECTORS_FINITE_AND_UNIT_NORM = "vectors_finite_and_unit_norm"
EVERY_PROFILE_HAS_FRESH_EMBEDDING = "every_profile_has_fresh_embedding"
HNSW_RECALL_AT_10 = "hnsw_recall_at_10"

# Measured with bench/embeddings.py at 100K x 384 profile-shaped vectors: pgvector's default graph
# (m=16, ef_construction=64) builds in about a minute; recall@10 is 0.973 at ef_search=40, 0.988 at
# 100 and 0.997 at 200. 100 keeps a margin for real profiles less tidy than the bench's.
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64
EF_SEARCH = 100
# Iterative scans stop after this many index tuples; a filter rarer than k in this many falls back to exact search.
MAX_SCAN_TUPLES = 20_000
MIN_RECALL_AT_10 = 0.95
UNIT_NORM_TOLERANCE = 1e-3
CHUNK_SIZE = 1024


@dataclass(frozen=True)
class SimilarUser:
    user_id: str
    similarity: float


@dataclass
class RefreshReport:
    model_id: str
    dimension: int
    profiles: int = 0
    embedded: int = 0
    # of those embedded: vectors copied from another user with the same canonical text
    reused: int = 0
    reconfirmed: int = 0
    rejected: int = 0
    quarantined: int = 0
    missing: int = 0
    orphans_removed: int = 0
    rejects_by_reason: Counter = field(default_factory=Counter)
    serving_model: str | None = None
    switched_from: list[str] = field(default_factory=list)
    index_built: bool = False
    table_bytes: int = 0
    index_bytes: int = 0
    seconds: float = 0.0

    @property
    def skipped_unchanged(self) -> int:
        return max(self.profiles - self.embedded - self.quarantined, 0)


def index_name(model_id: str) -> str:
    """A valid, stable identifier for a model's HNSW index, whatever characters the model id has."""
    return f"profile_embeddings_hnsw_{hashlib.sha256(model_id.encode()).hexdigest()[:16]}"


def ensure_model_index(
    conn: psycopg.Connection,
    model_id: str,
    dimension: int,
    m: int = HNSW_M,
    ef_construction: int = HNSW_EF_CONSTRUCTION,
) -> bool:
    """Builds the model's HNSW index if it is missing; True when it was built now.

    Looked up first: CREATE INDEX IF NOT EXISTS would still wait for a lock on the table.
    """
    name = index_name(model_id)
    if conn.execute(load("embeddings/index_exists"), {"name": name}).fetchone()[0]:
        return False
    conn.execute(
        statement("embeddings/create_model_index").format(
            index=sql.Identifier(name),
            dimension=sql.Literal(dimension),
            m=sql.Literal(m),
            ef_construction=sql.Literal(ef_construction),
            model_id=sql.Literal(model_id),
        )
    )
    return True


def drop_models(conn: psycopg.Connection, model_id: str, replace_serving: bool) -> list[str]:
    """Deletes every other model's vectors and index, the serving model's only when it is replaced."""
    dropped = [
        row[0]
        for row in conn.execute(
            load("embeddings/drop_models"), {"model_id": model_id, "replace_serving": replace_serving}
        ).fetchall()
    ]
    for name in dropped:
        conn.execute(statement("embeddings/drop_model_index").format(index=sql.Identifier(index_name(name))))
    return dropped


def store_vectors(conn: psycopg.Connection, model_id: str, rows: list[tuple], vectors: np.ndarray) -> None:
    """Upserts one model's vectors with what each was made from, by binary COPY through a staging
    table; `rows` are (user_id, profile_version, content_hash, cities), one per vector."""
    conn.execute(load("embeddings/create_staging"))
    with conn.cursor().copy(load("embeddings/copy_staging")) as copy:
        copy.set_types(["text", "int8", "bytea", "text[]", "vector"])
        for row, vector in zip(rows, vectors, strict=True):
            copy.write_row((*row, vector))
    conn.execute(load("embeddings/upsert_vectors"), {"model_id": model_id})
    conn.execute(load("embeddings/upsert_sources"), {"model_id": model_id})
    conn.execute(load("embeddings/clear_staged_rejects"), {"model_id": model_id})


def _store_embeddings(
    conn: psycopg.Connection, model_id: str, profiles: list, result: Embeddings, report: RefreshReport
) -> dict[bytes, np.ndarray]:
    """Stores the vectors of `profiles` and records the rejected ones; returns the vectors by text hash."""
    kept = [profiles[i] for i in np.flatnonzero(result.ok)]
    vectors = result.vectors[result.ok]
    store_vectors(conn, model_id, [(p.user_id, p.version, p.content_hash, p.cities) for p in kept], vectors)
    report.embedded += len(kept)
    if result.rejections:
        rejected = [profiles[r.index] for r in result.rejections]
        conn.execute(
            load("embeddings/record_rejects"),
            {
                "model_id": model_id,
                "user_ids": [p.user_id for p in rejected],
                "versions": [p.version for p in rejected],
                "reasons": [r.reason for r in result.rejections],
            },
        )
        conn.execute(
            load("embeddings/drop_rejected_vectors"), {"model_id": model_id, "user_ids": [p.user_id for p in rejected]}
        )
        report.rejected += len(rejected)
        report.rejects_by_reason.update(r.reason for r in result.rejections)
    return {p.content_hash: vector for p, vector in zip(kept, vectors, strict=True)}


@dataclass
class _Encoding:
    """A chunk's profiles whose texts are being encoded in the background."""

    profiles: list
    result: Future

    @property
    def hashes(self) -> set[bytes]:
        return {p.content_hash for p in self.profiles}


def _store_with_waiting(
    conn: psycopg.Connection, embedder: EmbedderResource, model_id: str, encoding: _Encoding, waiting: list,
    report: RefreshReport,
) -> None:
    """Stores a finished encoding, then gives the profiles that waited for one of its texts that vector
    (a text it rejected is encoded again for them, and rejected again with its reason)."""
    vectors = _store_embeddings(conn, model_id, encoding.profiles, encoding.result.result(), report)
    if refused := _store_reused(conn, model_id, waiting, vectors, report):
        _store_embeddings(conn, model_id, refused, embedder.embed([p.text for p in refused]), report)


def _store_known_texts(conn: psycopg.Connection, model_id: str, profiles: list, report: RefreshReport) -> list:
    """Gives each profile whose text another user already has a vector for that vector; returns
    the profiles left to embed."""
    if not profiles:
        return []
    known = conn.execute(
        load("embeddings/vectors_by_text"), {"model_id": model_id, "hashes": [p.content_hash for p in profiles]}
    ).fetchall()
    return _store_reused(conn, model_id, profiles, {text: vector.to_numpy() for text, vector in known}, report)


def _store_reused(
    conn: psycopg.Connection, model_id: str, profiles: list, vectors: dict[bytes, np.ndarray], report: RefreshReport
) -> list:
    """Stores, for each profile whose text hash has a vector in `vectors`, that vector (a vector is
    a function of the text); returns the profiles without one."""
    if reusing := [p for p in profiles if p.content_hash in vectors]:
        store_vectors(
            conn, model_id, [(p.user_id, p.version, p.content_hash, p.cities) for p in reusing],
            np.vstack([vectors[p.content_hash] for p in reusing]),
        )
        report.embedded += len(reusing)
        report.reused += len(reusing)
    return [p for p in profiles if p.content_hash not in vectors]


def refresh_embeddings(
    postgres: PostgresResource,
    embedder: EmbedderResource,
    chunk_size: int = CHUNK_SIZE,
    log: Callable[[str], None] = lambda message: None,
) -> RefreshReport:
    """Embeds every profile whose canonical text has no vector of the configured model yet.

    Each chunk commits on its own, so a killed run keeps its work and a re-run picks up the rest.
    """
    started = time.perf_counter()
    model_id, dimension = embedder.model_id, embedder.dimension
    report = RefreshReport(model_id, dimension)
    with postgres.connection() as lock, postgres.connection() as conn:
        lock.execute(load("embeddings/lock_refresh"))
        register_vector(conn)
        (registered,) = conn.execute(
            load("embeddings/register_model"), {"model_id": model_id, "dimension": dimension}
        ).fetchone()
        if registered != dimension:
            raise ValueError(
                f"model {model_id} was registered with {registered} dimensions but now gives {dimension}; "
                "a different output size is a different model: give it its own model id"
            )
        abandoned = drop_models(conn, model_id, replace_serving=False)
        if abandoned:
            log(f"deleted the vectors of unfinished models {', '.join(abandoned)}")
        conn.commit()

        after = ""
        # The model encodes one chunk while the database stores the one before (HNSW inserts).
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed") as encoder:
            encoding: _Encoding | None = None
            while profiles := conn.cursor(row_factory=namedtuple_row).execute(
                load("embeddings/stale_profiles"), {"model_id": model_id, "after": after, "limit": chunk_size}
            ).fetchall():
                if unchanged := [p for p in profiles if p.unchanged]:
                    conn.execute(
                        load("embeddings/confirm_unchanged"),
                        {
                            "model_id": model_id,
                            "user_ids": [p.user_id for p in unchanged],
                            "versions": [p.version for p in unchanged],
                        },
                    )
                    report.reconfirmed += len(unchanged)
                unknown = _store_known_texts(conn, model_id, [p for p in profiles if not p.unchanged], report)
                # A text the chunk before is still encoding waits for that vector instead of a second encoding.
                in_flight = encoding.hashes if encoding else set()
                waiting = [p for p in unknown if p.content_hash in in_flight]
                new = [p for p in unknown if p.content_hash not in in_flight]
                upcoming = _Encoding(new, encoder.submit(embedder.embed, [p.text for p in new])) if new else None
                if encoding:
                    _store_with_waiting(conn, embedder, model_id, encoding, waiting, report)
                conn.commit()
                encoding, after = upcoming, profiles[-1].user_id
                log(f"{report.embedded} profiles embedded, {report.reconfirmed} unchanged, {report.rejected} rejected")
            if encoding:
                _store_with_waiting(conn, embedder, model_id, encoding, [], report)
                conn.commit()

        # Built after the first load: one bulk build is far faster than growing the graph row by row.
        report.index_built = ensure_model_index(conn, model_id, dimension)
        if report.index_built:
            conn.execute(load("embeddings/analyze"))
        report.orphans_removed = conn.execute(load("embeddings/remove_orphans")).rowcount
        conn.execute(load("embeddings/remove_orphan_rejects"))
        report.profiles, report.quarantined, report.missing = conn.execute(
            load("embeddings/coverage"), {"model_id": model_id}
        ).fetchone()
        serving = conn.execute(load("embeddings/serving_model")).fetchone()
        if (serving is None or serving[0] != model_id) and report.missing == 0:
            report.switched_from = drop_models(conn, model_id, replace_serving=True)
            conn.execute(load("embeddings/promote_model"), {"model_id": model_id})
            serving = (model_id, dimension)
        report.serving_model = serving[0] if serving else None
        report.table_bytes, report.index_bytes = conn.execute(
            load("embeddings/sizes"), {"index": index_name(model_id)}
        ).fetchone()
    report.seconds = time.perf_counter() - started
    return report


@dg.asset(
    partitions_def=daily_partition,
    deps=["user_profiles"],
    kinds={"postgres", "pgvector"},
    group_name="embeddings",
    description="One vector per user profile (pgvector, HNSW cosine), re-embedded only when the profile's "
    "canonical text changes. Materializing any day embeds every profile that changed since its last vector.",
)
def profile_embeddings(
    context: dg.AssetExecutionContext, postgres: PostgresResource, embedder: EmbedderResource
) -> dg.MaterializeResult:
    report = refresh_embeddings(postgres, embedder, log=context.log.info)
    return dg.MaterializeResult(
        metadata={
            "model_id": report.model_id,
            "dimension": report.dimension,
            "serving_model": report.serving_model or "",
            "switched_from": ", ".join(report.switched_from),
            "profiles_seen": report.profiles,
            "embedded": report.embedded,
            "reused_same_text": report.reused,
            "skipped_unchanged": report.skipped_unchanged,
            "reconfirmed_unchanged_text": report.reconfirmed,
            "rejected": report.rejected,
            "rejects_by_reason": dict(report.rejects_by_reason),
            "quarantined": report.quarantined,
            "missing": report.missing,
            "orphans_removed": report.orphans_removed,
            "embedded_share": round(report.embedded / report.profiles, 4) if report.profiles else 0.0,
            "index_built": report.index_built,
            "table_bytes": dg.MetadataValue.int(report.table_bytes),
            "index_bytes": dg.MetadataValue.int(report.index_bytes),
            "seconds": round(report.seconds, 3),
            "profiles_per_second": round(report.embedded / report.seconds, 1) if report.seconds else 0.0,
        }
    )


def _search(
    conn: psycopg.Connection,
    name: str,
    model_id: str,
    dimension: int,
    query: np.ndarray | Vector,
    k: int,
    city: str | None,
    exclude: str | None,
) -> list[SimilarUser]:
    rows = conn.execute(
        statement(name).format(dimension=sql.Literal(dimension)),
        {
            "model_id": model_id,
            "query": query,
            "k": k,
            "city": city.strip().lower() if city else None,
            "exclude": exclude,
        },
    ).fetchall()
    return [SimilarUser(user_id, float(similarity)) for user_id, similarity in rows]


def exact_nearest_users(
    conn: psycopg.Connection,
    model_id: str,
    dimension: int,
    query: np.ndarray | Vector,
    k: int,
    city: str | None = None,
    exclude: str | None = None,
) -> list[SimilarUser]:
    """The true k nearest by cosine, by scanning every vector of the model."""
    return _search(conn, "embeddings/exact_nearest_users", model_id, dimension, query, k, city, exclude)


def nearest_users(
    conn: psycopg.Connection,
    model_id: str,
    dimension: int,
    query: np.ndarray | Vector,
    k: int,
    city: str | None = None,
    exclude: str | None = None,
    ef_search: int = EF_SEARCH,
    max_scan_tuples: int = MAX_SCAN_TUPLES,
) -> list[SimilarUser]:
    """The k nearest by cosine through the model's HNSW index, filtered by city with an iterative
    index scan; should the scan stop short of k (a very rare city), the exact answer instead.
    The connection must have pgvector's types registered (`register_vector`)."""
    conn.execute(
        load("embeddings/search_settings"),
        {"ef_search": str(max(ef_search, k)), "max_scan_tuples": str(max_scan_tuples)},
    )
    found = _search(conn, "embeddings/nearest_users", model_id, dimension, query, k, city, exclude)
    if len(found) < k:
        return exact_nearest_users(conn, model_id, dimension, query, k, city, exclude)
    return found


def recall_hits(exact: list[SimilarUser], found: list[SimilarUser], tolerance: float = 1e-6) -> int:
    """How many found users are as near as the exact k-th neighbour: users tied at that distance
    are equally right answers (identical profiles give identical vectors)."""
    if not exact:
        return 0
    radius = exact[-1].similarity - tolerance
    return sum(1 for user in found[: len(exact)] if user.similarity >= radius)


def check_dimension(postgres: PostgresResource, model_id: str, dimension: int) -> dg.AssetCheckResult:
    with postgres.connection() as conn:
        vectors, wrong, examples, registered = conn.execute(
            load("embeddings/dimension_mismatches"), {"model_id": model_id, "dimension": dimension}
        ).fetchone()
    return dg.AssetCheckResult(
        passed=wrong == 0 and registered in (None, dimension),
        metadata={
            "model_id": model_id,
            "model_dimension": dimension,
            "registered_dimension": registered if registered is not None else -1,
            "vectors": vectors,
            "wrong_dimension": wrong,
            "examples": ", ".join(examples),
        },
    )


def check_unit_norm(postgres: PostgresResource, model_id: str) -> dg.AssetCheckResult:
    with postgres.connection() as conn:
        vectors, off_unit, examples, min_norm, max_norm = conn.execute(
            load("embeddings/norm_violations"), {"model_id": model_id, "tolerance": UNIT_NORM_TOLERANCE}
        ).fetchone()
    return dg.AssetCheckResult(
        passed=off_unit == 0,
        metadata={
            "model_id": model_id,
            "vectors": vectors,
            "off_unit_norm": off_unit,
            "tolerance": UNIT_NORM_TOLERANCE,
            "min_norm": round(min_norm, 6) if min_norm is not None else 0.0,
            "max_norm": round(max_norm, 6) if max_norm is not None else 0.0,
            "examples": ", ".join(examples),
        },
    )


def check_freshness(postgres: PostgresResource, model_id: str) -> dg.AssetCheckResult:
    with postgres.connection() as conn:
        profiles, stale, quarantined, examples = conn.execute(
            load("embeddings/stale_embeddings"), {"model_id": model_id}
        ).fetchone()
    return dg.AssetCheckResult(
        passed=stale == 0,
        metadata={
            "model_id": model_id,
            "profiles": profiles,
            "stale_or_missing": stale,
            "of_which_quarantined": quarantined,
            "examples": ", ".join(examples),
        },
    )


def check_recall(
    postgres: PostgresResource,
    model_id: str,
    dimension: int,
    sample: int = 100,
    k: int = 10,
    ef_search: int = EF_SEARCH,
) -> dg.AssetCheckResult:
    """recall@k of the HNSW search against exact search, over a random sample of the model's users."""
    hits = expected = 0
    with postgres.connection() as conn:
        register_vector(conn)
        queries = conn.execute(load("embeddings/sample_vectors"), {"model_id": model_id, "sample": sample}).fetchall()
        for user_id, vector in queries:
            exact = exact_nearest_users(conn, model_id, dimension, vector, k, exclude=user_id)
            found = nearest_users(conn, model_id, dimension, vector, k, exclude=user_id, ef_search=ef_search)
            hits += recall_hits(exact, found)
            expected += len(exact)
    recall = hits / expected if expected else 1.0
    return dg.AssetCheckResult(
        passed=recall >= MIN_RECALL_AT_10,
        metadata={
            "model_id": model_id,
            "recall_at_10": round(recall, 4),
            "threshold": MIN_RECALL_AT_10,
            "queries": len(queries),
            "ef_search": ef_search,
        },
    )


@dg.asset_check(
    asset=profile_embeddings, name=DIMENSION_MATCHES_MODEL, blocking=True,
    description="Every vector of the configured model has the model's dimension, and the model is registered with it.",
)
def dimension_matches_model(postgres: PostgresResource, embedder: EmbedderResource) -> dg.AssetCheckResult:
    return check_dimension(postgres, embedder.model_id, embedder.dimension)


@dg.asset_check(
    asset=profile_embeddings, name=VECTORS_FINITE_AND_UNIT_NORM, blocking=True,
    description="Every vector of the configured model is finite and of unit L2 norm, as cosine search assumes.",
)
def vectors_finite_and_unit_norm(postgres: PostgresResource, embedder: EmbedderResource) -> dg.AssetCheckResult:
    return check_unit_norm(postgres, embedder.model_id)


@dg.asset_check(
    asset=profile_embeddings, name=EVERY_PROFILE_HAS_FRESH_EMBEDDING,
    description="Every profile with canonical text has a vector of the configured model made for its current version.",
)
def every_profile_has_fresh_embedding(postgres: PostgresResource, embedder: EmbedderResource) -> dg.AssetCheckResult:
    return check_freshness(postgres, embedder.model_id)


@dg.asset_check(
    asset=profile_embeddings, name=HNSW_RECALL_AT_10,
    description=f"HNSW top-10 search finds at least {MIN_RECALL_AT_10:.0%} of the exact top-10 over a sample of users.",
)
def hnsw_recall_at_10(postgres: PostgresResource, embedder: EmbedderResource) -> dg.AssetCheckResult:
    return check_recall(postgres, embedder.model_id, embedder.dimension)


profile_embeddings_checks = [
    dimension_matches_model,
    vectors_finite_and_unit_norm,
    every_profile_has_fresh_embedding,
    hnsw_recall_at_10,
]
