"""profile_embeddings: canonical text, refresh only on change, rejects, model switch, checks, similar users."""

import json
import time

import dagster as dg
import numpy as np
import pytest
from pgvector.psycopg import register_vector

from assets.ingestion import EVENT_TYPES
from assets.partitions import daily_partition
from assets.profile_embeddings import (
    DIMENSION_MATCHES_MODEL,
    EVERY_PROFILE_HAS_FRESH_EMBEDDING,
    HNSW_RECALL_AT_10,
    VECTORS_FINITE_AND_UNIT_NORM,
    check_dimension,
    check_freshness,
    check_recall,
    check_unit_norm,
    ensure_model_index,
    exact_nearest_users,
    index_name,
    nearest_users,
    profile_embeddings,
    profile_embeddings_checks,
    refresh_embeddings,
    store_vectors,
)
from assets.profile_schema import PERSONAS, validate_profile
from orchestration.similar_cli import similar_users
from resources.embedder import PROVIDERS, EmbedderResource, EmbeddingUnavailable

LOCAL = "local:all-MiniLM-L6-v2-onnx-int8"


def profile(
    user_id: str,
    persona: str = "planner",
    vibe: str | None = "foodie",
    interests: dict[str, float] | None = None,
    cities: dict[str, float] | None = None,
    travel_style: str = "slow traveller",
    tags: tuple[str, ...] = (),
    summary: str = "Plans food trips around seafood restaurants.",
    distiller: str = "local",
) -> dict:
    """A profile document as distillation stores it (validated against its schema)."""
    interests = {"seafood": 0.6, "wine bars": 0.4} if interests is None else interests
    cities = {"Lisbon": 1.0} if cities is None else cities
    document = {
        "schema": 1, "user_id": user_id, "version": 1, "updated_at": "2026-11-20T08:00:00Z",
        "evidence_day": "2026-11-20", "signals_distilled": 10, "distiller": distiller,
        "persona": {"label": persona, "scores": dict.fromkeys(PERSONAS, 1 / len(PERSONAS))},
        "vibe": {"label": vibe, "scores": [{"vibe": vibe, "weight": 3.0}] if vibe else []},
        "interests": [{"topic": t, "weight": w * 10} for t, w in interests.items()],
        "cities": [{"city": c, "weight": w * 10} for c, w in cities.items()],
        "travel_style": travel_style,
        "activity": {"hours": [0.0] * 24, "peak_hour": None, "daypart": None, "sessions": 1.0, "dwell_seconds": 0.0},
        "engagement": dict.fromkeys(EVENT_TYPES, 0.0),
        "saved_items": [], "booked_items": [], "tags": list(tags), "summary": summary,
    }
    return validate_profile(document)


def store_profiles(postgres, documents: list[dict]) -> None:
    """Writes each document as the user's next profile version, as distillation does."""
    with postgres.connection() as conn:
        conn.execute(
            """
            WITH incoming AS (
                SELECT d.user_id, coalesce(h.version, 0) + 1 AS version, d.profile::json AS profile
                FROM unnest(%s::text[], %s::text[]) AS d (user_id, profile)
                LEFT JOIN user_profile_heads h USING (user_id)
            ), versions AS (
                INSERT INTO user_profile_versions (user_id, version, profile, day, distiller, signals)
                SELECT user_id, version, profile, DATE '2026-11-20', 'local', 10 FROM incoming
            )
            INSERT INTO user_profile_heads
                (user_id, version, evidence_day, signals_distilled, local_persona, updated_at)
            SELECT user_id, version, DATE '2026-11-20', 10, 'planner', now() FROM incoming
            ON CONFLICT (user_id) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at
            """,
            ([d["user_id"] for d in documents], [json.dumps(d) for d in documents]),
        )


# Within a group, profiles differ only in weights: the same canonical text, hence identical vectors.
FOODIES = [
    profile(f"food_{i}", interests={"seafood": 0.5 + i / 100, "wine bars": 0.3, "markets": 0.2}) for i in range(6)
]
CLUBBERS = [
    profile(f"club_{i}", persona="decider", vibe="night owl", interests={"techno clubs": 0.7, "late bars": 0.3},
            cities={"Berlin": 1.0}, travel_style="spontaneous booker",
            summary="Books last-minute trips to techno clubs.")
    for i in range(6)
]
MUSEUMS = [
    profile(f"art_{i}", persona="researcher", vibe="quiet", interests={"museums": 0.6, "art galleries": 0.4},
            cities={"Paris": 0.7, "Lisbon": 0.3}, travel_style="careful planner",
            summary="Researches museums and galleries.")
    for i in range(6)
]
PROFILES = FOODIES + CLUBBERS + MUSEUMS


