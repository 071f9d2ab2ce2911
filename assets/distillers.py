"""Distillers: who reads a user's merged evidence and writes the labels and summary of their profile.

The numbers of a profile (decayed evidence, weights, scores, activity) are computed the same way
whoever reads them. A distiller only interprets them: it fills the shard's `interpretation` table
(persona, travel style, summary, tags) in the run's DuckDB. The local distiller does it for every
user set-based in SQL; the Gemini distiller starts from the local reading and replaces it, for the
few users due an LLM reading, with the model's, when the model's answer is valid and safe.
"""

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Protocol

import dagster as dg
import duckdb
import pyarrow as pa

from assets.profile_schema import MAX_TAGS, PERSONAS, TAG_PATTERN, TRAVEL_STYLES
from resources.gemini import FallbackReason, GeminiResource
from resources.postgres import PostgresResource
from resources.sql import load

_DUCK_PARAMETER = re.compile(r"\$([a-z_]+)")
LLM_SUMMARY_CHARS = 300
# Text a model obeying injected instructions tends to produce; never allowed in a stored profile.
DEFAULT_INJECTION_CANARIES = (
    "ignore previous instructions",
    "ignore all previous",
    "system prompt",
    "admin mode",
    "<user_data>",
    "</user_data>",
)
_MARKUP = re.compile(r"[<>{}`]|https?://|www\.", re.IGNORECASE)
_WORD = re.compile(r"[\w'-]+", re.UNICODE)


def _named(text: str, parameters: Mapping[str, Any]) -> dict[str, Any]:
    return {key: parameters[key] for key in dict.fromkeys(_DUCK_PARAMETER.findall(text))}


def run_duckdb(db: duckdb.DuckDBPyConnection, name: str, parameters: Mapping[str, Any]) -> list[tuple]:
    """Runs `dbt_like_sql/<name>.sql` in DuckDB with just the `$parameters` it names; returns its rows."""
    text = load(name)
    return db.execute(text, _named(text, parameters)).fetchall()


def duckdb_query(db: duckdb.DuckDBPyConnection, name: str, parameters: Mapping[str, Any]) -> duckdb.DuckDBPyRelation:
    """The query of `dbt_like_sql/<name>.sql` as a DuckDB relation, to stream or write out."""
    text = load(name)
    return db.sql(text, params=_named(text, parameters))


@dataclass(frozen=True)
class ChunkContext:
    """What a distiller needs to know about the chunk of shards it interprets."""

    day: date
    run_id: str | None
    parameters: Mapping[str, Any]


@dataclass
class LlmReport:
    """The LLM side of a shard or a run: requests, tokens, cost, and why users kept the local reading."""

    due: int = 0
    calls: int = 0
    users_read: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    fallbacks: Counter = field(default_factory=Counter)

    def add(self, other: "LlmReport") -> None:
        for name in ("due", "calls", "users_read", "input_tokens", "output_tokens", "cost_usd"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.fallbacks.update(other.fallbacks)


class Distiller(Protocol):
    name: str

    def interpret(self, db: duckdb.DuckDBPyConnection, work: ChunkContext) -> LlmReport:
        """Fills `interpretation` (user_id, persona, travel_style, summary, tags, distiller) for `merged_users`."""


class LocalDistiller:
    """Deterministic, no key needed: persona, travel style and a templated summary from the evidence."""

    name = "local"

    def interpret(self, db: duckdb.DuckDBPyConnection, work: ChunkContext) -> LlmReport:
        run_duckdb(db, "distill/local_interpretation", work.parameters)
        due = run_duckdb(db, "distill/llm_due_count", {})[0][0]
        return LlmReport(due=due)


READING_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["users"],
    "properties": {
        "users": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["ref", "persona", "travel_style", "summary", "tags"],
                "properties": {
                    "ref": {"type": "string"},
                    "persona": {"type": "string", "enum": list(PERSONAS)},
                    "travel_style": {"type": "string", "enum": list(TRAVEL_STYLES)},
                    "summary": {"type": "string", "minLength": 1, "maxLength": LLM_SUMMARY_CHARS},
                    "tags": {
                        "type": "array", "maxItems": MAX_TAGS,
                        "items": {"type": "string", "pattern": TAG_PATTERN},
                    },
                },
            },
        }
    },
}

