"""profile_embeddings: canonical text, refresh only on change, rejects, model switch, checks, similar users."""

import json
import time

import dagster as dg
import numpy as np
import pytest
from pgvector.psycopg import register_vector

from assets.ingestion import EVENT_TYPES
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
)
from assets.profile_schema import validate_profile
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
) -> dict:
    """A profile document as distillation stores it (validated against its schema)."""
    interests = {"seafood": 0.6, "wine bars": 0.4} if interests is None else interests
    cities = {"Lisbon": 1.0} if cities is None else cities
    document = {
        "schema": 1, "user_id": user_id, "version": 1, "updated_at": "2026-11-20T08:00:00Z",
        "evidence_day": "2026-11-20", "signals_distilled": 10, "distiller": "local",
        "persona": {"label": persona, "scores": {p: 0.2 for p in ("dreamer", "planner", "decider", "researcher", "conversationalist")}},
        "vibe": {"label": vibe, "scores": [{"vibe": vibe, "weight": 1.0, "evidence": 3.0}] if vibe else []},
        "interests": [{"topic": t, "weight": w, "evidence": w * 10} for t, w in interests.items()],
        "cities": [{"city": c, "weight": w, "evidence": w * 10} for c, w in cities.items()],
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
            INSERT INTO user_profile_heads (user_id, version, evidence_day, signals_distilled, local_persona, updated_at)
            SELECT user_id, version, DATE '2026-11-20', 10, 'planner', now() FROM incoming
            ON CONFLICT (user_id) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at
            """,
            ([d["user_id"] for d in documents], [json.dumps(d) for d in documents]),
        )


FOODIES = [profile(f"food_{i}", interests={"seafood": 0.5 + i / 100, "wine bars": 0.3, "markets": 0.2}) for i in range(6)]
CLUBBERS = [
    profile(f"club_{i}", persona="decider", vibe="night owl", interests={"techno clubs": 0.7, "late bars": 0.3},
            cities={"Berlin": 1.0}, travel_style="spontaneous booker", summary="Books last-minute trips to techno clubs.")
    for i in range(6)
]
MUSEUMS = [
    profile(f"art_{i}", persona="researcher", vibe="quiet", interests={"museums": 0.6, "art galleries": 0.4},
            cities={"Paris": 0.7, "Lisbon": 0.3}, travel_style="careful planner", summary="Researches museums and galleries.")
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
    document = profile("u_1", interests={"seafood": 0.6, "wine bars": 0.4}, cities={"Lisbon": 0.8, "Porto": 0.2},
                       tags=("natural wine",))
    text = canonical_text(postgres, document)

    assert text == (
        "persona: planner\nvibe: foodie\ntravel style: slow traveller\ninterests: seafood, wine bars\n"
        "cities: lisbon, porto\nthemes: natural wine\nPlans food trips around seafood restaurants."
    )
    drifted = profile("u_1", interests={"wine bars": 0.55, "seafood": 0.45}, cities={"Porto": 0.5, "Lisbon": 0.5},
                      tags=("natural wine",))
    assert canonical_text(postgres, drifted) == text
    assert canonical_text(postgres, profile("u_1", interests={"seafood": 1.0})) != text
    empty = {"persona": {}, "vibe": {"label": None}, "interests": [], "cities": [], "tags": [], "summary": " "}
    assert canonical_text(postgres, empty) == ""


def stored(postgres, model_id: str = LOCAL) -> dict[str, tuple]:
    with postgres.connection() as conn:
        register_vector(conn)
        rows = conn.execute(
            "SELECT user_id, profile_version, embedding, embedded_at FROM profile_embeddings WHERE model_id = %s",
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
        assert conn.execute("SELECT cities FROM profile_embeddings WHERE user_id = 'food_1'").fetchone()[0] == ["berlin"]


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


def test_bad_texts_and_vectors_are_rejected_counted_and_never_stored(postgres, monkeypatch):
    backend = Scripted(bad={"nan trips": [np.nan] * 8, "zero trips": [0.0] * 8})
    embedder = scripted_embedder(monkeypatch, backend, max_chars=300)
    empty = {"user_id": "empty", "summary": " "}  # no facet at all (older documents may lack them)
    documents = [
        *FOODIES[:3],
        empty,
        profile("long", summary="Lisbon seafood " * 26),
        profile("nan", summary="Loves nan trips."),
        profile("zero", summary="Loves zero trips."),
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

    store_profiles(postgres, [profile("nan", summary="Now loves slow trips.")])
    fixed = refresh_embeddings(postgres, embedder)
    assert (fixed.embedded, fixed.rejected, fixed.quarantined) == (1, 0, 3)
    assert "nan" in stored(postgres, "test:scripted")


def test_a_new_rejection_removes_the_outdated_vector(postgres, monkeypatch):
    embedder = scripted_embedder(monkeypatch, Scripted(bad={"nan trips": [np.nan] * 8}))
    store_profiles(postgres, FOODIES[:2])
    refresh_embeddings(postgres, embedder)

    store_profiles(postgres, [profile("food_0", summary="Loves nan trips.")])
    report = refresh_embeddings(postgres, embedder)

    assert report.rejects_by_reason == {"not finite": 1}
    assert set(stored(postgres, "test:scripted")) == {"food_1"}