@pytest.fixture(scope="module")
def embedder() -> EmbedderResource:
    return EmbedderResource()


def canonical_text(postgres, document: dict) -> str:
    with postgres.connection() as conn:
        return conn.execute("SELECT profile_canonical_text(%s::json)", (json.dumps(document),)).fetchone()[0]


def test_canonical_text_is_built_from_facets_not_weights(postgres):
    interests = {"seafood": 0.3, "wine bars": 0.25, "markets": 0.2, "jazz": 0.15, "surfing": 0.1}
    cities = {"Lisbon": 0.6, "Porto": 0.3, "Faro": 0.1}
    text = canonical_text(postgres, profile("u_1", interests=interests, cities=cities, distiller="gemini",
                                            tags=("natural wine",), summary="Plans food trips around seafood."))

    assert text == (
        "persona: planner\nvibe: foodie\ntravel style: slow traveller\n"
        "interests: jazz, markets, seafood, surfing, wine bars\ncities: faro, lisbon, porto\n"
        "themes: natural wine\nPlans food trips around seafood."
    )
    # Weights drift, order changes, a tail interest (6th) or city (4th) appears: the same text.
    drifted = profile(
        "u_1", interests={"surfing": 0.35, "jazz": 0.3, "markets": 0.2, "wine bars": 0.1, "seafood": 0.04, "golf": 0.01},
        cities={"Faro": 0.5, "Porto": 0.3, "Lisbon": 0.15, "Braga": 0.05}, distiller="gemini", tags=("natural wine",),
        summary="Plans food trips around seafood.",
    )
    assert canonical_text(postgres, drifted) == text
    # The local distiller's summary is a template of the facets plus a count: left out.
    local = profile("u_1", interests=interests, cities=cities, summary="Planner, slow traveller. 42 signals distilled.")
    assert canonical_text(postgres, local) == text.rsplit("\n", 2)[0]
    assert canonical_text(postgres, profile("u_1", interests={"seafood": 1.0})) != canonical_text(postgres, local)
    empty = {"persona": {}, "vibe": {"label": None}, "interests": [], "cities": [], "tags": [], "summary": " "}
    assert canonical_text(postgres, empty) == ""


def stored(postgres, model_id: str = LOCAL) -> dict[str, tuple]:
    with postgres.connection() as conn:
        register_vector(conn)
        rows = conn.execute(
            "SELECT user_id, profile_version, embedding, embedded_at FROM profile_embeddings "
            "JOIN profile_embedding_sources USING (user_id, model_id) WHERE model_id = %s",
            (model_id,),
        ).fetchall()
    return {user_id: (version, vector, at) for user_id, version, vector, at in rows}


def test_first_run_embeds_every_profile_builds_the_index_and_serves(postgres, embedder):
    store_profiles(postgres, PROFILES)

    report = refresh_embeddings(postgres, embedder)

    assert (report.profiles, report.embedded, report.rejected, report.missing) == (18, 18, 0, 0)
    assert report.index_built and report.serving_model == LOCAL and report.switched_from == []
    vectors = stored(postgres)
    assert set(vectors) == {d["user_id"] for d in PROFILES}
    assert all(version == 1 for version, _, _ in vectors.values())
    norms = np.linalg.norm(np.stack([v.to_numpy() for _, v, _ in vectors.values()]), axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-5)
    with postgres.connection() as conn:
        assert conn.execute("SELECT to_regclass(%s) IS NOT NULL", (index_name(LOCAL),)).fetchone()[0]
        assert conn.execute("SELECT cities FROM profile_embeddings WHERE user_id = 'art_0'").fetchone()[0] == [
            "lisbon", "paris"
        ]

    similar = similar_users(postgres, embedder, "food_0", k=5)
    assert [u.user_id for u in similar] == ["food_1", "food_2", "food_3", "food_4", "food_5"]
    assert similar[0].similarity >= similar[-1].similarity > 0.9


