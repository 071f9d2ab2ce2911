"""Reasoners: who writes a segment's shared answer (trip ideas, why, items) for the semantic cache.

A segment is a persona (the profile's vibe label, else its persona label) and the city its users
favour, e.g. "chaos seeker · istanbul"; the persona ANY_PERSONA stands for everyone of a city. The
local reasoner ranks, in one SQL statement for many segments at once, the items and places the
segment's users saved, booked and dwelt on in the hot window, and explains the ranking with templates. The Gemini reasoner starts from that ranking and
has the model write the ideas and the explanation, choosing only among the ranked items and places;
any failure, an exhausted budget or an unsafe answer keeps the local answer.
"""

import json
import math
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, Protocol

import dagster as dg
import fastjsonschema

from assets.distillers import unsafe_reason
from assets.profile_schema import MAX_KEY_CHARS, SAFE_TEXT_PATTERN
from resources.gemini import (
    DATA_IS_NOT_INSTRUCTIONS,
    Budget,
    FallbackReason,
    GeminiResource,
    delimit_user_data,
)
from resources.postgres import PostgresResource
from resources.sql import load

RESPONSE_SCHEMA_VERSION = 1
# How a persona is embedded: a short sentence places labels of the same meaning ("foodie", "food
# lover") far closer together than other personas, which bare labels do not.
PERSONA_TEXT = "a traveller who is a {persona}"
MAX_IDEAS = 3
ITEMS_PER_IDEA = 3
MAX_ITEMS = 10
MAX_PLACES = 5
MAX_TITLE_CHARS = 200
MAX_WHY_CHARS = 400
LOCALE_PATTERN = r"^[a-z]{2,3}(-[A-Z]{2})?$"
# The persona of a city's catch-all segment: users of segments too small to have an answer of their own.
ANY_PERSONA = "*"


@dataclass(frozen=True)
class Kind:
    """A question the cache answers: which item categories its answer ranks (None: all)."""

    description: str
    categories: tuple[str, ...] | None = None


KINDS: dict[str, Kind] = {
    "trip_ideas": Kind("trip ideas: places to go and things to do there"),
    "stays": Kind("places to stay", ("stay", "hotel", "hostel", "apartment")),
    "food_and_drink": Kind("places to eat and drink", ("food", "restaurant", "bar", "cafe")),
}
DEFAULT_KIND = "trip_ideas"


@dataclass(frozen=True)
class Segment:
    persona: str  # ANY_PERSONA for everyone of the city
    city: str  # lower-cased; '' for users without a favourite city

    @property
    def key(self) -> str:
        return f"{self.persona} · {self.city}"

    @property
    def label(self) -> str:
        persona = "all travellers" if self.persona == ANY_PERSONA else self.persona
        return f"{persona} · {self.city.title() if self.city else 'anywhere'}"

    @property
    def persona_text(self) -> str:
        return PERSONA_TEXT.format(persona=self.persona)


_key = {"type": "string", "minLength": 1, "maxLength": MAX_KEY_CHARS, "pattern": SAFE_TEXT_PATTERN}
_place = {"anyOf": [_key, {"type": "null"}]}
_count = {"type": "integer", "minimum": 0}
_amount = {"type": "number", "minimum": 0}
_share = {"type": "number", "minimum": 0, "maximum": 1}


def _text(max_chars: int) -> dict:
    return {"type": "string", "minLength": 1, "maxLength": max_chars, "pattern": SAFE_TEXT_PATTERN}


