"""`distillery erase USER_ID...`: queue users for erasure (and tombstone them at once); `--status` shows the evidence."""

import argparse
import json
import os
import sys
from datetime import UTC, datetime

from assets.erasure import erase_pending
from orchestration.wiring import built_resources
from resources.erasure import ErasurePolicy, SaltMismatchError


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    erase = subparsers.add_parser(
        "erase", help="forget users everywhere (right to erasure); --status shows pending and completed erasures"
    )
    erase.add_argument("user_ids", nargs="*", metavar="USER_ID")
    erase.add_argument("--status", action="store_true", help="pending requests and recent erasures, or the given ids' state")
    erase.add_argument("--now", action="store_true", help="carry out the queue now instead of in the nightly erasure_job")
    erase.add_argument("--by", help="who asked, kept in the erasure log (default: $USER)")
    erase.add_argument("--limit", type=int, default=20, help="completed erasures listed by --status")
    erase.set_defaults(handler=run_erase)


def run_erase(args: argparse.Namespace) -> int:
    with built_resources() as resources:
        return erase(resources.postgres, resources.erasure, resources.archive_store, args)


def erase(postgres, policy: ErasurePolicy, archive_store, args: argparse.Namespace) -> int:
    if args.status:
        print(status_of(postgres, policy, args.user_ids) if args.user_ids else overview(postgres, policy, args.limit))
        return 0
    if not args.user_ids:
        print("give the user ids to erase, or --status", file=sys.stderr)
        return 2
    try:
        receipt = policy.request(postgres, args.user_ids, args.by or os.environ.get("USER", "cli"))
    except SaltMismatchError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"{len(receipt.queued)} queued for erasure; their later events are refused from now on")
    if receipt.already_pending:
        print(f"{len(receipt.already_pending)} already pending: {', '.join(receipt.already_pending)}")
    if not args.now:
        print("the nightly erasure_job carries them out; `distillery erase --status` shows progress")
        return 0
    report = erase_pending(postgres, archive_store.open(), policy)
    print(
        f"{report.completed} of {report.requests} requests completed ({report.not_found} ids were in no store), "
        f"{sum(report.removed.values()):,} rows removed, {len(report.published)} archive files rewritten "
        f"in {report.seconds:.1f} s"
    )
    for uri, problem in {**report.problems, **report.unreachable}.items():
        print(f"  {uri}: {problem}", file=sys.stderr)
    return 0 if report.completed == report.requests else 1


def overview(postgres, policy: ErasurePolicy, limit: int) -> str:
    pending, oldest = policy.pending(postgres)
    waiting = f", the oldest received {_age(oldest)} ago" if oldest else ""
    lines = [f"{pending} pending erasure requests{waiting}", "", "recently completed (hashed ids):"]
    entries = policy.recent(postgres, limit)
    lines += [
        f"  {e['user_hash'][:16]}…  received {e['requested_at']:%Y-%m-%d %H:%M}  "
        f"completed {e['completed_at']:%Y-%m-%d %H:%M}  {_removed(e['removed'], e['found'])}"
        for e in entries
    ] or ["  none yet"]
    return "\n".join(lines)


def status_of(postgres, policy: ErasurePolicy, user_ids: list[str]) -> str:
    lines = []
    for row in policy.status(postgres, user_ids):
        line = f"{row['user_id']}: {row['state']}"
        if row["state"] == "pending":
            line += f" since {row['requested_at']:%Y-%m-%d %H:%M} UTC"
        elif row["state"] == "erased":
            line += f" on {row['completed_at']:%Y-%m-%d %H:%M} UTC; {_removed(row['removed'], row['found'])}"
        lines.append(line)
    return "\n".join(lines)


def _removed(removed: dict, found: bool) -> str:
    if not found:
        return "unknown id: found in no store"
    return "removed " + json.dumps({store: rows for store, rows in sorted(removed.items()) if rows})


def _age(moment: datetime) -> str:
    hours = (datetime.now(UTC) - moment).total_seconds() / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.0f} days"