def test_rerun_without_changes_embeds_nothing_in_under_two_seconds(postgres, embedder):
    store_profiles(postgres, PROFILES)
    refresh_embeddings(postgres, embedder)
    before = stored(postgres)

    report = refresh_embeddings(postgres, embedder)

    assert (report.embedded, report.reconfirmed, report.rejected, report.skipped_unchanged) == (0, 0, 0, 18)
    assert not report.index_built
    assert report.seconds < 2
    assert stored(postgres) == before


def test_weight_drift_keeps_the_vector_and_a_real_change_reembeds_only_that_profile(postgres, embedder):
    store_profiles(postgres, PROFILES)
    refresh_embeddings(postgres, embedder)
    before = stored(postgres)
    drifted = profile("food_0", interests={"markets": 0.4, "wine bars": 0.35, "seafood": 0.25})
    changed = profile("food_1", interests={"techno clubs": 1.0}, cities={"Berlin": 1.0})

    store_profiles(postgres, [drifted, changed])
    report = refresh_embeddings(postgres, embedder)

    assert (report.embedded, report.reconfirmed) == (1, 1)
    after = stored(postgres)
    assert after["food_0"][0] == 2 and after["food_0"][1] == before["food_0"][1]
    assert after["food_0"][2] == before["food_0"][2]  # not re-embedded: same embedded_at
    assert after["food_1"][0] == 2 and after["food_1"][1] != before["food_1"][1]
    assert {u: v for u, v in after.items() if u not in ("food_0", "food_1")} == {
        u: v for u, v in before.items() if u not in ("food_0", "food_1")
    }
    with postgres.connection() as conn:
        cities = conn.execute("SELECT cities FROM profile_embeddings WHERE user_id = 'food_1'").fetchone()[0]
    assert cities == ["berlin"]


class Scripted:
    """A provider whose vector for a text is scripted: NaN, zero, or a deterministic unit-ish vector."""

    dimension = 8

    def __init__(self, model_id="test:scripted", bad=None, fail_after=None):
        self.model_id = model_id
        self.bad = bad or {}
        self.fail_after = fail_after
        self.texts: list[str] = []

    def encode(self, texts):
        if self.fail_after is not None and len(self.texts) >= self.fail_after:
            raise EmbeddingUnavailable("provider down")
        self.texts.extend(texts)
        vectors = []
        for text in texts:
            special = next((v for marker, v in self.bad.items() if marker in text), None)
            rng = np.random.default_rng(abs(hash(text)) % 2**32)
            vectors.append(special if special is not None else rng.standard_normal(self.dimension) + 0.1)
        return np.asarray(vectors, dtype=np.float32), {}


def scripted_embedder(monkeypatch, backend: Scripted, **fields) -> EmbedderResource:
    monkeypatch.setitem(PROVIDERS, "scripted", lambda resource: backend)
    return EmbedderResource(provider="scripted", **fields)


def test_each_distinct_text_is_encoded_once_and_a_known_text_reuses_its_vector(postgres, monkeypatch):
    backend = Scripted()
    embedder = scripted_embedder(monkeypatch, backend)
    store_profiles(postgres, PROFILES)

    first = refresh_embeddings(postgres, embedder)
    assert (first.embedded, first.reused, len(backend.texts)) == (18, 0, 3)

    newcomer = profile("food_new", interests={"seafood": 0.9, "wine bars": 0.05, "markets": 0.05})
    store_profiles(postgres, [newcomer])
    second = refresh_embeddings(postgres, embedder)

    assert (second.embedded, second.reused, len(backend.texts)) == (1, 1, 3)
    vectors = stored(postgres, backend.model_id)
    np.testing.assert_array_equal(vectors["food_new"][1].to_numpy(), vectors["food_0"][1].to_numpy())
    assert not np.array_equal(vectors["food_new"][1].to_numpy(), vectors["club_0"][1].to_numpy())