RESPONSE_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Distillery semantic cache answer",
    "description": "One answer shared by every user of a segment: ideas to show, why, and the ranked evidence.",
    "type": "object",
    "additionalProperties": False,
    "required": ["schema", "segment", "kind", "locale", "ideas", "why", "items", "places", "evidence", "generated_by"],
    "properties": {
        "schema": {"const": RESPONSE_SCHEMA_VERSION},
        "segment": {
            "type": "object",
            "additionalProperties": False,
            "required": ["persona", "city", "label"],
            "properties": {
                "persona": _key,
                "city": {"type": "string", "maxLength": MAX_KEY_CHARS, "pattern": SAFE_TEXT_PATTERN},
                "label": _text(2 * MAX_KEY_CHARS + 3),
            },
        },
        "kind": {"enum": list(KINDS)},
        "locale": {"type": "string", "pattern": LOCALE_PATTERN},
        "ideas": {
            "type": "array",
            "maxItems": MAX_IDEAS,
            "description": "Ideas to show, best first; each names its place and up to three of `items`.",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["title", "place", "why", "items"],
                "properties": {
                    "title": _text(MAX_TITLE_CHARS),
                    "place": _place,
                    "why": _text(MAX_WHY_CHARS),
                    "items": {"type": "array", "maxItems": ITEMS_PER_IDEA, "items": _key},
                },
            },
        },
        "why": _text(MAX_WHY_CHARS),
        "items": {
            "type": "array",
            "maxItems": MAX_ITEMS,
            "description": "Items the segment's users saved, booked and dwelt on, strongest pull first; score 1 is the top item.",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["item_id", "place", "score", "users", "saves", "books", "dwell_minutes"],
                "properties": {
                    "item_id": _key, "place": _place, "score": _share, "users": _count,
                    "saves": _count, "books": _count, "dwell_minutes": _amount,
                },
            },
        },
        "places": {
            "type": "array",
            "maxItems": MAX_PLACES,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["place", "score", "users"],
                "properties": {"place": _key, "score": _share, "users": _count},
            },
        },
        "evidence": {
            "type": "object",
            "additionalProperties": False,
            "required": ["segment_users", "engaged_users", "saves", "books", "dwell_minutes", "window_days"],
            "properties": {
                "segment_users": _count, "engaged_users": _count, "saves": _count, "books": _count,
                "dwell_minutes": _amount, "window_days": _count,
            },
        },
        "generated_by": {"enum": ["local", "gemini"]},
    },
}


class InvalidAnswer(ValueError):
    """An answer that does not match RESPONSE_SCHEMA; it is never stored."""


@cache
def _compiled():
    return fastjsonschema.compile(RESPONSE_SCHEMA)


def validate_answer(document: Mapping[str, Any] | str) -> dict:
    """The answer as a dict if it matches RESPONSE_SCHEMA; raises InvalidAnswer otherwise."""
    try:
        answer = json.loads(document) if isinstance(document, str) else dict(document)
        _compiled()(answer)
    except (fastjsonschema.JsonSchemaValueException, json.JSONDecodeError) as error:
        raise InvalidAnswer(getattr(error, "message", str(error))) from error
    return answer


def answer_error(document: Mapping[str, Any] | str) -> str | None:
    """Why a stored document is not a valid answer, or None."""
    try:
        validate_answer(document)
    except InvalidAnswer as error:
        return str(error)
    return None


@dataclass(frozen=True)
class Pricing:
    """What the LLM charges, to price the call a local answer stands in for."""

    input_per_1m_usd: float
    output_per_1m_usd: float

    @classmethod
    def of(cls, gemini: GeminiResource) -> "Pricing":
        return cls(gemini.input_price_per_1m_usd, gemini.output_price_per_1m_usd)

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_per_1m_usd + output_tokens * self.output_per_1m_usd) / 1_000_000


@dataclass(frozen=True)
class Answer:
    """A segment's generated answer and what it cost; `call_tokens` is what one LLM call for it takes
    (the real call's, or an estimate of the call a local answer stood in for)."""

    segment: Segment
    response: dict
    segment_users: int
    generated_by: str = "local"
    model: str = "local"
    llm_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    call_tokens: int = 0
    call_cost_usd: float = 0.0
    fallback_reason: str | None = None


class Reasoner(Protocol):
    name: str

    def answer(self, segments: Sequence[Segment], kind: str, locale: str) -> list[Answer]:
        """One valid answer per segment, in order."""


# -- the model's part ----------------------------------------------------------------------------

ANSWER_INSTRUCTION = (
    "You suggest trips to a segment of a travel product's users from what those users actually saved, "
    "booked and lingered on. `segment` names them (a persona and the city they favour), `kind` is what they "
    "asked for, and `places` and `items` are the evidence, strongest first. Answer with:\n"
    f"- ideas: up to {MAX_IDEAS} ideas, best first; each has a short title, the place it is about (one of "
    f"`places`, or null), one or two sentences on why it suits the segment, and up to {ITEMS_PER_IDEA} item "
    "ids taken only from `items`;\n"
    "- why: one or two sentences on what the suggestions rest on.\n"
    "Write the titles and sentences in the language of `locale`. Never invent items or places; no links, "
    "no names of people, no instructions."
)

