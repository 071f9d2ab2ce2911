"""The semantic_cache asset in Dagster with its checks, its job, schedule and sensor, and its commands."""

import argparse
import contextlib
import json
from datetime import UTC, datetime
from types import SimpleNamespace

import dagster as dg

from assets.semantic_cache import semantic_cache, semantic_cache_checks
from orchestration import cache_cli
from orchestration.cache_automation import (
    semantic_cache_hourly_schedule,
    semantic_cache_job,
    semantic_cache_warm_sensor,
)
from tests.test_distill import ingest, make_distiller, signal
from tests.test_semantic_cache import DAY, make_cache, populate


def test_materializing_the_asset_warms_the_cache_and_runs_its_checks(postgres):
    populate(postgres)
    result = dg.materialize(
        [semantic_cache, *semantic_cache_checks], resources={"semantic_cache": make_cache(postgres)}
    )
    assert result.success
    metadata = result.asset_materializations_for_node("semantic_cache")[0].metadata
    assert metadata["segments_warmed"].value == 5 and metadata["answers_servable"].value == 5
    assert metadata["user_segments_updated"].value == 13 and metadata["requests_24h"].value == 0
    assert {e.check_name: e.passed for e in result.get_asset_check_evaluations()} == {
        "no_expired_answer_servable": True, "answers_match_response_schema": True, "hit_rate_at_or_above_floor": True,
    }


def test_definitions_hold_the_cache_pieces(postgres):
    defs = dg.Definitions(
        assets=[semantic_cache],
        asset_checks=semantic_cache_checks,
        jobs=[semantic_cache_job],
        schedules=[semantic_cache_hourly_schedule],
        sensors=[semantic_cache_warm_sensor],
        resources={"semantic_cache": make_cache(postgres), "postgres": postgres},
    )
    dg.Definitions.validate_loadable(defs)
    assert defs.resolve_job_def("semantic_cache_job").name == "semantic_cache_job"
    assert defs.resolve_schedule_def("semantic_cache_hourly_schedule").job_name == "semantic_cache_job"
    assert defs.resolve_sensor_def("semantic_cache_warm_sensor").job_name == "semantic_cache_job"
    assert semantic_cache.asset_deps[semantic_cache.key] == {dg.AssetKey("user_profiles")}


def test_the_hourly_schedule_asks_for_one_run_per_hour():
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 3, 2, 14, 0, tzinfo=UTC))
    assert semantic_cache_hourly_schedule(context).run_key == "hourly:2026-03-02T14"


def test_the_sensor_asks_for_one_warm_up_per_profile_change(postgres):
    instance = dg.DagsterInstance.ephemeral()

    def evaluate(cursor=None):
        with dg.build_sensor_context(instance=instance, resources={"postgres": postgres}, cursor=cursor) as context:
            return semantic_cache_warm_sensor(context)

    assert "no profiles" in evaluate().skip_message
    populate(postgres)
    first = evaluate()
    assert len(first.run_requests) == 1 and first.run_requests[0].run_key == f"profiles:{first.cursor}"
    assert "unchanged" in evaluate(first.cursor).skip_message

    ingest(postgres, [signal("newcomer", "save", day=DAY, city="Oslo", item="stay_0001")], day=DAY, hour=13)
    make_distiller(postgres).distill_day(DAY)
    second = evaluate(first.cursor)
    assert second.cursor > first.cursor and second.run_requests[0].run_key != first.run_requests[0].run_key


def run(command: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="distillery")
    cache_cli.register_cli(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(command)
    return args.handler(args)


def test_the_commands_recommend_and_show_the_savings(postgres, monkeypatch, capsys):
    populate(postgres)
    cache = make_cache(postgres)
    monkeypatch.setattr(cache_cli, "built_resources", lambda: contextlib.nullcontext(SimpleNamespace(semantic_cache=cache)))

    assert run(["recommend", "chaos_0"]) == 0
    assert run(["recommend", "lover"]) == 0
    assert run(["recommend", "foodie_1", "--json"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("chaos seeker · Istanbul · trip_ideas/en · miss · local · expires ")
    assert "Istanbul: chaos seeker picks" in printed and "bar_0001, bar_0002, bar_0003" in printed
    assert "food lover · Istanbul · trip_ideas/en · miss" in printed
    assert json.loads(printed[printed.index("{"):])["segment"]["persona"] == "food lover"  # a near hit

    assert run(["recommend", "nobody"]) == 1
    assert "no profile for user 'nobody'" in capsys.readouterr().err

    assert run(["cache", "stats"]) == 0
    text = capsys.readouterr().out
    assert "3 requests, hit rate 33.3% (hits 0, near hits 1, shared 0, misses 2)" in text
    assert "generations 2 (0 LLM calls, 0 fallbacks) against 3 at one call per user: 1 avoided (33.3%)" in text
    assert run(["cache", "stats", "--json", "--hours", "1"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert (figures["requests"], figures["llm_calls_avoided"], figures["answers_servable"]) == (3, 1, 2)