def test_bad_texts_and_vectors_are_rejected_counted_and_never_stored(postgres, monkeypatch):
    backend = Scripted(bad={"nan trips": [np.nan] * 8, "zero trips": [0.0] * 8})
    embedder = scripted_embedder(monkeypatch, backend, max_chars=300)
    empty = {"user_id": "empty", "summary": " "}  # no facet at all (older documents may lack them)
    documents = [
        *FOODIES[:3],
        empty,
        profile("long", distiller="gemini", summary="Lisbon seafood " * 26),
        profile("nan", distiller="gemini", summary="Loves nan trips."),
        profile("zero", distiller="gemini", summary="Loves zero trips."),
    ]
    store_profiles(postgres, documents)

    report = refresh_embeddings(postgres, embedder)

    assert (report.embedded, report.rejected, report.quarantined, report.missing) == (3, 4, 4, 0)
    assert report.rejects_by_reason == {
        "empty": 1, "over 300 characters": 1, "not finite": 1, "zero vector": 1
    }
    assert set(stored(postgres, "test:scripted")) == {"food_0", "food_1", "food_2"}
    with postgres.connection() as conn:
        rejects = dict(conn.execute("SELECT user_id, reason FROM embedding_rejects").fetchall())
    assert rejects == {"empty": "empty", "long": "over 300 characters", "nan": "not finite", "zero": "zero vector"}

    calls = len(backend.texts)
    again = refresh_embeddings(postgres, embedder)
    assert (again.embedded, again.rejected, again.quarantined) == (0, 0, 4)
    assert len(backend.texts) == calls  # quarantined versions are not retried

    store_profiles(postgres, [profile("nan", distiller="gemini", summary="Now loves slow trips.")])
    fixed = refresh_embeddings(postgres, embedder)
    assert (fixed.embedded, fixed.rejected, fixed.quarantined) == (1, 0, 3)
    assert "nan" in stored(postgres, "test:scripted")


def test_a_text_still_encoding_serves_the_next_chunk_and_a_refused_one_is_refused_there_too(postgres, monkeypatch):
    backend = Scripted(bad={"nan trips": [np.nan] * 8})
    embedder = scripted_embedder(monkeypatch, backend)
    refused = [profile(f"a_nan_{i}", distiller="gemini", summary="Loves nan trips.") for i in range(3)]
    store_profiles(postgres, refused + FOODIES)

    # Chunks of two: a_nan_2 waits for the chunk before's (refused) text, food_2 and food_3 for food_0's vector.
    report = refresh_embeddings(postgres, embedder, chunk_size=2)

    assert (report.embedded, report.rejected) == (6, 3)
    assert report.rejects_by_reason == {"not finite": 3}
    vectors = stored(postgres, backend.model_id)
    assert set(vectors) == {f"food_{i}" for i in range(6)}
    assert len({vector.to_numpy().tobytes() for _, vector, _ in vectors.values()}) == 1


def test_a_new_rejection_removes_the_outdated_vector(postgres, monkeypatch):
    embedder = scripted_embedder(monkeypatch, Scripted(bad={"nan trips": [np.nan] * 8}))
    store_profiles(postgres, FOODIES[:2])
    refresh_embeddings(postgres, embedder)

    store_profiles(postgres, [profile("food_0", distiller="gemini", summary="Loves nan trips.")])
    report = refresh_embeddings(postgres, embedder)

    assert report.rejects_by_reason == {"not finite": 1}
    assert set(stored(postgres, "test:scripted")) == {"food_1"}


def models(postgres) -> dict[str, str]:
    with postgres.connection() as conn:
        return dict(conn.execute("SELECT model_id, state FROM embedding_models").fetchall())


def counts_by_model(postgres) -> dict[str, int]:
    with postgres.connection() as conn:
        return dict(conn.execute("SELECT model_id, count(*) FROM profile_embeddings GROUP BY 1").fetchall())


def index_exists(postgres, model_id: str) -> bool:
    with postgres.connection() as conn:
        return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (index_name(model_id),)).fetchone()[0]