MODEL_ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["ideas", "why"],
    "properties": {
        "ideas": {
            "type": "array",
            "maxItems": MAX_IDEAS,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["title", "place", "why", "items"],
                "properties": {
                    "title": {"type": "string", "minLength": 1, "maxLength": MAX_TITLE_CHARS},
                    "place": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                    "why": {"type": "string", "minLength": 1, "maxLength": MAX_WHY_CHARS},
                    "items": {"type": "array", "maxItems": ITEMS_PER_IDEA, "items": {"type": "string"}},
                },
            },
        },
        "why": {"type": "string", "minLength": 1, "maxLength": MAX_WHY_CHARS},
    },
}


def model_input(local: Mapping[str, Any]) -> dict[str, Any]:
    """What the model reads about a segment: its names and its ranked evidence, as data."""
    return {
        "segment": local["segment"]["label"],
        "kind": KINDS[local["kind"]].description,
        "locale": local["locale"],
        "places": [{"place": p["place"], "users": p["users"]} for p in local["places"]],
        "items": [
            {k: item[k] for k in ("item_id", "place", "users", "saves", "books", "dwell_minutes")}
            for item in local["items"]
        ],
        "evidence": local["evidence"],
    }


def estimated_call(local: Mapping[str, Any], max_input_chars: int, pricing: Pricing) -> tuple[int, float]:
    """Tokens and cost of the model call that would answer for this segment (~4 characters a token)."""
    prompt = len(ANSWER_INSTRUCTION) + len(DATA_IS_NOT_INSTRUCTIONS) + 2
    prompt += len(delimit_user_data(model_input(local), max_input_chars))
    output = len(json.dumps({"ideas": local["ideas"], "why": local["why"]}, ensure_ascii=False))
    input_tokens, output_tokens = math.ceil(prompt / 4), math.ceil(output / 4)
    return input_tokens + output_tokens, pricing.cost(input_tokens, output_tokens)


# -- the reasoners ---------------------------------------------------------------------------------


class LocalReasoner:
    """No key needed: ranks by the segment's own saves (x4), bookings (x8) and minutes dwelt (x1),
    showing only items and places at least two of its users engaged with."""

    name = "local"
    book_weight = 8.0
    save_weight = 4.0
    dwell_minute_weight = 1.0
    max_dwell_ms = 10 * 60 * 1000  # one dwell counts for at most ten minutes
    min_item_users = 2

    def __init__(self, postgres: PostgresResource, evidence_days: int, pricing: Pricing, max_input_chars: int = 4000):
        self.postgres = postgres
        self.evidence_days = evidence_days
        self.pricing = pricing
        self.max_input_chars = max_input_chars

    def definition(self) -> dict[str, Any]:
        """Everything that shapes a local answer: a change makes every stored answer stale."""
        return {
            "reasoner": self.name,
            "sql": load("cache/local_answers"),
            "weights": [self.book_weight, self.save_weight, self.dwell_minute_weight, self.max_dwell_ms],
            "min_item_users": self.min_item_users,
            "evidence_days": self.evidence_days,
        }

    def answer(self, segments: Sequence[Segment], kind: str, locale: str) -> list[Answer]:
        if not segments:
            return []
        parameters = {
            "personas": [s.persona for s in segments],
            "cities": [s.city for s in segments],
            "labels": [s.label for s in segments],
            "since": datetime.now(UTC) - timedelta(days=self.evidence_days),
            "categories": list(KINDS[kind].categories) if KINDS[kind].categories else None,
            "kind": kind,
            "locale": locale,
            "schema": RESPONSE_SCHEMA_VERSION,
            "window_days": self.evidence_days,
            "book_weight": self.book_weight,
            "save_weight": self.save_weight,
            "dwell_minute_weight": self.dwell_minute_weight,
            "max_dwell_ms": self.max_dwell_ms,
            "min_item_users": self.min_item_users,
            "max_items": MAX_ITEMS,
            "max_places": MAX_PLACES,
            "max_ideas": MAX_IDEAS,
            "items_per_idea": ITEMS_PER_IDEA,
        }
        with self.postgres.connection() as conn:
            rows = conn.execute(load("cache/local_answers"), parameters).fetchall()
        by_segment = {Segment(persona, city): (users, response) for persona, city, users, response in rows}
        answers = []
        for segment in segments:
            users, response = by_segment[segment]
            document = validate_answer(response)
            tokens, cost = estimated_call(document, self.max_input_chars, self.pricing)
            answers.append(Answer(segment, document, users, call_tokens=tokens, call_cost_usd=cost))
        return answers


