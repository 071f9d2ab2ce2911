"""The semantic cache on the command line: `distillery recommend USER_ID` and `distillery cache stats`."""

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from assets.reasoners import DEFAULT_KIND, KINDS
from orchestration.wiring import built_resources
from resources.semantic_cache import Recommendation, SemanticCacheResource
from resources.sql import load


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    recommend = subparsers.add_parser("recommend", help="the shared answer for a user's segment, through the semantic cache")
    recommend.add_argument("user_id")
    recommend.add_argument("--kind", default=DEFAULT_KIND, choices=list(KINDS), help=f"the question (default {DEFAULT_KIND})")
    recommend.add_argument("--locale", help="e.g. en or pt-BR (default: the cache's locale)")
    recommend.add_argument("--json", action="store_true", help="print the answer document")
    recommend.set_defaults(handler=run_recommend)

    cache = subparsers.add_parser("cache", help="the semantic cache's figures")
    actions = cache.add_subparsers(dest="cache_action", required=True, metavar="ACTION")
    stats = actions.add_parser("stats", help="hit rate, LLM calls avoided, tokens and cost saved")
    stats.add_argument("--hours", type=float, default=24.0, help="window of the ledger (default 24)")
    stats.add_argument("--json", action="store_true", help="print the figures as JSON")
    stats.set_defaults(handler=run_stats)


@contextmanager
def semantic_cache_resource() -> Iterator[SemanticCacheResource]:
    """The configured cache as Dagster would build it: an EnvVar (the Gemini key) is read now, not
    taken for its name, and the Gemini client is closed afterwards."""
    with built_resources() as built:
        yield built.semantic_cache


def run_recommend(args: argparse.Namespace) -> int:
    try:
        with semantic_cache_resource() as cache:
            found = cache.recommend(args.user_id, kind=args.kind, locale=args.locale)
    except (LookupError, ValueError) as error:
        print(error, file=sys.stderr)
        return 1
    print(json.dumps(found.answer, indent=2, ensure_ascii=False) if args.json else describe(found))
    return 0


def describe(found: Recommendation) -> str:
    """An answer as a few readable lines, with how it was found."""
    answer = found.answer
    lines = [
        (
            f"{found.segment.label} · {found.kind}/{found.locale} · {found.outcome.replace('_', ' ')} "
            f"· {answer['generated_by']} · expires {found.expires_at:%Y-%m-%d %H:%M} UTC"
        )
    ]
    if found.outcome == "near_hit":
        lines.append(f"  (the answer of persona {found.served_persona!r}, similarity {found.similarity:.3f})")
    lines.append(answer["why"])
    for rank, idea in enumerate(answer["ideas"], start=1):
        lines.append(f"{rank:>3}. {idea['title']}: {idea['why']}")
        if idea["items"]:
            lines.append(f"     {', '.join(idea['items'])}")
    return "\n".join(lines)


def run_stats(args: argparse.Namespace) -> int:
    with semantic_cache_resource() as cache, cache.postgres.connection() as conn:
        stats = cache.stats(hours=args.hours)
        servable, expired, pending, segments, _ = conn.execute(load("cache/entry_counts")).fetchone()
    if args.json:
        figures = stats.metadata() | {
            "hours": args.hours, "answers_servable": servable, "segments_answered": segments,
            "claims_in_progress": pending, "answers_expired_stored": expired,
        }
        print(json.dumps(figures, indent=2))
        return 0
    print(
        f"last {args.hours:g} h: {stats.requests:,} requests, hit rate {stats.hit_rate:.1%} "
        f"(hits {stats.hits:,}, near hits {stats.near_hits:,}, shared {stats.shared:,}, misses {stats.misses:,})\n"
        f"generations {stats.generations:,} ({stats.llm_calls:,} LLM calls, {stats.fallbacks:,} fallbacks) against "
        f"{stats.users:,} at one call per user: {stats.calls_avoided:,} avoided ({stats.call_reduction:.1%})\n"
        f"tokens spent {stats.tokens:,}, saved ~{stats.tokens_saved:,}; "
        f"cost spent ${stats.cost_usd:.4f}, saved ~${stats.cost_saved_usd:.4f}\n"
        f"answers servable {servable:,} for {segments:,} segments; {pending:,} being generated, "
        f"{expired:,} expired not yet evicted"
    )
    return 0
