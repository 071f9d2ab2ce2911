"""The local sentence embedder: offline, sentence-transformers' outputs, bad rows reported."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from pydantic import ValidationError

from resources.embedder import PROVIDERS, EmbedderResource, EmbeddingRejected, Rejection

PROFILES = [
    "A foodie in Lisbon who loves seafood",
    "Lisbon food lover, seafood restaurants",
    "Night clubs in Berlin, techno",
    "Quiet museums and art galleries in Paris",
    "Family beach holidays in the Algarve, books mid-range hotels with a pool",
]


@pytest.fixture(scope="module")
def embedder() -> EmbedderResource:
    return EmbedderResource(batch_size=2)


def test_vectors_are_unit_length_float32_of_the_model_dimension(embedder):
    result = embedder.embed(PROFILES)

    assert embedder.dimension == 384
    assert result.model_id == embedder.model_id == "local:all-MiniLM-L6-v2-onnx-int8"
    assert result.vectors.dtype == np.float32
    assert result.vectors.shape == (len(PROFILES), 384)
    assert result.ok.all() and result.rejections == ()
    np.testing.assert_allclose(np.linalg.norm(result.vectors, axis=1), 1.0, atol=1e-5)


def test_same_texts_give_identical_vectors(embedder):
    assert np.array_equal(embedder.embed(PROFILES).vectors, embedder.embed(PROFILES).vectors)


def test_matches_sentence_transformers_published_similarities(embedder):
    # The similarity matrix sentence-transformers' README prints for all-MiniLM-L6-v2 (fp32);
    # the int8 weights may move a cosine by a few thousandths, no more.
    vectors = embedder.embed(
        ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
    ).vectors
    published = np.array([[1.0, 0.6660, 0.1046], [0.6660, 1.0, 0.1411], [0.1046, 0.1411, 1.0]])
    np.testing.assert_allclose(vectors @ vectors.T, published, atol=0.01)


def test_similar_profiles_are_closer_than_unrelated_ones(embedder):
    foodie, food_lover, techno, museums, _ = embedder.embed(PROFILES).vectors

    assert foodie @ food_lover > 0.8
    assert foodie @ food_lover > foodie @ techno + 0.5
    assert foodie @ food_lover > foodie @ museums + 0.5


def test_batched_vectors_equal_one_by_one(embedder):
    batched = embedder.embed(PROFILES).vectors
    alone = np.vstack([embedder.embed([text]).vectors for text in PROFILES])

    np.testing.assert_allclose(batched, alone, atol=1e-5)


def test_bad_texts_are_rejected_and_good_rows_kept(embedder):
    texts = [
        PROFILES[0],
        "",
        "   \n",
        None,
        "x" * (embedder.max_chars + 1),
        "seafood " * 300,  # short enough in characters, over 256 tokens
        PROFILES[2],
    ]
    result = embedder.embed(texts)

    assert result.rejections == (
        Rejection(1, "empty"),
        Rejection(2, "empty"),
        Rejection(3, "empty"),
        Rejection(4, f"over {embedder.max_chars} characters"),
        Rejection(5, "over 256 tokens"),
    )
    assert result.ok.tolist() == [True, False, False, False, False, False, True]
    assert np.isnan(result.vectors[~result.ok]).all()
    np.testing.assert_allclose(
        result.vectors[[0, 6]], embedder.embed([PROFILES[0], PROFILES[2]]).vectors, atol=1e-5
    )

    column = result.to_arrow()
    assert column.type == pa.list_(pa.float32(), 384)
    assert column.is_null().to_pylist() == [not ok for ok in result.ok]

    with pytest.raises(EmbeddingRejected, match=r"5 of 7 texts rejected: #1 empty") as raised:
        result.raise_for_rejections()
    assert raised.value.indexes == [1, 2, 3, 4, 5]


class _Backend:
    """A provider whose raw vectors are given, to show how the resource treats bad ones."""

    model_id = "test:given"
    dimension = 3

    def __init__(self, vectors):
        self.vectors = np.asarray(vectors, dtype=np.float32)

    def encode(self, texts):
        return self.vectors[: len(texts)], {}


def test_nan_zero_and_wrong_dimension_vectors_are_rejected(monkeypatch):
    raw = [[3.0, 4.0, 0.0], [np.nan, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, np.inf, 1.0]]
    monkeypatch.setitem(PROVIDERS, "given", lambda resource: _Backend(raw))
    result = EmbedderResource(provider="given").embed(["a", "bb", "ccc", "dddd"])

    assert result.rejections == (
        Rejection(1, "not finite"),
        Rejection(2, "zero vector"),
        Rejection(3, "not finite"),
    )
    np.testing.assert_allclose(result.vectors[0], [0.6, 0.8, 0.0])

    monkeypatch.setitem(PROVIDERS, "given", lambda resource: _Backend([[1.0, 0.0]] * 2))
    result = EmbedderResource(provider="given").embed(["a", "b"])
    assert not result.ok.any()
    assert {r.reason for r in result.rejections} == {"vector shape (2,), expected (3,)"}


class _CountingBackend:
    """Vectors from text lengths; remembers every text it was asked to encode; refuses 'bad'."""

    model_id, dimension = "counting", 2

    def __init__(self):
        self.encoded: list[str] = []

    def encode(self, texts):
        self.encoded.extend(texts)
        return np.array([[len(text), 1.0] for text in texts], dtype=np.float32), {
            i: "refused by the model" for i, text in enumerate(texts) if text == "bad"
        }


def test_repeated_texts_are_encoded_once_and_share_the_vector_or_the_refusal(monkeypatch):
    backend = _CountingBackend()
    monkeypatch.setitem(PROVIDERS, "counting", lambda resource: backend)
    texts = ["foodie", "bad", "night owl", "foodie", "bad", "", "foodie"]

    result = EmbedderResource(provider="counting", batch_size=2).embed(texts)

    assert sorted(backend.encoded) == ["bad", "foodie", "night owl"]
    np.testing.assert_array_equal(result.vectors[0], result.vectors[3])
    np.testing.assert_array_equal(result.vectors[0], result.vectors[6])
    assert not np.array_equal(result.vectors[0], result.vectors[2])
    assert result.rejections == (
        Rejection(1, "refused by the model"), Rejection(4, "refused by the model"), Rejection(5, "empty"),
    )
    assert result.ok.tolist() == [True, False, True, True, False, False, True]


def test_unknown_provider_is_a_configuration_error():
    message = "unknown embedding provider 'openai'; available: local, gemini"
    with pytest.raises(ValidationError, match=message):
        EmbedderResource(provider="openai")


def test_model_loads_and_embeds_with_no_network():
    script = (
        "import socket\n"
        "def refuse(*args): raise OSError('network used')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "from resources.embedder import EmbedderResource\n"
        "result = EmbedderResource().embed(['Lisbon food lover'])\n"
        "print(result.vectors.shape, bool(result.ok.all()))\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": "/nonexistent", "PYTHONPATH": "."}
    completed = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        cwd=Path(__file__).parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "(1, 384) True"
