"""`distillery distill DAY [--part K/N]`: distill a receive day outside Dagster, or one part of it per process.

The nightly job and the backlog sensor distill through Dagster; this command is for an operator who
wants a day now, or wants to spread a very large day over several processes or machines: start
`--part 0/4` .. `--part 3/4` side by side and each takes its own shards, exactly once.
"""

import argparse
import re
import sys
from datetime import date

from assets.user_profiles import DistillerResource, DistillReport
from orchestration.settings import Settings
from orchestration.wiring import build_resources


def part_of(text: str) -> tuple[int, int]:
    """'K/N' as (K, N), with 0 <= K < N."""
    match = re.fullmatch(r"(\d+)/(\d+)", text)
    if not match or not int(match[1]) < int(match[2]):
        raise argparse.ArgumentTypeError(f"{text!r}: want K/N with 0 <= K < N, as in 0/4")
    return int(match[1]), int(match[2])


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    distill = subparsers.add_parser(
        "distill", help="distill a receive day's new signals into profiles (or one part of its shards)"
    )
    distill.add_argument("day", type=date.fromisoformat, help="the receive day, YYYY-MM-DD (UTC)")
    distill.add_argument(
        "--part", type=part_of, default=(0, 1), metavar="K/N",
        help="only the shards s with s %% N == K, to spread a day over N processes (default 0/1: all)",
    )
    distill.set_defaults(handler=run_distill)


def run_distill(args: argparse.Namespace) -> int:
    distiller: DistillerResource = build_resources(Settings.from_env())["distiller"]
    number, parts = args.part
    where = f"part {number}/{parts} of " if parts > 1 else ""
    print(f"distilling {where}{args.day} ({distiller.provider} distiller) ...", flush=True)
    try:
        report = distiller.distill_day(args.day, part=args.part)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    print(summary(report))
    return 0


def summary(report: DistillReport) -> str:
    llm = report.llm
    lines = [
        f"{report.signals:,} signals into {report.profiles_updated:,} profiles in {report.seconds:.1f} s "
        f"({report.shards_distilled} shards distilled, {report.shards_already_done} already done, of {report.shards})",
        f"LLM: {llm.calls} calls, {llm.input_tokens + llm.output_tokens:,} tokens, ${llm.cost_usd:.4f}"
        + (f"; fell back for {dict(llm.fallbacks)}" if llm.fallbacks else ""),
        f"the day so far: {report.day_signals:,} signals of {report.day_users:,} users distilled"
        + ("; complete" if report.complete else ""),
    ]
    return "\n".join(lines)
