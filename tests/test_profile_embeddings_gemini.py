"""profile_embeddings with the Gemini provider, against the fake Gemini server on 127.0.0.1."""

import math

import numpy as np
import pytest
from pgvector.psycopg import register_vector

from assets.profile_embeddings import (
    check_dimension,
    check_unit_norm,
    refresh_embeddings,
)
from resources.embedder import EmbedderResource, EmbeddingUnavailable, Rejection
from tests.fake_gemini import Reply, client_error, embeddings, fake_vector, rate_limited
from tests.test_profile_embeddings import PROFILES, store_profiles

GEMINI = "gemini:gemini-embedding-001@768"


def gemini_embedder(fake, **gemini_fields) -> EmbedderResource:
    return EmbedderResource(provider="gemini", gemini=fake.resource(**gemini_fields), output_dimensionality=768)


def nan_for(marker: str, dim: int = 768) -> Reply:
    """batchEmbedContents answer with a NaN vector for every text containing `marker`."""

    def answer(request: dict) -> dict:
        texts = [r["content"]["parts"][0]["text"] for r in request["requests"]]
        return {
            "embeddings": [
                {"values": [math.nan] * dim if marker in text else fake_vector(text, dim)} for text in texts
            ]
        }

    return Reply(body=answer)


def batch_sizes(fake) -> list[int]:
    return [len(r.body["requests"]) for r in fake.requests if r.path.endswith(":batchEmbedContents")]


def test_profiles_are_embedded_by_gemini_in_batches_with_retries(postgres, fake_gemini):
    store_profiles(postgres, PROFILES)
    fake_gemini.script(rate_limited(retry_delay_s=0.01), embeddings(768))
    embedder = gemini_embedder(fake_gemini)

    report = refresh_embeddings(postgres, embedder)

    assert (report.model_id, report.dimension, report.embedded, report.serving_model) == (GEMINI, 768, 18, GEMINI)
    # one request of the three distinct texts (each shared by six profiles): the 429, then the same batch again
    assert batch_sizes(fake_gemini) == [3, 3]
    assert fake_gemini.requests[-1].body["requests"][0]["outputDimensionality"] == 768
    assert check_dimension(postgres, GEMINI, 768).passed and check_unit_norm(postgres, GEMINI).passed
    with postgres.connection() as conn:
        register_vector(conn)
        vector = conn.execute("SELECT embedding FROM profile_embeddings WHERE user_id = 'food_0'").fetchone()[0]
        text = conn.execute(
            "SELECT profile_canonical_text(profile) FROM user_profiles WHERE user_id = 'food_0'"
        ).fetchone()[0]
    raw = np.asarray(fake_vector(text, 768))
    np.testing.assert_allclose(vector.to_numpy(), raw / np.linalg.norm(raw), atol=1e-6)


def test_one_bad_vector_rejects_only_its_text(fake_gemini):
    fake_gemini.script(*[nan_for("museums")] * 5)
    texts = ["Lisbon seafood", "Berlin techno", "Paris museums", "Porto wine"]

    result = gemini_embedder(fake_gemini).embed(texts)

    assert result.rejections == (Rejection(2, "not finite"),)
    assert result.ok.tolist() == [True, True, False, True]
    # the failed batch of 4 is halved until the bad text stands alone
    assert sorted(batch_sizes(fake_gemini)) == [1, 1, 2, 2, 4]
    assert fake_gemini.unanswered == 0


@pytest.mark.parametrize(
    ("replies", "fields", "reason"),
    [
        ((), {"api_key": None}, "no_api_key"),
        ((), {"run_token_budget": 1}, "budget_exhausted"),
        ((client_error(400),), {}, "request_rejected"),
    ],
)
def test_an_unavailable_provider_stops_the_run_and_stores_nothing(postgres, fake_gemini, replies, fields, reason):
    store_profiles(postgres, PROFILES)
    fake_gemini.script(*replies)

    with pytest.raises(EmbeddingUnavailable, match=reason):
        refresh_embeddings(postgres, gemini_embedder(fake_gemini, **fields))

    with postgres.connection() as conn:
        assert conn.execute("SELECT count(*) FROM profile_embeddings").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM embedding_rejects").fetchone()[0] == 0
