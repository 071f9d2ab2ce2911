"""The semantic cache: one reasoning result per user segment, shared by its users for a hard TTL.

`SemanticCacheResource.recommend(user_id, kind)` is what the product backend calls. The user's
segment comes from their profile; the lookup is, in order:

1. an exact hit: the segment's own answer, ready and unexpired (a segment of fewer than
   `min_segment_users` users is folded into its city's catch-all segment '*' and served that);
2. a near hit: the answer of the most similar persona (cosine over persona embeddings, at or above
   `similarity_threshold`) among entries of exactly the same city, kind, locale and definition hash,
   so that similarity never carries an answer to another city or another question;
3. a generation: the caller claims the segment with a pending row, generates once and stores; every
   concurrent caller for the same segment waits for that answer instead of generating its own. A
   claim lapses after `claim_lease_seconds`, so a caller that dies mid-generation blocks nobody.

Expiry is hard: an answer is stored with expires_at = created_at + TTL, and hits never move it.
Every request and every generation goes to the ledger, from which the savings are computed.
"""

import hashlib
import json
import re
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import dagster as dg
from pgvector.psycopg import register_vector
from psycopg.types.json import Jsonb
from pydantic import Field, PrivateAttr, field_validator

from assets.distillers import DEFAULT_INJECTION_CANARIES
from assets.profile_schema import PERSONAS
from assets.reasoners import (
    ANY_PERSONA,
    DEFAULT_KIND,
    KINDS,
    LOCALE_PATTERN,
    PERSONA_TEXT,
    RESPONSE_SCHEMA,
    Answer,
    GeminiReasoner,
    LocalReasoner,
    Pricing,
    Reasoner,
    Segment,
)
from resources.embedder import EmbedderResource
from resources.gemini import GeminiResource
from resources.postgres import PostgresResource
from resources.sql import load

# The segment rule is the pair of SQL functions of migration 0040; a new rule comes with a new migration and a new name here.
SEGMENT_RULE = "0040_semantic_cache"
Outcome = Literal["hit", "near_hit", "shared", "miss"]


@dataclass(frozen=True)
class Recommendation:
    """What `recommend` returns: the answer (see assets/reasoners.py RESPONSE_SCHEMA) and how it was found."""

    user_id: str
    segment: Segment
    kind: str
    locale: str
    outcome: Outcome
    answer: dict
    served_persona: str  # another persona than the user's own on a near hit
    similarity: float
    expires_at: datetime


@dataclass(frozen=True)
class CacheStats:
    """The ledger over a window: outcomes, and LLM calls and spend against one call per user."""

    hours: float
    hits: int
    near_hits: int
    shared: int
    misses: int
    users: int
    generations: int
    llm_answers: int
    llm_calls: int
    fallbacks: int
    tokens: int
    cost_usd: float
    call_tokens: float
    call_cost_usd: float

    @property
    def requests(self) -> int:
        return self.hits + self.near_hits + self.shared + self.misses

    @property
    def hit_rate(self) -> float:
        """Requests answered without a generation of their own."""
        return (self.requests - self.misses) / self.requests if self.requests else 0.0

    @property
    def calls_avoided(self) -> int:
        """Against one LLM call per user: the users served, less the generations made."""
        return max(self.users - self.generations, 0)

    @property
    def call_reduction(self) -> float:
        return self.calls_avoided / self.users if self.users else 0.0

    @property
    def tokens_saved(self) -> int:
        return round(self.calls_avoided * self.call_tokens)

    @property
    def cost_saved_usd(self) -> float:
        return self.calls_avoided * self.call_cost_usd

    def metadata(self, suffix: str = "") -> dict[str, Any]:
        return {
            f"requests{suffix}": self.requests,
            f"hits{suffix}": self.hits,
            f"near_hits{suffix}": self.near_hits,
            f"shared{suffix}": self.shared,
            f"misses{suffix}": self.misses,
            f"hit_rate{suffix}": round(self.hit_rate, 4),
            f"users{suffix}": self.users,
            f"generations{suffix}": self.generations,
            f"llm_answers{suffix}": self.llm_answers,
            f"llm_calls{suffix}": self.llm_calls,
            f"llm_fallbacks{suffix}": self.fallbacks,
            f"llm_calls_avoided{suffix}": self.calls_avoided,
            f"llm_call_reduction{suffix}": round(self.call_reduction, 4),
            f"tokens_spent{suffix}": self.tokens,
            f"tokens_saved{suffix}": self.tokens_saved,
            f"cost_usd{suffix}": round(self.cost_usd, 6),
            f"cost_saved_usd{suffix}": round(self.cost_saved_usd, 6),
        }