def test_a_new_model_is_built_beside_the_serving_one_and_replaces_it_when_complete(postgres, embedder, monkeypatch):
    store_profiles(postgres, PROFILES)
    refresh_embeddings(postgres, embedder)

    # The new model's provider fails part-way (on its third distinct text, in the third chunk of
    # five profiles, while the second chunk is stored): what it stored stays beside the serving model.
    broken = scripted_embedder(monkeypatch, Scripted(fail_after=2))
    with pytest.raises(EmbeddingUnavailable):
        refresh_embeddings(postgres, broken, chunk_size=5)
    assert models(postgres) == {LOCAL: "serving", "test:scripted": "building"}
    assert counts_by_model(postgres) == {LOCAL: 18, "test:scripted": 12}
    assert {u.user_id for u in similar_users(postgres, embedder, "club_0", k=5)} == {f"club_{i}" for i in range(1, 6)}

    report = refresh_embeddings(postgres, scripted_embedder(monkeypatch, Scripted()), chunk_size=5)

    assert (report.embedded, report.switched_from, report.serving_model) == (6, [LOCAL], "test:scripted")
    assert models(postgres) == {"test:scripted": "serving"}
    assert counts_by_model(postgres) == {"test:scripted": 18}
    assert not index_exists(postgres, LOCAL) and index_exists(postgres, "test:scripted")


def test_an_unfinished_model_is_dropped_when_the_serving_one_is_configured_again(postgres, embedder, monkeypatch):
    store_profiles(postgres, PROFILES)
    refresh_embeddings(postgres, embedder)
    with pytest.raises(EmbeddingUnavailable):
        refresh_embeddings(postgres, scripted_embedder(monkeypatch, Scripted(fail_after=2)), chunk_size=5)

    report = refresh_embeddings(postgres, embedder)

    assert (report.embedded, report.serving_model, report.switched_from) == (0, LOCAL, [])
    assert models(postgres) == {LOCAL: "serving"}
    assert counts_by_model(postgres) == {LOCAL: 18}


def test_a_model_id_reused_with_another_dimension_is_refused(postgres, monkeypatch):
    store_profiles(postgres, FOODIES[:2])
    refresh_embeddings(postgres, scripted_embedder(monkeypatch, Scripted()))
    wider = Scripted()
    wider.dimension = 16

    with pytest.raises(ValueError, match="registered with 8 dimensions but now gives 16"):
        refresh_embeddings(postgres, scripted_embedder(monkeypatch, wider))
    assert counts_by_model(postgres) == {"test:scripted": 2}


def test_dimension_check_fails_when_vectors_do_not_have_the_model_dimension(postgres, monkeypatch):
    store_profiles(postgres, FOODIES[:3])
    refresh_embeddings(postgres, scripted_embedder(monkeypatch, Scripted()))

    assert check_dimension(postgres, "test:scripted", 8).passed
    failed = check_dimension(postgres, "test:scripted", 16)
    assert not failed.passed
    assert failed.metadata["wrong_dimension"].value == 3
    assert failed.metadata["registered_dimension"].value == 8
    assert failed.metadata["examples"].value == "food_0, food_1, food_2"


def test_unit_norm_check_fails_on_a_vector_that_is_not_unit_length(postgres, monkeypatch):
    store_profiles(postgres, FOODIES[:3])
    refresh_embeddings(postgres, scripted_embedder(monkeypatch, Scripted()))
    assert check_unit_norm(postgres, "test:scripted").passed

    with postgres.connection() as conn:
        conn.execute("UPDATE profile_embeddings SET embedding = '[2,0,0,0,0,0,0,0]' WHERE user_id = 'food_1'")
    failed = check_unit_norm(postgres, "test:scripted")

    assert not failed.passed
    assert failed.metadata["off_unit_norm"].value == 1
    assert failed.metadata["max_norm"].value == 2.0
    assert failed.metadata["examples"].value == "food_1"


def test_freshness_check_fails_until_changed_profiles_are_embedded(postgres, monkeypatch):
    embedder = scripted_embedder(monkeypatch, Scripted(bad={"nan trips": [np.nan] * 8}))
    store_profiles(postgres, FOODIES[:3])
    refresh_embeddings(postgres, embedder)
    assert check_freshness(postgres, "test:scripted").passed

    store_profiles(postgres, [profile("food_2", distiller="gemini", summary="Loves nan trips."), profile("food_9")])
    stale = check_freshness(postgres, "test:scripted")
    assert not stale.passed
    assert stale.metadata["stale_or_missing"].value == 2
    assert stale.metadata["examples"].value == "food_2, food_9"

    refresh_embeddings(postgres, embedder)
    quarantined = check_freshness(postgres, "test:scripted")
    assert not quarantined.passed  # a rejected profile still has no vector for its text
    assert quarantined.metadata["stale_or_missing"].value == 1
    assert quarantined.metadata["of_which_quarantined"].value == 1

    store_profiles(postgres, [profile("food_2")])
    refresh_embeddings(postgres, embedder)
    assert check_freshness(postgres, "test:scripted").passed


