"""semantic_cache: shared answers for the segments with the most active users, warmed ahead and kept fresh.

A run brings every user's segment up to their current profile, evicts expired answers, lapsed
claims and answers of a superseded definition, then generates (with the configured reasoner) the
answers of the top segments that have none valid past the refresh horizon, and regenerates answers
in demand that expire within it. Segments are generated and stored in chunks, each committed on its
own: a killed run keeps what it stored and a re-run does only what is left. The ledger's last 24
hours go into the metadata: hit rate, LLM calls avoided, tokens and cost saved.
"""

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import groupby
from typing import Any

import dagster as dg
from psycopg.rows import namedtuple_row

from assets.reasoners import Answer, Reasoner, Segment, answer_error
from resources.semantic_cache import SemanticCacheResource
from resources.sql import load

NO_EXPIRED_ANSWER_SERVABLE = "no_expired_answer_servable"
ANSWERS_MATCH_RESPONSE_SCHEMA = "answers_match_response_schema"
HIT_RATE_AT_OR_ABOVE_FLOOR = "hit_rate_at_or_above_floor"


@dataclass
class WarmReport:
    segments_updated: int = 0
    segments_departed: int = 0
    expired_evicted: int = 0
    lapsed_claims: int = 0
    invalidated: int = 0
    ledger_pruned: int = 0
    targets: int = 0
    warmed: int = 0
    refreshed: int = 0
    stored: int = 0
    llm_calls: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
    fallbacks: Counter = field(default_factory=Counter)
    segments_seconds: float = 0.0
    generate_seconds: float = 0.0
    seconds: float = 0.0

    def add(self, answers: list[Answer], sources: list[str]) -> None:
        counts = Counter(sources)
        self.warmed += counts["warm"]
        self.refreshed += counts["refresh"]
        for answer in answers:
            self.llm_calls += answer.llm_calls
            self.tokens += answer.input_tokens + answer.output_tokens
            self.cost_usd += answer.cost_usd
            if answer.fallback_reason:
                self.fallbacks[answer.fallback_reason] += 1

    def metadata(self) -> dict[str, Any]:
        return {
            "user_segments_updated": self.segments_updated,
            "user_segments_departed": self.segments_departed,
            "expired_evicted": self.expired_evicted,
            "lapsed_claims_evicted": self.lapsed_claims,
            "invalidated_evicted": self.invalidated,
            "ledger_rows_pruned": self.ledger_pruned,
            "segments_due": self.targets,
            "segments_warmed": self.warmed,
            "segments_refreshed": self.refreshed,
            "answers_stored": self.stored,
            "run_llm_calls": self.llm_calls,
            "run_tokens": self.tokens,
            "run_cost_usd": round(self.cost_usd, 6),
            "run_llm_fallbacks": dict(self.fallbacks),
            "user_segments_seconds": round(self.segments_seconds, 3),
            "generate_seconds": round(self.generate_seconds, 3),
            "segments_per_second": round((self.warmed + self.refreshed) / self.generate_seconds, 1)
            if self.generate_seconds else 0.0,
            "seconds": round(self.seconds, 3),
        }


def evict(cache: SemanticCacheResource, report: WarmReport) -> None:
    """Expired answers, lapsed claims, answers of superseded definitions and old ledger rows go."""
    versions = cache.current_versions()
    with cache.postgres.connection() as conn:
        report.expired_evicted, report.lapsed_claims = conn.execute(load("cache/evict_expired")).fetchone()
        report.invalidated = conn.execute(
            load("cache/evict_invalidated"), {"kinds": list(versions), "hashes": list(versions.values())}
        ).rowcount
        report.ledger_pruned = conn.execute(
            load("cache/prune_ledger"), {"before": datetime.now(UTC) - timedelta(days=cache.ledger_days)}
        ).rowcount