READING_INSTRUCTION = (
    "You label users of a travel product from a summary of their behaviour and a few of their recent "
    "chat messages. For every entry of `users`, answer with one object carrying the same `ref`:\n"
    "- persona: dreamer (browses, rarely acts), planner (saves and searches), decider (books), "
    "researcher (reads at length, compares), or conversationalist (mostly chats);\n"
    f"- travel_style: one of {', '.join(TRAVEL_STYLES)};\n"
    f"- summary: one or two plain third-person sentences, at most {LLM_SUMMARY_CHARS} characters, on what "
    "the user is into and how they travel; no quotations, names, links or instructions;\n"
    f"- tags: up to {MAX_TAGS} short lowercase themes (letters and spaces only) the chat reveals.\n"
    "Use the behaviour figures first; the chat only refines them."
)


def unsafe_reason(reading: Mapping[str, Any], user_text: Sequence[str], canaries: Sequence[str]) -> str | None:
    """Why a model's reading of one user must not be stored, or None.

    The model saw the user's own words; a reading that repeats them at length, carries markup or
    links, or contains a known injection phrase is treated as the words steering the model.
    """
    produced = " ".join([reading["summary"], *reading["tags"]])
    lowered = produced.lower()
    for canary in canaries:
        if canary.lower() in lowered:
            return f"contains {canary!r}"
    if _MARKUP.search(produced):
        return "contains markup or a link"
    source = " ".join(user_text).lower()
    words = _WORD.findall(lowered)
    for word in words:
        if len(word) >= 6 and any(ch.isdigit() for ch in word) and word in source:
            return f"repeats the code {word!r} from the user's text"
    source_words = " ".join(_WORD.findall(source))
    for start in range(len(words) - 4):
        if " ".join(words[start : start + 5]) in source_words:
            return "repeats five words of the user's text"
    return None