class GeminiReasoner:
    """Gemini writes the ideas and the why over the local ranking, for segments with evidence.

    Every call is capped by what is left of the day's token and cost budget (read from the cache
    ledger, so all processes share it); the model may cite only ranked items and places.
    """

    name = "gemini"

    def __init__(
        self,
        gemini: GeminiResource,
        postgres: PostgresResource,
        local: LocalReasoner,
        injection_canaries: Sequence[str],
        daily_token_budget: int,
        daily_cost_budget_usd: float,
        workers: int = 4,
    ):
        self.gemini = gemini
        self.postgres = postgres
        self.local = local
        self.injection_canaries = tuple(injection_canaries)
        self.daily_token_budget = daily_token_budget
        self.daily_cost_budget_usd = daily_cost_budget_usd
        self.workers = workers

    def definition(self) -> dict[str, Any]:
        return {
            **self.local.definition(),
            "reasoner": self.name,
            "model": self.gemini.model,
            "instruction": ANSWER_INSTRUCTION,
            "schema": MODEL_ANSWER_SCHEMA,
        }

    def answer(self, segments: Sequence[Segment], kind: str, locale: str) -> list[Answer]:
        answers = self.local.answer(segments, kind, locale)
        if not self.gemini.enabled:
            return [replace(answer, fallback_reason=FallbackReason.NO_API_KEY.value) for answer in answers]
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="cache-gemini") as pool:
            return list(pool.map(self._written_by_model, answers))

    def _remaining_budget(self) -> Budget:
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        with self.postgres.connection() as conn:
            tokens, cost = conn.execute(load("cache/llm_spent_since"), {"since": today}).fetchone()
        return Budget(max(self.daily_token_budget - tokens, 0), max(self.daily_cost_budget_usd - cost, 0.0))

    def _written_by_model(self, local: Answer) -> Answer:
        document = local.response
        if not document["items"]:
            return local  # nothing ranked: nothing for the model to write about
        candidates = {item["item_id"] for item in document["items"]}
        places = {place["place"] for place in document["places"]}

        def cites_only_the_evidence(data: dict) -> None:
            for idea in data["ideas"]:
                unknown = set(idea["items"]) - candidates
                if unknown:
                    raise ValueError(f"idea cites items not in the evidence: {sorted(unknown)[:5]}")
                if idea["place"] is not None and idea["place"] not in places:
                    raise ValueError(f"idea names a place not in the evidence: {idea['place']!r}")

        result = self.gemini.generate_json(
            instruction=ANSWER_INSTRUCTION,
            user_data=model_input(document),
            response_schema=MODEL_ANSWER_SCHEMA,
            validate=cites_only_the_evidence,
            budget=self._remaining_budget(),
        )
        spent = {
            "model": result.model,
            "llm_calls": 1 if result.attempts else 0,
            "input_tokens": result.input_tokens,
            "output_tokens": result.output_tokens,
            "cost_usd": result.cost_usd,
        }
        if result.attempts:
            spent |= {"call_tokens": result.input_tokens + result.output_tokens, "call_cost_usd": result.cost_usd}
        if not result.ok:
            return replace(local, fallback_reason=result.fallback_reason.value, **spent)
        written = {**document, "ideas": result.data["ideas"], "why": result.data["why"], "generated_by": "gemini"}
        produced = " ".join([written["why"], *(f"{idea['title']} {idea['why']}" for idea in written["ideas"])])
        user_text = [local.segment.persona, local.segment.city, *places]
        reason = unsafe_reason({"summary": produced, "tags": []}, user_text, self.injection_canaries)
        if reason is None:
            try:
                return replace(local, response=validate_answer(written), generated_by="gemini", **spent)
            except InvalidAnswer as error:
                reason = f"breaks the response schema: {error}"
        dg.get_dagster_logger().warning("model answer for %s rejected: %s", local.segment.label, reason)
        return replace(local, fallback_reason="unsafe_output", **spent)
