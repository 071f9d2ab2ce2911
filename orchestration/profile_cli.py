"""Profiles for people and for the product backend: `distillery profile USER_ID [--history | --rollback N]`.

`get_profile`, `profile_history` and `rollback_profile` are the Python surface the backend calls.
"""

import argparse
import json
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime

from assets.profile_schema import PERSONAS, validate_profile
from orchestration.settings import Settings
from orchestration.wiring import build_resources
from resources.postgres import PostgresResource
from resources.sql import load


@dataclass(frozen=True)
class ProfileVersion:
    version: int
    day: date
    distiller: str
    signals: int
    created_at: datetime
    profile: dict


def get_profile(postgres: PostgresResource, user_id: str) -> dict | None:
    """The user's current profile document (see assets/profile_schema.py), or None."""
    with postgres.connection() as conn:
        row = conn.execute(load("distill/current_profile"), {"user_id": user_id}).fetchone()
    return json.loads(row[1]) if row else None


def profile_history(postgres: PostgresResource, user_id: str, limit: int = 20) -> list[ProfileVersion]:
    """The user's stored versions, newest first (the oldest are pruned; see DistillerResource.versions_kept)."""
    with postgres.connection() as conn:
        rows = conn.execute(load("distill/profile_history"), {"user_id": user_id, "limit": limit}).fetchall()
    return [ProfileVersion(v, d, distiller, signals, created, json.loads(text)) for v, d, distiller, signals, created, text in rows]


def rollback_profile(postgres: PostgresResource, user_id: str, version: int, run_id: str | None = None) -> dict:
    """Makes an older version current again, as a new version; returns the new document.

    The signals merged after `version` stay distilled (their watermarks do not move): a rollback
    removes a bad update from the profile, it does not replay it.
    """
    with postgres.connection() as conn:
        head = conn.execute(load("distill/lock_profile_head"), {"user_id": user_id}).fetchone()
        if head is None:
            raise LookupError(f"no profile for {user_id}")
        old = conn.execute(load("distill/profile_version"), {"user_id": user_id, "version": version}).fetchone()
        if old is None:
            raise LookupError(f"{user_id} has no stored version {version}")
        document = json.loads(old[0])
        document["version"] = head[0] + 1
        document["updated_at"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        validate_profile(document)
        scores = document["persona"]["scores"]
        conn.execute(load("distill/insert_profile_version"), {
            "user_id": user_id, "version": document["version"], "profile": json.dumps(document),
            "day": old[1], "distiller": "rollback", "run_id": run_id,
        })
        conn.execute(load("distill/point_profile_head"), {
            "user_id": user_id, "version": document["version"], "evidence_day": document["evidence_day"],
            "signals_distilled": document["signals_distilled"],
            "local_persona": max(PERSONAS, key=lambda persona: scores[persona]),
        })
    return document


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    profile = subparsers.add_parser("profile", help="print a user's distilled profile, its history, or roll it back")
    profile.add_argument("user_id")
    profile.add_argument("--history", action="store_true", help="list the stored versions, newest first")
    profile.add_argument("--limit", type=int, default=20, help="versions listed by --history")
    profile.add_argument("--rollback", type=int, metavar="VERSION", help="make VERSION current again (as a new version)")
    profile.add_argument("--json", action="store_true", help="print the JSON document")
    profile.set_defaults(handler=run_profile)


def run_profile(args: argparse.Namespace) -> int:
    postgres: PostgresResource = build_resources(Settings.from_env())["postgres"]
    if args.rollback is not None:
        try:
            document = rollback_profile(postgres, args.user_id, args.rollback)
        except LookupError as error:
            print(error, file=sys.stderr)
            return 1
        print(f"{args.user_id}: version {args.rollback} is current again as version {document['version']}")
        return 0
    if args.history:
        versions = profile_history(postgres, args.user_id, args.limit)
        if not versions:
            print(f"no profile for {args.user_id}", file=sys.stderr)
            return 1
        for v in versions:
            print(
                f"v{v.version:<4} {v.day}  {v.distiller:<8} {v.signals:>7,} signals  {v.created_at:%Y-%m-%d %H:%M}  "
                f"{v.profile['persona']['label']:<17} {v.profile['summary'][:90]}"
            )
        return 0
    document = get_profile(postgres, args.user_id)
    if document is None:
        print(f"no profile for {args.user_id}", file=sys.stderr)
        return 1
    print(json.dumps(document, indent=2, ensure_ascii=False) if args.json else describe(document))
    return 0


def describe(profile: dict) -> str:
    """A profile as a few readable lines."""

    def weighted(entries: list[dict], key: str) -> str:
        return ", ".join(f"{entry[key]} {entry['weight']:g}" for entry in entries) or "-"

    persona = profile["persona"]
    activity = profile["activity"]
    peak = f"peak {activity['peak_hour']:02d}:00 UTC, {activity['daypart']}" if activity["peak_hour"] is not None else "no activity"
    scores = ", ".join(f"{name} {score:g}" for name, score in sorted(persona["scores"].items(), key=lambda kv: -kv[1]))
    lines = [
        (
            f"{profile['user_id']} · version {profile['version']} · {profile['distiller']} "
            f"· updated {profile['updated_at']} · evidence to {profile['evidence_day']}"
        ),
        profile["summary"],
        f"  persona     {persona['label']} ({scores})",
        f"  vibe        {profile['vibe']['label'] or '-'} ({weighted(profile['vibe']['scores'], 'vibe')})",
        f"  interests   {weighted(profile['interests'], 'topic')}",
        f"  cities      {weighted(profile['cities'], 'city')}",
        f"  items       {weighted(profile.get('items', []), 'item')}",
        f"  style       {profile['travel_style']}",
        f"  activity    {peak}; {activity['sessions']:g} sessions, {activity['dwell_seconds']:,.0f} s dwell",
        "  engagement  " + ", ".join(f"{name} {count:g}" for name, count in profile["engagement"].items() if count),
        f"  saved       {', '.join(profile['saved_items']) or '-'}",
        f"  booked      {', '.join(profile['booked_items']) or '-'}",
        f"  tags        {', '.join(profile['tags']) or '-'}",
        f"  signals     {profile['signals_distilled']:,} distilled",
    ]
    return "\n".join(lines)