class SemanticCacheResource(dg.ConfigurableResource):
    """Shared answers per user segment: how they are found, generated, kept and measured."""

    postgres: dg.ResourceDependency[PostgresResource]
    embedder: dg.ResourceDependency[EmbedderResource]
    gemini: dg.ResourceDependency[GeminiResource]
    provider: Literal["local", "gemini"] = Field(
        default="local", description="local: no key needed. gemini: the model writes the ideas over the local ranking."
    )
    ttl_hours: float = Field(default=24.0, gt=0, description="Hard lifetime of an answer; hits never extend it.")
    fallback_ttl_minutes: float = Field(
        default=60.0, gt=0, description="Lifetime of a local answer stored because the model failed, so it is retried soon."
    )
    similarity_threshold: float = Field(
        default=0.85, ge=-1, le=1, description="Cosine between persona embeddings at which another persona's answer serves."
    )
    locale: str = Field(default="en", description="Locale of requests that name none, and of warmed answers.")
    min_segment_users: int = Field(
        default=5, ge=1,
        description="A segment with fewer users shares its city's catch-all answer: too few users to reason from, "
        "and an answer from one user's signals would show the others what that user did.",
    )
    evidence_days: int = Field(default=14, ge=1, description="Days of signals an answer is reasoned from.")
    warm_top_segments: int = Field(default=1000, ge=0, description="Segments with the most active users kept warm.")
    warm_kinds: list[str] = Field(default_factory=lambda: [DEFAULT_KIND], description="Kinds warmed ahead.")
    warm_chunk_segments: int = Field(default=250, ge=1, description="Segments generated and stored per transaction.")
    active_days: int = Field(default=7, ge=1, description="A user with signals in this many days counts as active.")
    refresh_within_minutes: float = Field(default=60.0, ge=0, description="Answers expiring this soon are regenerated.")
    refresh_min_hits: int = Field(default=1, ge=0, description="Hits that keep an answer outside the top segments refreshed.")
    claim_lease_seconds: float = Field(default=300.0, gt=0, description="After this, a generation claim may be taken over.")
    poll_seconds: float = Field(default=0.02, gt=0, description="First wait between looks at a claimed segment.")
    hit_rate_floor: float = Field(default=0.9, ge=0, le=1, description="Checked on the last 24 hours of requests.")
    hit_rate_min_requests: int = Field(default=100, ge=1, description="Requests needed before the hit rate is judged.")
    ledger_days: int = Field(default=7, ge=1, description="Days of ledger kept.")
    daily_token_budget: int = Field(default=2_000_000, ge=0, description="LLM tokens the cache may spend per UTC day.")
    daily_cost_budget_usd: float = Field(default=5.0, ge=0, description="LLM cost the cache may spend per UTC day.")
    gemini_workers: int = Field(default=4, ge=1, description="Segments written by the model at once.")
    injection_canaries: list[str] = Field(
        default_factory=lambda: list(DEFAULT_INJECTION_CANARIES),
        description="Phrases that must never appear in a stored answer.",
    )

    _versions: dict[str, str] = PrivateAttr(default_factory=dict)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @field_validator("warm_kinds")
    @classmethod
    def _known_kinds(cls, kinds: list[str]) -> list[str]:
        unknown = sorted(set(kinds) - set(KINDS))
        if unknown:
            raise ValueError(f"unknown kinds {unknown}; available: {', '.join(KINDS)}")
        return kinds

    @field_validator("locale")
    @classmethod
    def _valid_locale(cls, locale: str) -> str:
        return checked_locale(locale)

    # -- configuration -----------------------------------------------------------------------

    def reasoner(self) -> Reasoner:
        local = LocalReasoner(self.postgres, self.evidence_days, Pricing.of(self.gemini), self.gemini.max_input_chars)
        if self.provider == "gemini":
            return GeminiReasoner(
                self.gemini, self.postgres, local, self.injection_canaries,
                self.daily_token_budget, self.daily_cost_budget_usd, self.gemini_workers,
            )
        return local

    def version_hash(self, kind: str) -> str:
        """The definition an answer is made under; an answer of any other definition is never served."""
        with self._lock:
            if kind not in self._versions:
                self._versions[kind] = self._definition_hash(kind)
            return self._versions[kind]

    def _definition_hash(self, kind: str) -> str:
        definition = {
            "segment_rule": SEGMENT_RULE,
            "personas": PERSONAS,
            "persona_text": PERSONA_TEXT,
            "response_schema": RESPONSE_SCHEMA,
            "kind": kind,
            "categories": KINDS[kind].categories,
            "reasoner": self.reasoner().definition(),
        }
        return hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()[:16]

    def current_versions(self) -> dict[str, str]:
        return {kind: self.version_hash(kind) for kind in KINDS}

    @property
    def ttl_seconds(self) -> float:
        return self.ttl_hours * 3600

    def _ttl_for(self, answer: Answer) -> float:
        return min(self.fallback_ttl_minutes * 60, self.ttl_seconds) if answer.fallback_reason else self.ttl_seconds

    # -- the lookup ----------------------------------------------------------------------------

    def recommend(self, user_id: str, kind: str = DEFAULT_KIND, locale: str | None = None) -> Recommendation:
        """The shared answer for the user's segment: exact hit, near hit, or generated once.

        Raises LookupError for a user without a profile and ValueError for an unknown kind or a
        malformed locale.
        """
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; available: {', '.join(KINDS)}")
        locale = checked_locale(locale or self.locale)
        request = {
            "user_id": user_id, "kind": kind, "locale": locale, "version_hash": self.version_hash(kind),
            "min_users": self.min_segment_users,
        }
        with self.postgres.connection() as conn, conn.pipeline():
            conn.execute(load("cache/relaxed_commit"))
            row = conn.execute(load("cache/serve_user"), request).fetchone()
        if row is None:
            raise LookupError(f"no profile for user {user_id!r}")
        persona, city, entry_id, answer, expires_at = row
        segment = Segment(persona, city)
        request |= {"persona": persona, "city": city, "segment_key": segment.key}
        if entry_id is not None:
            return Recommendation(user_id, segment, kind, locale, "hit", answer, persona, 1.0, expires_at)
        near = self._serve_near(segment, request)
        if near is not None:
            return near
        return self._generate_or_wait(segment, request)

    def _recommendation(self, request: dict, segment: Segment, outcome: Outcome, row: tuple) -> Recommendation:
        _, persona, answer, expires_at, *similarity = row
        return Recommendation(
            request["user_id"], segment, request["kind"], request["locale"], outcome, answer, persona,
            float(similarity[0]) if similarity else 1.0, expires_at,
        )

    def _serve_near(self, segment: Segment, request: dict) -> Recommendation | None:
        if segment.persona == ANY_PERSONA:
            return None  # a catch-all answer is for its own city's users only
        model_id = self.ensure_persona_vectors([segment])
        with self.postgres.connection() as conn:
            conn.execute(load("cache/relaxed_commit"))
            served = conn.execute(load("cache/serve_near"), request | {
                "embedding_model": model_id, "persona_text": segment.persona_text,
                "threshold": self.similarity_threshold,
            }).fetchone()
        return self._recommendation(request, segment, "near_hit", served) if served else None

    def _generate_or_wait(self, segment: Segment, request: dict) -> Recommendation:
        wait = self.poll_seconds
        while True:
            token = uuid.uuid4()
            with self.postgres.connection() as conn:
                claimed = conn.execute(
                    load("cache/claim_entry"), request | {"token": token, "lease_s": self.claim_lease_seconds}
                ).fetchone()
            if claimed is not None:
                return self._generate(segment, request, claimed[0], token)
            # Another caller holds the claim: wait for its answer, or for the claim to lapse.
            while True:
                with self.postgres.connection() as conn:
                    conn.execute(load("cache/relaxed_commit"))
                    served = conn.execute(load("cache/serve_exact"), request | {"event": "shared"}).fetchone()
                    state = None if served else conn.execute(load("cache/claim_state"), request).fetchone()
                if served is not None:
                    return self._recommendation(request, segment, "shared", served)
                if state is None or not state[1]:
                    break
                time.sleep(wait)
                wait = min(wait * 1.5, 0.5)

    def _generate(self, segment: Segment, request: dict, entry_id: int, token: uuid.UUID) -> Recommendation:
        try:
            # The answer is reasoned from the segment's users as of their current profiles.
            self.refresh_user_segments(only_if_stale=True)
            (answer,) = self.reasoner().answer([segment], request["kind"], request["locale"])
            ttl = self._ttl_for(answer)
            with self.postgres.connection() as conn:
                stored = conn.execute(load("cache/store_claimed"), request | self._entry_fields(answer, ttl) | {
                    "entry_id": entry_id, "token": token,
                }).fetchone()
        except BaseException:
            with self.postgres.connection() as conn:
                conn.execute(load("cache/release_claim"), {"entry_id": entry_id, "token": token})
            raise
        expires_at = stored[1] if stored else datetime.now(UTC) + timedelta(seconds=ttl)
        return Recommendation(
            request["user_id"], segment, request["kind"], request["locale"], "miss", answer.response,
            segment.persona, 1.0, expires_at,
        )

    def _entry_fields(self, answer: Answer, ttl_s: float) -> dict[str, Any]:
        return {
            "response": Jsonb(answer.response),
            "embedding_model": self.embedder.model_id,
            "persona_text": answer.segment.persona_text,
            "model": answer.model,
            "generated_by": answer.response["generated_by"],
            "fallback_reason": answer.fallback_reason,
            "llm_calls": answer.llm_calls,
            "input_tokens": answer.input_tokens,
            "output_tokens": answer.output_tokens,
            "cost_usd": answer.cost_usd,
            "call_tokens": answer.call_tokens,
            "call_cost_usd": answer.call_cost_usd,
            "segment_users": answer.segment_users,
            "ttl_s": ttl_s,
        }

    # -- shared by the lookup and the warm-up ------------------------------------------------------

    def refresh_user_segments(self, only_if_stale: bool = False) -> tuple[int, int]:
        """Brings user_segments up to the current profiles; returns (users updated, users gone).

        `only_if_stale` skips the work unless distillation stored profiles since the last refresh:
        a cheap look at a counter, for the request path.
        """
        with self.postgres.connection() as conn:
            if only_if_stale:
                (marker,) = conn.execute(load("cache/profiles_marker")).fetchone()
                if conn.execute(load("cache/segments_marker")).fetchone() == (marker,):
                    return 0, 0
            conn.execute(load("cache/lock_user_segments"))
            # Read before the refresh: profiles stored meanwhile move the counter past it and are picked up next time.
            (marker,) = conn.execute(load("cache/profiles_marker")).fetchone()
            conn.execute(load("cache/hash_joins_only"))
            updated = conn.execute(load("cache/refresh_user_segments")).rowcount
            departed = conn.execute(load("cache/remove_departed_segments")).rowcount
            conn.execute(load("cache/record_segments_marker"), {"marker": marker})
        return updated, departed

    def ensure_persona_vectors(self, segments: Sequence[Segment]) -> str:
        """Embeds the personas that have no vector of the configured model yet; returns the model id.

        A persona the model rejects gets no vector: its answers are served on exact hits only.
        """
        model_id = self.embedder.model_id
        texts = sorted({segment.persona_text for segment in segments if segment.persona != ANY_PERSONA})
        with self.postgres.connection() as conn:
            known = {text for (text,) in conn.execute(
                load("cache/known_persona_vectors"), {"model_id": model_id, "texts": texts}
            )}
        missing = [text for text in texts if text not in known]
        if missing:
            embedded = self.embedder.embed(missing)
            for rejection in embedded.rejections:
                dg.get_dagster_logger().warning("persona %r not embedded: %s", missing[rejection.index], rejection.reason)
            with self.postgres.connection() as conn:
                register_vector(conn)
                conn.cursor().executemany(load("cache/store_persona_vector"), [
                    {"model_id": model_id, "text": text, "embedding": vector}
                    for text, vector, ok in zip(missing, embedded.vectors, embedded.ok, strict=True) if ok
                ])
        return model_id

    def store_answers(
        self, answers: Sequence[Answer], sources: Sequence[str], kind: str, locale: str, version_hash: str
    ) -> int:
        """Stores warmed ('warm') or refreshed ('refresh') answers in one transaction; returns how many
        were stored (a segment under a live claim keeps the claimer's answer)."""
        if not answers:
            return 0
        rows = [
            {
                "kind": kind, "locale": locale, "version_hash": version_hash, "source": source,
                "persona": answer.segment.persona, "city": answer.segment.city, "segment_key": answer.segment.key,
                **self._entry_fields(answer, self._ttl_for(answer)),
            }
            for answer, source in zip(answers, sources, strict=True)
        ]
        with self.postgres.connection() as conn, conn.cursor() as cursor:
            cursor.executemany(load("cache/store_entry"), rows, returning=True)
            stored = 0
            while True:
                stored += sum(1 for (entry_id,) in cursor.fetchall() if entry_id is not None)
                if not cursor.nextset():
                    return stored

    def stats(self, hours: float = 24.0) -> CacheStats:
        since = datetime.now(UTC) - timedelta(hours=hours)
        with self.postgres.connection() as conn:
            row = conn.execute(load("cache/ledger_window"), {"since": since}).fetchone()
        return CacheStats(hours, *row)


def checked_locale(locale: str) -> str:
    if not re.fullmatch(LOCALE_PATTERN, locale):
        raise ValueError(f"locale {locale!r} is not like 'en' or 'pt-BR'")
    return locale
