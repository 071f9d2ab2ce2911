"""The user profile document: its JSON Schema (the contract with the product) and its validation.

A profile is small (about 1 KB), self-contained (it holds the decayed evidence the next merge starts
from) and safe to show: every string it derives from behaviour or a model is capped and free of
markup and control characters; the user_id is the product's own key, kept as ingested. A `weight` is
decayed, event-weighted evidence (a signal counts less as it ages, a booking more than a view);
divide by a list's total for shares. `scores` sum to 1.
"""

import json
from functools import cache
from typing import Any

import fastjsonschema

from assets.ingestion import EVENT_TYPES, MAX_ID_CHARS

SCHEMA_VERSION = 1
PERSONAS = ("dreamer", "planner", "decider", "researcher", "conversationalist")
TRAVEL_STYLES = (
    "city hopper", "slow traveller", "spontaneous booker", "careful planner", "armchair traveller", "explorer",
)
DAYPARTS = ("night", "morning", "afternoon", "evening")
MAX_INTERESTS = 10
MAX_CITIES = 5
MAX_VIBES = 5
MAX_ITEMS = 10
MAX_TOP_ITEMS = 5
MAX_TAGS = 5
MAX_KEY_CHARS = 80
MAX_SUMMARY_CHARS = 400
TAG_PATTERN = r"^[a-z][a-z &'-]{0,29}$"
# No control characters and no markup in any stored string.
SAFE_TEXT_PATTERN = r"^[^\x00-\x1f\x7f<>]*$"

_share = {"type": "number", "minimum": 0, "maximum": 1}
_evidence = {"type": "number", "minimum": 0}
_key = {"type": "string", "minLength": 1, "maxLength": MAX_KEY_CHARS, "pattern": SAFE_TEXT_PATTERN}


def _weighted_list(key: str, max_items: int, description: str) -> dict:
    return {
        "type": "array",
        "maxItems": max_items,
        "description": description,
        "items": {
            "type": "object",
            "additionalProperties": False,
            "required": [key, "weight"],
            "properties": {key: _key, "weight": _evidence},
        },
    }


PROFILE_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Distillery user profile",
    "type": "object",
    "additionalProperties": False,
    "required": [
        "schema", "user_id", "version", "updated_at", "evidence_day", "signals_distilled", "distiller",
        "persona", "vibe", "interests", "cities", "travel_style", "activity", "engagement",
        "saved_items", "booked_items", "tags", "summary",
    ],
    "properties": {
        "schema": {"const": SCHEMA_VERSION, "description": "Version of this document's schema."},
        "user_id": {
            "type": "string", "minLength": 1, "maxLength": MAX_ID_CHARS,
            "description": "The product's own id, exactly as ingested: escape it where it is shown.",
        },
        "version": {"type": "integer", "minimum": 1, "description": "Grows by one with every stored change."},
        "updated_at": {"type": "string", "format": "date-time", "pattern": r"^\d{4}-\d\d-\d\dT"},
        "evidence_day": {
            "type": "string", "pattern": r"^\d{4}-\d\d-\d\d$",
            "description": "Newest receive day merged; all evidence is decayed to this day.",
        },
        "signals_distilled": {"type": "integer", "minimum": 0, "description": "Signals ever merged (not decayed)."},
        "distiller": {"enum": ["local", "gemini"], "description": "Who wrote the labels and the summary."},
        "persona": {
            "type": "object",
            "additionalProperties": False,
            "required": ["label", "scores"],
            "description": "Behaviour type, from the mix of event types.",
            "properties": {
                "label": {"enum": list(PERSONAS)},
                "scores": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": list(PERSONAS),
                    "properties": {persona: _share for persona in PERSONAS},
                },
            },
        },
        "vibe": {
            "type": "object",
            "additionalProperties": False,
            "required": ["label", "scores"],
            "description": "The vibes the user's signals carry (props.vibe), strongest first.",
            "properties": {
                "label": {"anyOf": [_key, {"type": "null"}]},
                "scores": _weighted_list("vibe", MAX_VIBES, "Vibes with their weight."),
            },
        },
        "interests": _weighted_list(
            "topic", MAX_INTERESTS,
            "Item categories (props.category, else the item_id prefix) weighted book > save > click > view.",
        ),
        "cities": _weighted_list("city", MAX_CITIES, "Cities the user engages with, weighted like interests."),
        "items": _weighted_list(
            "item", MAX_TOP_ITEMS,
            "The items (props.item_id) the user acted on most (click, dwell, save, book; seeing one in a list "
            "does not count), weighted like interests; absent from profiles written before items were kept.",
        ),
        "travel_style": {"enum": list(TRAVEL_STYLES)},
        "activity": {
            "type": "object",
            "additionalProperties": False,
            "required": ["hours", "peak_hour", "daypart", "sessions", "dwell_seconds"],
            "properties": {
                "hours": {
                    "type": "array", "minItems": 24, "maxItems": 24, "items": _evidence,
                    "description": "Decayed signal counts per UTC hour of the day.",
                },
                "peak_hour": {"anyOf": [{"type": "integer", "minimum": 0, "maximum": 23}, {"type": "null"}]},
                "daypart": {"anyOf": [{"enum": list(DAYPARTS)}, {"type": "null"}]},
                "sessions": _evidence,
                "dwell_seconds": _evidence,
            },
        },
        "engagement": {
            "type": "object",
            "additionalProperties": False,
            "required": list(EVENT_TYPES),
            "description": "Decayed signal counts per event type.",
            "properties": {event_type: _evidence for event_type in EVENT_TYPES},
        },
        "saved_items": {"type": "array", "maxItems": MAX_ITEMS, "items": _key, "description": "Most recent first."},
        "booked_items": {"type": "array", "maxItems": MAX_ITEMS, "items": _key, "description": "Most recent first."},
        "tags": {
            "type": "array", "maxItems": MAX_TAGS,
            "items": {"type": "string", "pattern": TAG_PATTERN},
            "description": "Short lowercase themes an LLM read from the user's own words; empty from the local distiller.",
        },
        "summary": {
            "type": "string", "minLength": 1, "maxLength": MAX_SUMMARY_CHARS, "pattern": SAFE_TEXT_PATTERN,
        },
    },
}


class ProfileValidationError(ValueError):
    """A profile document that does not match PROFILE_SCHEMA; it is never stored."""


@cache
def _compiled():
    return fastjsonschema.compile(PROFILE_SCHEMA)


def validate_profile(profile: dict | str) -> dict:
    """The profile as a dict if it matches the schema; raises ProfileValidationError otherwise."""
    document = json.loads(profile) if isinstance(profile, str) else profile
    try:
        _compiled()(document)
    except fastjsonschema.JsonSchemaValueException as error:
        raise ProfileValidationError(error.message) from error
    return document


def profile_error(profile: dict | str) -> str | None:
    """Why a stored document is not a valid profile, or None."""
    try:
        validate_profile(profile)
    except (ProfileValidationError, json.JSONDecodeError) as error:
        return str(error)
    return None