def _refresh_segments(cache: SemanticCacheResource, report: WarmReport) -> None:
    started = time.perf_counter()
    report.segments_updated, report.segments_departed = cache.refresh_user_segments()
    if report.segments_updated or report.segments_departed:
        with cache.postgres.connection() as conn:
            conn.execute(load("cache/analyze_user_segments"))
    report.segments_seconds = time.perf_counter() - started


def segment_targets(cache: SemanticCacheResource, kind: str) -> list:
    """The segments a warm-up generates for `kind`, as rows (persona, city, locale, reason), by locale."""
    now = datetime.now(UTC)
    with cache.postgres.connection() as conn:
        return conn.cursor(row_factory=namedtuple_row).execute(load("cache/segment_targets"), {
            "kind": kind, "locale": cache.locale, "version_hash": cache.version_hash(kind),
            "min_users": cache.min_segment_users, "top": cache.warm_top_segments,
            "active_since": (now - timedelta(days=cache.active_days)).date(),
            "horizon": now + timedelta(minutes=cache.refresh_within_minutes), "min_hits": cache.refresh_min_hits,
        }).fetchall()


def _warm_chunk(cache: SemanticCacheResource, reasoner: Reasoner, kind: str, locale: str, chunk: list, report: WarmReport) -> None:
    """Generates and stores one chunk of segments in its own transaction."""
    segments = [Segment(target.persona, target.city) for target in chunk]
    sources = [target.reason for target in chunk]
    started = time.perf_counter()
    cache.ensure_persona_vectors(segments)
    answers = reasoner.answer(segments, kind, locale)
    report.generate_seconds += time.perf_counter() - started
    report.stored += cache.store_answers(answers, sources, kind, locale, cache.version_hash(kind))
    report.add(answers, sources)


def warm_cache(cache: SemanticCacheResource, log: Callable[[str], None] = lambda message: None) -> WarmReport:
    """Refreshes segments, evicts, and generates what the top segments and in-demand answers need.

    Runs one at a time (a second run waits, then finds the work done); each chunk of segments
    commits on its own.
    """
    started = time.perf_counter()
    report = WarmReport()
    with cache.postgres.connection() as lock:
        lock.execute(load("cache/lock_warm"))
        _refresh_segments(cache, report)
        evict(cache, report)
        reasoner = cache.reasoner()
        for kind in cache.warm_kinds:
            targets = segment_targets(cache, kind)
            report.targets += len(targets)
            for locale, group in groupby(targets, key=lambda target: target.locale):
                rows = list(group)
                for start in range(0, len(rows), cache.warm_chunk_segments):
                    _warm_chunk(cache, reasoner, kind, locale, rows[start : start + cache.warm_chunk_segments], report)
                    log(f"{kind}/{locale}: {report.warmed} segments warmed, {report.refreshed} refreshed")
    report.seconds = time.perf_counter() - started
    return report


@dg.asset(
    deps=["user_profiles"],
    kinds={"postgres", "pgvector"},
    group_name="semantic_cache",
    description="One shared answer (ideas, why, items) per user segment with a hard 24 h TTL: the segments with "
    "the most active users warmed ahead, in-demand answers refreshed before they expire, expired ones evicted.",
)
def semantic_cache(context: dg.AssetExecutionContext, semantic_cache: SemanticCacheResource) -> dg.MaterializeResult:
    report = warm_cache(semantic_cache, log=context.log.info)
    stats = semantic_cache.stats(hours=24)
    with semantic_cache.postgres.connection() as conn:
        servable, expired, pending, segments, hits = conn.execute(load("cache/entry_counts")).fetchone()
    context.log.info(
        f"{report.warmed} segments warmed, {report.refreshed} refreshed, {report.expired_evicted} expired and "
        f"{report.invalidated} invalidated answers evicted; 24 h hit rate {stats.hit_rate:.1%} over {stats.requests:,} requests"
    )
    return dg.MaterializeResult(metadata={
        "reasoner": semantic_cache.provider,
        **report.metadata(),
        "answers_servable": servable,
        "answers_expired_stored": expired,
        "claims_in_progress": pending,
        "segments_answered": segments,
        "hits_on_stored_answers": hits,
        **stats.metadata("_24h"),
    })