def load_random_vectors(postgres, model_id: str, count: int, dimension: int, city_every: int, seed: int = 7):
    """`count` random unit vectors for a registered model; every `city_every`-th user is in Oslo, the rest in Rome."""
    vectors = np.random.default_rng(seed).standard_normal((count, dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    rows = [(f"u{i:05d}", 1, b"", ["oslo"] if i % city_every == 0 else ["rome"]) for i in range(count)]
    with postgres.connection() as conn:
        register_vector(conn)
        conn.execute("INSERT INTO embedding_models (model_id, dimension, state) VALUES (%s, %s, 'serving')",
                     (model_id, dimension))
        store_vectors(conn, model_id, rows, vectors)
    return vectors


def test_recall_check_passes_on_the_product_index_and_fails_on_a_degenerate_one(postgres):
    load_random_vectors(postgres, "test:random", 3000, 32, city_every=100)
    with postgres.connection() as conn:
        ensure_model_index(conn, "test:random", 32)
    good = check_recall(postgres, "test:random", 32, sample=30)
    assert good.passed, good.metadata

    with postgres.connection() as conn:
        conn.execute(f"DROP INDEX {index_name('test:random')}")
        ensure_model_index(conn, "test:random", 32, m=2, ef_construction=4)
    poor = check_recall(postgres, "test:random", 32, sample=30, ef_search=10)
    assert not poor.passed
    assert poor.metadata["recall_at_10"].value < 0.95


def test_a_city_filter_still_returns_k_users_through_iterative_index_scans(postgres):
    vectors = load_random_vectors(postgres, "test:random", 3000, 32, city_every=100)  # 30 users in Oslo
    with postgres.connection() as conn:
        ensure_model_index(conn, "test:random", 32)
        register_vector(conn)
        query = vectors[1]
        exact = exact_nearest_users(conn, "test:random", 32, query, 10, city="Oslo", exclude="u00001")
        found = nearest_users(conn, "test:random", 32, query, 10, city="Oslo", exclude="u00001", ef_search=40)
        conn.execute("SET LOCAL hnsw.iterative_scan = off")
        conn.execute("SET LOCAL hnsw.ef_search = 40")
        plain = conn.execute(
            "SELECT user_id FROM profile_embeddings WHERE model_id = 'test:random' AND cities @> '{oslo}' "
            "ORDER BY embedding::vector(32) <=> %s LIMIT 10",
            (query,),
        ).fetchall()

    assert len(exact) == 10 and all(u.user_id.endswith("00") for u in exact)
    assert [u.user_id for u in found] == [u.user_id for u in exact]
    assert len(plain) < 10  # what a filter does to a plain HNSW scan: silently fewer rows


def test_a_filter_too_rare_for_the_index_scan_falls_back_to_exact_search(postgres):
    vectors = load_random_vectors(postgres, "test:random", 3000, 32, city_every=1000)  # 3 users in Oslo
    with postgres.connection() as conn:
        ensure_model_index(conn, "test:random", 32)
        register_vector(conn)
        found = nearest_users(conn, "test:random", 32, vectors[5], 10, city="oslo", max_scan_tuples=50)
        exact = exact_nearest_users(conn, "test:random", 32, vectors[5], 10, city="oslo")
        index_only = conn.execute(
            "SELECT user_id FROM profile_embeddings WHERE model_id = 'test:random' AND cities @> '{oslo}' "
            "ORDER BY embedding::vector(32) <=> %s LIMIT 10",
            (vectors[5],),
        ).fetchall()

    assert len(index_only) < 3  # the scan gave up after 50 index tuples
    assert [u.user_id for u in found] == [u.user_id for u in exact]
    assert sorted(u.user_id for u in found) == ["u00000", "u01000", "u02000"]


def test_similar_users_embeds_a_just_changed_profile_and_explains_missing_ones(postgres, embedder):
    store_profiles(postgres, PROFILES)
    with pytest.raises(LookupError, match="no embedding model serves yet"):
        similar_users(postgres, embedder, "food_0")
    refresh_embeddings(postgres, embedder)

    # food_0 turns into a clubber; its stored vector is stale until the next run.
    store_profiles(postgres, [CLUBBERS[0] | {"user_id": "food_0"}])
    assert {u.user_id for u in similar_users(postgres, embedder, "food_0", k=6)} == {c["user_id"] for c in CLUBBERS}
    in_paris = similar_users(postgres, embedder, "food_1", k=3, city="PARIS")
    assert len(in_paris) == 3 and {u.user_id for u in in_paris} <= {m["user_id"] for m in MUSEUMS}
    with pytest.raises(LookupError, match="no profile for user 'nobody'"):
        similar_users(postgres, embedder, "nobody")
    with pytest.raises(ValueError, match="k must be at least 1"):
        similar_users(postgres, embedder, "food_1", k=0)


def test_materializing_a_day_reports_the_story_and_every_check_passes(postgres, embedder):
    store_profiles(postgres, PROFILES)
    resources = {"postgres": postgres, "embedder": embedder}

    result = dg.materialize([profile_embeddings, *profile_embeddings_checks], partition_key="2026-11-20",
                            resources=resources)

    metadata = result.asset_materializations_for_node("profile_embeddings")[0].metadata
    assert metadata["model_id"].value == LOCAL and metadata["serving_model"].value == LOCAL
    assert (metadata["profiles_seen"].value, metadata["embedded"].value, metadata["rejected"].value) == (18, 18, 0)
    assert metadata["profiles_per_second"].value > 0 and metadata["embedded_share"].value == 1.0
    assert metadata["table_bytes"].value > metadata["index_bytes"].value > 0
    evaluations = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert evaluations == {
        DIMENSION_MATCHES_MODEL: True,
        VECTORS_FINITE_AND_UNIT_NORM: True,
        EVERY_PROFILE_HAS_FRESH_EMBEDDING: True,
        HNSW_RECALL_AT_10: True,
    }

    started = time.perf_counter()
    rerun = dg.materialize([profile_embeddings], partition_key="2026-11-21", resources=resources)
    metadata = rerun.asset_materializations_for_node("profile_embeddings")[0].metadata
    assert (metadata["embedded"].value, metadata["skipped_unchanged"].value) == (0, 18)
    assert metadata["seconds"].value < 2 and time.perf_counter() - started < 10


def test_similar_command_prints_the_nearest_users(postgres, embedder, monkeypatch, capsys):
    import argparse
    import contextlib
    from types import SimpleNamespace

    from orchestration import similar_cli

    store_profiles(postgres, PROFILES)
    refresh_embeddings(postgres, embedder)
    built = SimpleNamespace(postgres=postgres, embedder=embedder)
    monkeypatch.setattr(similar_cli, "built_resources", lambda: contextlib.nullcontext(built))
    parser = argparse.ArgumentParser(prog="distillery")
    similar_cli.register_cli(parser.add_subparsers(dest="command", required=True))

    args = parser.parse_args(["similar", "club_0", "--k", "5", "--city", "Berlin"])
    assert args.handler(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "5 users most similar to club_0 in Berlin:"
    ranks, users, similarities = zip(*(line.split() for line in lines[1:]))
    assert ranks == ("1", "2", "3", "4", "5")
    assert set(users) == {f"club_{i}" for i in range(1, 6)}  # identical profiles
    assert all(float(s) > 0.99 for s in similarities)

    args = parser.parse_args(["similar", "nobody"])
    assert args.handler(args) == 1
    assert capsys.readouterr().err.strip() == "no profile for user 'nobody'"


def test_the_asset_and_its_checks_load_in_definitions(postgres, embedder):
    defs = dg.Definitions(
        assets=[profile_embeddings],
        asset_checks=profile_embeddings_checks,
        resources={"postgres": postgres, "embedder": embedder},
    )
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    node = graph.get(dg.AssetKey("profile_embeddings"))

    assert node.parent_keys == {dg.AssetKey("user_profiles")}
    assert node.partitions_def == daily_partition
    assert {key.name for key in graph.asset_check_keys} == {
        DIMENSION_MATCHES_MODEL, VECTORS_FINITE_AND_UNIT_NORM, EVERY_PROFILE_HAS_FRESH_EMBEDDING, HNSW_RECALL_AT_10
    }
