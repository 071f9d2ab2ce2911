"""The guarded Gemini client, driven through the real google-genai SDK against a fake server."""

import dataclasses
import json
import math

import dagster as dg
import pydantic
import pytest

from resources.gemini import (
    DATA_IS_NOT_INSTRUCTIONS,
    USER_DATA_CLOSE,
    USER_DATA_OPEN,
    Budget,
    FallbackReason,
    GeminiResource,
    delimit_user_data,
    sanitise_model_strings,
)
from tests.fake_gemini import (
    CANARY_TOKEN,
    INJECTION_CANARY,
    client_error,
    embeddings,
    fake_vector,
    invalid_json,
    ok_json,
    ok_text,
    rate_limited,
    server_error,
    slow,
    truncated,
)

PROFILE_SCHEMA = {
    "type": "object",
    "properties": {
        "summary": {"type": "string"},
        "interests": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["summary", "interests"],
    "additionalProperties": False,
}
PROFILE = {"summary": "Plans weekend trips to Lisbon; likes jazz bars.", "interests": ["jazz", "travel"]}


def summarise(gemini: GeminiResource, **overrides):
    call = {
        "instruction": "Summarise this traveller's interests.",
        "user_data": ["looking for jazz bars in Lisbon", "weekend trip ideas?"],
        "response_schema": PROFILE_SCHEMA,
    }
    return gemini.generate_json(**(call | overrides))


def user_turn(request) -> str:
    return request.body["contents"][0]["parts"][0]["text"]


def test_success_returns_checked_json_with_usage_and_cost(fake_gemini):
    fake_gemini.script(ok_json(PROFILE, prompt_tokens=1000, output_tokens=200))
    result = summarise(fake_gemini.resource())

    assert result.ok and result.fallback_reason is None
    assert result.data == PROFILE
    assert (result.attempts, result.input_tokens, result.output_tokens) == (1, 1000, 200)
    assert result.cost_usd == pytest.approx(1000 * 0.30 / 1e6 + 200 * 2.50 / 1e6)
    assert result.model == "gemini-2.5-flash" and result.latency_s > 0
    (request,) = fake_gemini.requests
    assert request.path.endswith("/models/gemini-2.5-flash:generateContent")
    assert request.headers["x-goog-api-key"] == "test-key"
    generation = request.body["generationConfig"]
    assert generation["temperature"] == 0
    assert generation["maxOutputTokens"] == 2048
    assert generation["responseMimeType"] == "application/json"
    assert generation["responseJsonSchema"] == PROFILE_SCHEMA


def test_a_429_burst_waits_as_long_as_the_server_asks(fake_gemini):
    fake_gemini.script(
        rate_limited(retry_delay_s=0.25),
        rate_limited(retry_delay_s=None, retry_after_s=0.25),
        ok_json(PROFILE),
    )
    result = summarise(fake_gemini.resource())

    assert result.ok and result.attempts == 3
    arrivals = [r.received_at for r in fake_gemini.requests]
    gaps = [later - earlier for earlier, later in zip(arrivals, arrivals[1:])]
    assert all(gap >= 0.25 for gap in gaps), gaps  # the backoff itself is ~1 ms here


def test_an_unreadable_retry_after_falls_back_to_backoff(fake_gemini):
    unreadable = dataclasses.replace(rate_limited(retry_delay_s=None), headers={"Retry-After": "soon"})
    fake_gemini.script(unreadable, ok_json(PROFILE))
    result = summarise(fake_gemini.resource())

    assert result.ok and result.attempts == 2


def test_a_server_asking_for_a_longer_wait_than_allowed_ends_the_call(fake_gemini):
    fake_gemini.script(rate_limited(retry_delay_s=120), ok_json(PROFILE))
    result = summarise(fake_gemini.resource(max_retry_wait_s=5))

    assert result.fallback_reason == FallbackReason.RATE_LIMITED
    assert "120s" in result.detail and result.attempts == 1
    assert result.latency_s < 2


def test_rate_limits_that_never_clear_fall_back_as_rate_limited(fake_gemini):
    fake_gemini.script(*[rate_limited(retry_delay_s=0.01)] * 3)
    result = summarise(fake_gemini.resource(max_retries=2))

    assert result.fallback_reason == FallbackReason.RATE_LIMITED
    assert result.data is None and result.attempts == 3 and len(fake_gemini.requests) == 3


def test_a_timeout_is_retried_and_then_succeeds(fake_gemini):
    fake_gemini.script(slow(3.0), ok_json(PROFILE))
    result = summarise(fake_gemini.resource(timeout_s=0.3))

    assert result.ok and result.data == PROFILE and result.attempts == 2
    assert result.latency_s < 2


def test_timeouts_that_persist_fall_back_as_timeout_and_stay_charged(fake_gemini):
    gemini = fake_gemini.resource(timeout_s=0.2, max_retries=1)
    fake_gemini.script(slow(3.0), slow(3.0))
    result = summarise(gemini)

    assert result.fallback_reason == FallbackReason.TIMEOUT and result.attempts == 2
    # A timed-out request may have been billed, so its worst case stays on the budget.
    assert gemini.budget.tokens > 2 * gemini.max_output_tokens


def test_server_errors_are_retried_then_fall_back_as_server_error(fake_gemini):
    fake_gemini.script(server_error(500), server_error(503), ok_json(PROFILE))
    assert summarise(fake_gemini.resource()).attempts == 3

    fake_gemini.script(*[server_error(503)] * 5)
    result = summarise(fake_gemini.resource(max_retries=4))
    assert result.fallback_reason == FallbackReason.SERVER_ERROR
    assert result.attempts == 5 and fake_gemini.unanswered == 0
    assert "503" in result.detail


def test_a_rejected_request_is_not_retried(fake_gemini):
    fake_gemini.script(client_error(400), ok_json(PROFILE))
    result = summarise(fake_gemini.resource())

    assert result.fallback_reason == FallbackReason.REQUEST_REJECTED
    assert result.attempts == 1 and fake_gemini.unanswered == 1


def test_invalid_json_gets_exactly_one_more_try_at_the_same_prompt(fake_gemini):
    fake_gemini.script(invalid_json(), ok_json(PROFILE))
    recovered = summarise(fake_gemini.resource())
    assert recovered.ok and recovered.attempts == 2

    fake_gemini.script(invalid_json(), invalid_json(), ok_json(PROFILE))
    result = summarise(fake_gemini.resource())
    assert result.fallback_reason == FallbackReason.INVALID_JSON and result.data is None
    assert result.attempts == 2 and fake_gemini.unanswered == 1
    first, second = fake_gemini.requests[-2:]
    assert first.body == second.body
    assert result.input_tokens == 200  # both answers were billed


def test_truncated_output_falls_back_as_truncated(fake_gemini):
    fake_gemini.script(truncated(), truncated())
    result = summarise(fake_gemini.resource())

    assert result.fallback_reason == FallbackReason.TRUNCATED
    assert result.data is None and result.attempts == 2
    assert "max_output_tokens" in result.detail


def test_output_that_breaks_the_schema_is_never_returned(fake_gemini):
    wrong_type = {"summary": 5, "interests": []}
    fake_gemini.script(ok_json(wrong_type), ok_json(wrong_type))
    result = summarise(fake_gemini.resource())
    assert result.fallback_reason == FallbackReason.SCHEMA_VIOLATION and result.data is None
    assert result.detail.startswith("summary:")

    stricter = PROFILE_SCHEMA | {"properties": PROFILE_SCHEMA["properties"] | {"summary": {"maxLength": 10}}}
    fake_gemini.script(ok_json(PROFILE), ok_json(PROFILE))
    assert summarise(fake_gemini.resource(), validate=stricter).fallback_reason == FallbackReason.SCHEMA_VIOLATION

    class Profile(pydantic.BaseModel):
        summary: str
        interests: list[str] = pydantic.Field(min_length=3)

    fake_gemini.script(ok_json(PROFILE), ok_json(PROFILE))
    result = summarise(fake_gemini.resource(), validate=Profile.model_validate)
    assert result.fallback_reason == FallbackReason.SCHEMA_VIOLATION and "interests" in result.detail


def test_a_safety_stop_falls_back_as_blocked_without_a_retry(fake_gemini):
    fake_gemini.script(ok_text("", finish_reason="SAFETY"), ok_json(PROFILE))
    result = summarise(fake_gemini.resource())

    assert result.fallback_reason == FallbackReason.BLOCKED and result.attempts == 1


def test_a_spent_budget_refuses_calls_without_touching_the_server(fake_gemini):
    gemini = fake_gemini.resource(max_output_tokens=500)
    assert summarise(gemini, budget=Budget(max_tokens=400, max_cost_usd=1.0)).fallback_reason == (
        FallbackReason.BUDGET_EXHAUSTED
    )
    assert fake_gemini.requests == []

    budget = Budget(max_tokens=4_500, max_cost_usd=1.0)
    fake_gemini.script(ok_json(PROFILE, prompt_tokens=3_000, output_tokens=1_000), ok_json(PROFILE))
    assert summarise(gemini, budget=budget).ok
    assert budget.tokens == 4_000 and budget.cost_usd == pytest.approx(3_000 * 0.30e-6 + 1_000 * 2.50e-6)
    refused = summarise(gemini, budget=budget)
    assert refused.fallback_reason == FallbackReason.BUDGET_EXHAUSTED and refused.attempts == 0
    assert "4000/4500 tokens" in refused.detail
    assert len(fake_gemini.requests) == 1 and budget.tokens == 4_000

    cost_capped = Budget(max_tokens=10**9, max_cost_usd=0.0001)
    assert summarise(gemini, budget=cost_capped).fallback_reason == FallbackReason.BUDGET_EXHAUSTED


def test_without_an_api_key_every_call_falls_back_locally(fake_gemini):
    gemini = GeminiResource(base_url=fake_gemini.base_url)
    assert not gemini.enabled and not GeminiResource(api_key="  ").enabled

    assert summarise(gemini).fallback_reason == FallbackReason.NO_API_KEY
    assert gemini.embed_texts(["jazz"]).fallback_reason == FallbackReason.NO_API_KEY
    assert fake_gemini.requests == []


def test_user_text_goes_as_delimited_data_and_model_strings_are_capped(fake_gemini):
    planted = ["fine hotel\x00\x1b[31m\u202e near the\u200b sea", INJECTION_CANARY, "x" * 50_000]
    obeyed = {"summary": f"{CANARY_TOKEN}\x07 " + "y" * 10_000, "interests": ["jazz\u2066"]}
    fake_gemini.script(ok_json(obeyed))
    result = summarise(fake_gemini.resource(max_input_chars=1000, max_output_chars=300), user_data=planted)

    (request,) = fake_gemini.requests
    assert request.body["systemInstruction"]["parts"][0]["text"].endswith(DATA_IS_NOT_INSTRUCTIONS)
    sent = user_turn(request)
    assert sent.startswith(USER_DATA_OPEN + "\n") and sent.endswith("\n" + USER_DATA_CLOSE)
    assert sent.count(USER_DATA_CLOSE) == 1  # the planted closing tag cannot end the fence
    payload = json.loads(sent.removeprefix(USER_DATA_OPEN).removesuffix(USER_DATA_CLOSE))
    assert payload[0] == "fine hotel[31m near the sea"
    assert payload[1] == INJECTION_CANARY
    assert len(payload[2]) == 1000
    assert CANARY_TOKEN not in request.body["systemInstruction"]["parts"][0]["text"]

    assert result.ok
    assert len(result.data["summary"]) == 300 and "\x07" not in result.data["summary"]
    assert result.data["interests"] == ["jazz"]


def test_sanitise_model_strings_cleans_every_string_in_nested_output():
    dirty = {"a\u200bb": ["ok\x00", {"deep": "z" * 20}], "n": 3, "flag": True, "none": None}
    clean = {"ab": ["ok", {"deep": "zzzzz"}], "n": 3, "flag": True, "none": None}
    assert sanitise_model_strings(dirty, max_len=5) == clean


def test_user_data_must_be_a_list_or_a_mapping():
    with pytest.raises(TypeError, match="single string"):
        delimit_user_data("one string", max_item_chars=100)
    fenced = delimit_user_data({"messages": ["<b>hi</b>"], "city": "Porto"}, max_item_chars=100)
    assert "<b>" not in fenced and json.loads(fenced.splitlines()[1])["messages"] == ["<b>hi</b>"]


def test_embeddings_are_batched_ordered_and_normalised(fake_gemini):
    texts = [f"traveller {i} likes jazz and {i % 7} museums" for i in range(250)]
    fake_gemini.script(embeddings(), rate_limited(retry_delay_s=0.01), embeddings(), embeddings())
    result = fake_gemini.resource(embedding_batch_size=100).embed_texts(texts, output_dimensionality=768)

    assert result.ok and result.attempts == 4 and len(result.vectors) == 250
    batches = [r for r in fake_gemini.requests if r.path.endswith("/gemini-embedding-001:batchEmbedContents")]
    assert [len(r.body["requests"]) for r in batches] == [100, 100, 100, 50]
    assert batches[0].body["requests"][0]["outputDimensionality"] == 768
    for text, vector in zip(texts[::37], result.vectors[::37]):
        raw = fake_vector(text, 768)
        norm = math.sqrt(sum(v * v for v in raw))
        assert vector == pytest.approx([v / norm for v in raw])
    assert result.input_tokens == sum(math.ceil(sum(map(len, texts[i : i + 100])) / 4) for i in range(0, 250, 100))
    assert result.cost_usd == pytest.approx(result.input_tokens * 0.15 / 1e6)


@pytest.mark.parametrize(
    ("vectors", "problem"),
    [
        ([[0.1, 0.2, 0.3, 0.4], [0.1, float("nan"), 0.3, 0.4]], "vectors at [1] hold NaN or inf"),
        ([[0.0, 0.0, 0.0, 0.0], [0.1, 0.2, 0.3, 0.4]], "vectors at [0] are all zeros"),
        ([[0.1, 0.2, 0.3], [0.1, 0.2, 0.3, 0.4]], "vectors at [0] do not have 4 dimensions"),
        ([[0.1, 0.2, 0.3, 0.4]], "1 vectors for 2 texts"),
    ],
)
def test_bad_vectors_are_rejected_with_the_reason(fake_gemini, vectors, problem):
    fake_gemini.script(embeddings(vectors=vectors))
    result = fake_gemini.resource().embed_texts(["jazz", "museums"], output_dimensionality=4)

    assert result.fallback_reason == FallbackReason.INVALID_VECTOR and result.vectors == []
    assert result.detail == problem


def test_empty_texts_are_a_caller_error(fake_gemini):
    with pytest.raises(ValueError, match=r"positions \[1\]"):
        fake_gemini.resource().embed_texts(["jazz", " \x00 "])
    assert fake_gemini.resource().embed_texts([]).vectors == []
    assert fake_gemini.requests == []


def test_each_run_gets_a_fresh_budget(fake_gemini):
    @dg.asset
    def traveller_summary(gemini: GeminiResource) -> dg.MaterializeResult:
        result = summarise(gemini)
        return dg.MaterializeResult(
            metadata={"fallback_reason": str(result.fallback_reason), "budget_tokens": gemini.budget.tokens}
        )

    gemini = fake_gemini.resource(run_token_budget=6_000, max_output_tokens=1_000)
    fake_gemini.script(*[ok_json(PROFILE, prompt_tokens=4_000, output_tokens=500)] * 2)
    for _ in range(2):
        run = dg.materialize([traveller_summary], resources={"gemini": gemini})
        (materialization,) = run.asset_materializations_for_node("traveller_summary")
        assert materialization.metadata["budget_tokens"].value == 4_500
        assert materialization.metadata["fallback_reason"].value == "None"