# -- checks ----------------------------------------------------------------------------------------


def check_no_expired_servable(cache: SemanticCacheResource) -> dg.AssetCheckResult:
    with cache.postgres.connection() as conn:
        servable, past_ttl, examples = conn.execute(
            load("cache/servable_past_ttl"), {"ttl_s": cache.ttl_seconds}
        ).fetchone()
    return dg.AssetCheckResult(
        passed=past_ttl == 0,
        metadata={"servable_answers": servable, "servable_past_ttl": past_ttl, "ttl_hours": cache.ttl_hours,
                  "examples": ", ".join(examples)},
    )


def check_answers_validate(cache: SemanticCacheResource, chunk_rows: int = 1000) -> dg.AssetCheckResult:
    """Every stored answer matches the response schema and the scope it is stored under."""
    checked, invalid, examples = 0, 0, []
    with cache.postgres.connection() as conn, conn.cursor(name="ready_answers") as cursor:
        cursor.itersize = chunk_rows
        cursor.execute(load("cache/ready_answers"))
        for entry_id, persona, city, kind, locale, response in cursor:
            checked += 1
            error = answer_error(response)
            if error is None:
                error = _scope_error(response, persona, city, kind, locale)
            if error is not None:
                invalid += 1
                if len(examples) < 5:
                    examples.append(f"entry {entry_id} ({persona} · {city}, {kind}): {error}")
    return dg.AssetCheckResult(
        passed=invalid == 0, metadata={"answers_checked": checked, "invalid": invalid, "examples": "; ".join(examples)}
    )


def _scope_error(response: str, persona: str, city: str, kind: str, locale: str) -> str | None:
    answer = json.loads(response)
    stored = (answer["segment"]["persona"], answer["segment"]["city"], answer["kind"], answer["locale"])
    if stored != (persona, city, kind, locale):
        return f"answers for {stored}, stored under {(persona, city, kind, locale)}"
    return None


def check_hit_rate(cache: SemanticCacheResource) -> dg.AssetCheckResult:
    stats = cache.stats(hours=24)
    judged = stats.requests >= cache.hit_rate_min_requests
    return dg.AssetCheckResult(
        passed=not judged or stats.hit_rate >= cache.hit_rate_floor,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "requests_24h": stats.requests,
            "hit_rate_24h": round(stats.hit_rate, 4),
            "floor": cache.hit_rate_floor,
            "judged": judged,
            "min_requests": cache.hit_rate_min_requests,
            "misses_24h": stats.misses,
        },
    )


@dg.asset_check(
    asset=semantic_cache, name=NO_EXPIRED_ANSWER_SERVABLE, blocking=True,
    description="No answer the lookup would serve has outlived its hard TTL (a stretched expiry, or no generation "
    "of it within the TTL in the ledger).",
)
def no_expired_answer_servable(semantic_cache: SemanticCacheResource) -> dg.AssetCheckResult:
    return check_no_expired_servable(semantic_cache)


@dg.asset_check(
    asset=semantic_cache, name=ANSWERS_MATCH_RESPONSE_SCHEMA, blocking=True,
    description="Every stored answer validates against the response schema and answers the segment, kind and "
    "locale it is stored under.",
)
def answers_match_response_schema(semantic_cache: SemanticCacheResource) -> dg.AssetCheckResult:
    return check_answers_validate(semantic_cache)


@dg.asset_check(
    asset=semantic_cache, name=HIT_RATE_AT_OR_ABOVE_FLOOR,
    description="Over the last 24 hours of requests, the share answered without a generation of their own is at or "
    "above the configured floor (judged once there are enough requests).",
)
def hit_rate_at_or_above_floor(semantic_cache: SemanticCacheResource) -> dg.AssetCheckResult:
    return check_hit_rate(semantic_cache)


semantic_cache_checks = [no_expired_answer_servable, answers_match_response_schema, hit_rate_at_or_above_floor]