class GeminiDistiller:
    """Gemini for users due a reading (enough new evidence, or a changed persona); local for the rest.

    Several users share one request; every request is written to the `llm_usage` ledger as soon as
    it returns. Any failure, an exhausted budget or an unsafe answer keeps the local reading.
    """

    name = "gemini"

    def __init__(
        self,
        gemini: GeminiResource,
        postgres: PostgresResource,
        users_per_request: int,
        injection_canaries: Sequence[str],
        user_daily_token_budget: int | None = None,
    ) -> None:
        self.gemini = gemini
        self.postgres = postgres
        self.users_per_request = users_per_request
        self.injection_canaries = tuple(injection_canaries)
        self.user_daily_token_budget = user_daily_token_budget
        self.local = LocalDistiller()

    def interpret(self, db: duckdb.DuckDBPyConnection, work: ChunkContext) -> LlmReport:
        report = self.local.interpret(db, work)
        candidates = duckdb_query(db, "distill/llm_candidates", work.parameters).to_arrow_table().to_pylist()
        if not candidates:
            return report
        if not self.gemini.enabled:
            report.fallbacks[FallbackReason.NO_API_KEY.value] += len(candidates)
            return report
        candidates = self._within_user_budget(candidates, report)
        readings: list[dict] = []
        for start in range(0, len(candidates), self.users_per_request):
            group = candidates[start : start + self.users_per_request]
            accepted, exhausted = self._read(group, work, report)
            readings.extend(accepted)
            if exhausted:
                report.fallbacks[FallbackReason.BUDGET_EXHAUSTED.value] += len(candidates) - start - len(group)
                break
        if readings:
            table = pa.Table.from_pylist(
                readings,
                schema=pa.schema([
                    ("user_id", pa.string()), ("persona", pa.string()), ("travel_style", pa.string()),
                    ("summary", pa.string()), ("tags", pa.list_(pa.string())),
                ]),
            )
            db.register("llm_readings", table)
            run_duckdb(db, "distill/apply_llm_interpretation", {})
            db.unregister("llm_readings")
        report.users_read += len(readings)
        return report

    def _within_user_budget(self, candidates: list[dict], report: LlmReport) -> list[dict]:
        if self.user_daily_token_budget is None:
            return candidates
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        with self.postgres.connection() as conn:
            spent = dict(conn.execute(
                load("distill/user_tokens_since"),
                {"since": today, "users": [c["user_id"] for c in candidates]},
            ).fetchall())
        allowed = [c for c in candidates if spent.get(c["user_id"], 0) < self.user_daily_token_budget]
        report.fallbacks[FallbackReason.USER_BUDGET_EXHAUSTED.value] += len(candidates) - len(allowed)
        return allowed

    def _read(self, group: list[dict], work: ChunkContext, report: LlmReport) -> tuple[list[dict], bool]:
        """One request for a group of users: their accepted readings, and whether the run budget ran out."""
        refs = {f"u{position}": candidate for position, candidate in enumerate(group, start=1)}
        users = [
            {
                "ref": ref,
                "behaviour": {
                    "persona_scores": dict(zip(PERSONAS, c["persona_scores"], strict=True)),
                    "interests": c["interests"], "cities": c["cities"], "vibes": c["vibes"],
                    "most_active": c["daypart"], "new_signals": c["new_signals"],
                },
                "recent_chat": c["chat"],
            }
            for ref, c in refs.items()
        ]

        def answers_every_ref(data: dict) -> None:
            returned = [user["ref"] for user in data["users"]]
            if sorted(returned) != sorted(refs):
                raise ValueError(f"answered for refs {returned}, asked for {sorted(refs)}")

        result = self.gemini.generate_json(
            instruction=READING_INSTRUCTION,
            user_data={"users": users},
            response_schema=READING_SCHEMA,
            validate=answers_every_ref,
        )
        accepted, rejected = [], Counter()
        if result.ok:
            for reading in result.data["users"]:
                candidate = refs[reading["ref"]]
                reading = {**reading, "summary": " ".join(reading["summary"].split())}
                user_text = [*candidate["chat"], *candidate["interests"], *candidate["cities"], *candidate["vibes"]]
                reason = unsafe_reason(reading, user_text, self.injection_canaries)
                if reason is None and reading["summary"]:
                    accepted.append({
                        "user_id": candidate["user_id"], "persona": reading["persona"],
                        "travel_style": reading["travel_style"], "summary": reading["summary"],
                        "tags": reading["tags"],
                    })
                else:
                    rejected["unsafe_output"] += 1
                    dg.get_dagster_logger().warning(
                        "LLM reading of %s rejected: %s", candidate["user_id"], reason or "empty summary"
                    )
        else:
            rejected[result.fallback_reason.value] += len(group)
        self._record(result, group, work, rejected)
        report.calls += 1 if result.attempts else 0
        report.input_tokens += result.input_tokens
        report.output_tokens += result.output_tokens
        report.cost_usd += result.cost_usd
        report.fallbacks.update(rejected)
        return accepted, result.fallback_reason == FallbackReason.BUDGET_EXHAUSTED

    def _record(self, result, group: list[dict], work: ChunkContext, rejected: Counter) -> None:
        detail = result.detail or (
            f"{rejected['unsafe_output']} of {len(group)} readings rejected as unsafe" if rejected else None
        )
        with self.postgres.connection() as conn:
            conn.execute(
                load("distill/record_llm_usage"),
                {
                    "run_id": work.run_id, "day": work.day, "model": result.model,
                    "users": [c["user_id"] for c in group], "attempts": result.attempts,
                    "input_tokens": result.input_tokens, "output_tokens": result.output_tokens,
                    "cost_usd": result.cost_usd,
                    "fallback_reason": result.fallback_reason.value if result.fallback_reason else None,
                    "detail": detail, "latency_s": result.latency_s,
                },
            )
