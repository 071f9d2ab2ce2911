"""Synthetic user signals as a client SDK sends them, deterministic by seed.

Each user has a latent persona that biases their event types, cities, items, vibes, searches and
chat, so distillation has different profiles to recover. Activity is Zipf-distributed, events come
in sessions, and batches of ~1,000 signals arrive every 30-60 s, optionally with bad rows of many
kinds and with retried (duplicate) events, the way real clients misbehave.

Everything is sampled with NumPy and rendered to JSON text with Polars string expressions, a few
hundred batches at a time; only batch slicing and file writing loop in Python.
"""

import argparse
import functools
import io
import json
import math
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

Format = Literal["ndjson", "parquet"]

EVENT_TYPES = ("view", "click", "scroll", "dwell", "search", "save", "book", "chat_message")
PERSONAS = (
    "chaos seeker", "slow traveller", "foodie", "night owl",
    "culture buff", "outdoors", "budget backpacker", "luxury",
)
# Ordered by popularity: a city's base weight falls off as a Zipf law over this order.
CITIES = (
    "Lisbon", "Barcelona", "Paris", "London", "Berlin", "Amsterdam", "Rome", "New York", "Tokyo",
    "Bangkok", "Mexico City", "Istanbul", "Prague", "Vienna", "Budapest", "Seoul", "Kyoto", "Naples",
    "Porto", "San Sebastián", "Oaxaca", "Hanoi", "Chiang Mai", "Tbilisi", "Marrakesh", "Cape Town",
    "Reykjavik", "Queenstown", "Medellín", "Dubai",
)
ITEM_KINDS = ("stay", "food", "event")
ITEMS_PER_CITY = np.array([400, 600, 300])
ITEM_NUMBERS = len(CITIES) * ITEMS_PER_CITY.max()  # item ids of one kind: city * 600 + rank

# Bad-row kinds, named as the reasons ingestion quarantines them under.
MISSING_FIELD = "missing_field"
BAD_TYPE = "bad_type"
INVALID_EVENT_ID = "invalid_event_id"
EMPTY_ID = "empty_id"
ID_TOO_LONG = "id_too_long"
UNKNOWN_EVENT_TYPE = "unknown_event_type"
NUL_BYTE = "nul_byte"
INVALID_UTF8 = "invalid_utf8"
OVERSIZE_PAYLOAD = "oversize_payload"
TOO_DEEP = "too_deep"
OCCURRED_IN_FUTURE = "occurred_in_future"
OCCURRED_TOO_OLD = "occurred_too_old"
MALFORMED_JSON = "malformed_json"
BAD_KINDS = (
    MISSING_FIELD, BAD_TYPE, INVALID_EVENT_ID, EMPTY_ID, ID_TOO_LONG, UNKNOWN_EVENT_TYPE,
    NUL_BYTE, INVALID_UTF8, OVERSIZE_PAYLOAD, TOO_DEEP, OCCURRED_IN_FUTURE, OCCURRED_TOO_OLD,
    MALFORMED_JSON,
)
# A Parquet string column must hold valid UTF-8 and a JSON column valid JSON: these stay NDJSON-only.
NDJSON_ONLY_KINDS = (INVALID_UTF8, MALFORMED_JSON)
KINDS_BY_FORMAT: dict[str, tuple[str, ...]] = {
    "ndjson": BAD_KINDS,
    "parquet": tuple(kind for kind in BAD_KINDS if kind not in NDJSON_ONLY_KINDS),
}

REQUIRED_FIELDS = ("event_id", "user_id", "event_type", "occurred_at")
UNKNOWN_TYPES = ("purchase", "hover", "like", "share")
MAX_NESTING = 32
MAX_PAYLOAD_BYTES = 64 * 1024
MAX_ID_LENGTH = 256
# A marker character the vocabulary never uses, swapped for invalid UTF-8 bytes of the same length.
UTF8_SENTINEL = "\ue000"
INVALID_UTF8_BYTES = b"\xff\xfe\xfd"

PARQUET_SCHEMA = pa.schema([
    ("event_id", pa.string()),
    ("user_id", pa.string()),
    ("session_id", pa.string()),
    ("event_type", pa.string()),
    ("occurred_at", pa.string()),
    # The Parquet JSON logical type: readers (DuckDB, ingestion) see props as an object, not a string.
    ("props", pa.json_(pa.string())),
])

DAY_MS = 86_400_000
SYNC_SECONDS = (30, 60)
MEAN_SESSION_EVENTS = 12
MEAN_EVENT_GAP_S = 20.0
USER_ZIPF_EXPONENT = 1.05
CITY_ZIPF_EXPONENT = 0.8
ITEM_ZIPF_EXPONENT = 1.1
LATE_SESSION_SHARE = 0.03  # devices that were offline deliver whole sessions minutes to hours late
SKEWED_CLOCK_SHARE = 0.005  # device clocks slightly ahead of the server
CHUNK_BATCHES = 200

# Event-type mix per persona (rows: PERSONAS, columns: EVENT_TYPES); views and scrolls dominate.
EVENT_MIX = np.array([
    [30, 22, 22, 4, 10, 4, 4, 4],
    [32, 8, 18, 24, 5, 8, 2, 3],
    [32, 13, 20, 8, 12, 10, 2, 3],
    [28, 12, 30, 6, 5, 4, 2, 13],
    [34, 12, 20, 16, 8, 6, 2, 2],
    [36, 14, 24, 8, 9, 4, 3, 2],
    [38, 16, 26, 5, 9, 3, 1, 2],
    [30, 14, 18, 10, 5, 10, 8, 5],
], dtype=float)
PERSONA_SHARES = np.array([10, 12, 16, 12, 14, 12, 14, 10], dtype=float)
PERSONA_CITIES = (
    ("Bangkok", "Mexico City", "Istanbul", "Naples", "Hanoi", "Marrakesh"),
    ("Kyoto", "Lisbon", "Porto", "Tbilisi", "Chiang Mai", "Vienna"),
    ("Tokyo", "Naples", "San Sebastián", "Oaxaca", "Bangkok", "Barcelona"),
    ("Berlin", "Amsterdam", "Seoul", "Barcelona", "Medellín", "Budapest"),
    ("Rome", "Paris", "Vienna", "Kyoto", "Prague", "Istanbul"),
    ("Reykjavik", "Queenstown", "Cape Town", "Medellín", "Chiang Mai", "Tbilisi"),
    ("Hanoi", "Chiang Mai", "Budapest", "Lisbon", "Mexico City", "Tbilisi"),
    ("Dubai", "Paris", "London", "New York", "Tokyo", "Kyoto"),
)
PERSONA_CITY_BOOST = 25.0
# Which kind of item (stay, food, event) each persona looks at.
ITEM_KIND_MIX = np.array([
    [25, 30, 45], [55, 30, 15], [15, 70, 15], [20, 35, 45],
    [25, 20, 55], [40, 15, 45], [50, 35, 15], [55, 30, 15],
], dtype=float)
PRICE_MEDIAN_BY_KIND = np.array([120.0, 35.0, 40.0])
PRICE_FACTOR = np.array([0.8, 0.9, 1.2, 0.9, 1.0, 0.9, 0.35, 3.5])
DWELL_FACTOR = np.array([0.6, 2.0, 1.2, 0.9, 1.5, 1.0, 0.8, 1.2])
# Median dwell (ms) and spread for the event types that carry dwell_ms.
DWELL_MEDIAN_MS = {"view": (4_000, 0.8), "scroll": (2_500, 0.7), "dwell": (25_000, 0.9)}
ITEM_EVENTS = ("view", "click", "dwell", "save", "book")
SCROLL_ITEM_SHARE = 0.3
REPEAT_ITEM_SHARE = 0.4  # a session often returns to the item it just looked at
VIBE_SHARE = 0.7
OWN_VIBE_SHARE = 0.6
SESSION_CITY_SLOTS = np.array([0.55, 0.75, 0.90])  # home, first wish, second wish, anywhere

SEARCH_PHRASES = (
    ("street party tonight", "hidden bars", "motorbike tour", "night market", "underground techno",
     "last minute festival"),
    ("quiet guesthouse with garden", "long stay apartment", "slow train routes", "bookshop cafe",
     "weekly yoga", "neighbourhood walks"),
    ("best ramen", "tasting menu", "street food tour", "natural wine bar", "cooking class",
     "market breakfast"),
    ("late night bars", "clubs open after 3am", "rooftop bar", "jazz club", "24 hour diner", "night tour"),
    ("museum pass", "architecture walking tour", "opera tickets", "old town history", "gallery openings",
     "ancient ruins guide"),
    ("day hike", "kayak rental", "climbing gym", "bike trails", "surf lessons", "camping near"),
    ("cheap hostel", "free walking tour", "budget eats", "hostel with kitchen", "cheap bus to",
     "happy hour"),
    ("five star hotel", "spa day", "private chef", "michelin restaurant", "yacht charter",
     "suite with a view"),
)
# Chat messages: (text before the city, text after it) per persona.
CHAT_TEMPLATES = (
    (("what's the wildest thing to do in ", " tonight?"), ("anything spontaneous happening in ", " this weekend?"),
     ("take me somewhere loud and crowded in ", ""), ("surprise me with a plan for ", ", no rules")),
    (("looking for a quiet neighbourhood in ", " to stay a few weeks"),
     ("where can I read for hours in ", " without being rushed?"), ("any calm cafes in ", " with good light?"),
     ("I'd like a slow week in ", ", nothing packed")),
    (("where do locals eat in ", "?"), ("best street food in ", " right now?"),
     ("can you book a tasting menu in ", " for two?"), ("I want to try the local dishes in ", ", where do I start?")),
    (("what's open after midnight in ", "?"), ("best bars in ", " for a late night"),
     ("any good clubs in ", " on a weeknight?"), ("where can I get food at 3am in ", "?")),
    (("which museums in ", " are worth a full day?"), ("any guided history tours in ", "?"),
     ("what concerts are on in ", " this week?"), ("I want to see the old town of ", " with a guide")),
    (("best day hikes near ", "?"), ("where can I rent a bike in ", "?"),
     ("any kayaking or surfing around ", "?"), ("is the weather good for climbing in ", " this week?")),
    (("cheapest decent hostel in ", "?"), ("how do I get around ", " on a budget?"),
     ("free things to do in ", " today"), ("where can I eat well in ", " for under 10 euros?")),
    (("book me the best suite in ", " for the weekend"), ("which restaurants in ", " have a michelin star?"),
     ("can you arrange a private driver in ", "?"), ("I want a spa hotel in ", " with a view")),
)

HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


@dataclass(frozen=True)
class SignalBatch:
    """One client sync: its sequence number, receive time and payload (NDJSON bytes or an Arrow table)."""

    seq: int
    received_at: datetime
    rows: int
    duplicates: int
    bad_rows: dict[str, int]
    payload: bytes | pa.Table

    @property
    def file_name(self) -> str:
        ext = "ndjson" if isinstance(self.payload, bytes) else "parquet"
        return f"batch-{self.received_at:%Y%m%dT%H%M%SZ}-{self.seq:06d}.{ext}"

    def lines(self) -> list[bytes]:
        """The NDJSON payload as one bytes object per signal."""
        return self.payload.split(b"\n")[:-1]

    @property
    def nbytes(self) -> int:
        return len(self.payload) if isinstance(self.payload, bytes) else self.payload.nbytes


@dataclass
class GenerationSummary:
    files: int = 0
    signals: int = 0
    duplicates: int = 0
    bytes: int = 0
    seconds: float = 0.0
    bad_rows: Counter = field(default_factory=Counter)
    paths: list[Path] = field(default_factory=list)

    @property
    def bad(self) -> int:
        return sum(self.bad_rows.values())

    def line(self) -> str:
        rate = self.signals / self.seconds if self.seconds else 0.0
        per_signal = self.bytes / self.signals if self.signals else 0.0
        return (
            f"{self.files} files, {self.signals} signals ({self.bad} bad, {self.duplicates} duplicates), "
            f"{self.bytes / 1e6:.1f} MB ({per_signal:.0f} B/signal) in {self.seconds:.2f} s "
            f"({rate:,.0f} signals/s)"
        )


@dataclass(frozen=True)
class Population:
    """The latent users: who is active, their persona and the cities they keep coming back to."""

    activity: np.ndarray  # probability that a session belongs to each user (Zipf)
    persona: np.ndarray
    home_city: np.ndarray
    wish_cities: np.ndarray  # two more cities per user

    @classmethod
    def build(cls, users: int, seed: int) -> "Population":
        if users < 1:
            raise ValueError("users must be at least 1")
        rng = np.random.default_rng([seed, 0])
        ranks = rng.permutation(users) + 1.0
        activity = ranks ** -USER_ZIPF_EXPONENT
        persona = rng.choice(len(PERSONAS), size=users, p=PERSONA_SHARES / PERSONA_SHARES.sum())
        cities = _pick(rng, _cumulative(_persona_city_weights()), np.repeat(persona, 3)).reshape(users, 3)
        return cls(activity / activity.sum(), persona, cities[:, 0], cities[:, 1:])

    def table(self) -> pl.DataFrame:
        """Ground truth per user, for checking what distillation recovers."""
        return pl.DataFrame({
            "user_id": _user_ids(np.arange(len(self.persona))),
            "persona": pl.Series(PERSONAS).gather(self.persona),
            "home_city": pl.Series(CITIES).gather(self.home_city),
            "activity": self.activity,
        })


def iter_signal_batches(
    days: list[date],
    users: int,
    signals_per_day: int,
    seed: int,
    bad_share: float = 0.0,
    duplicate_share: float = 0.0,
    fmt: Format = "ndjson",
    batch_size: int = 1000,
) -> Iterator[SignalBatch]:
    """Each day's signals as client batches, in receive order; NDJSON bytes or Arrow tables."""
    if fmt not in KINDS_BY_FORMAT:
        raise ValueError(f"format must be one of {sorted(KINDS_BY_FORMAT)}, not {fmt!r}")
    if signals_per_day < 1 or batch_size < 1:
        raise ValueError("signals_per_day and batch_size must be at least 1")
    if not (0 <= bad_share <= 1 and 0 <= duplicate_share <= 1 and bad_share + duplicate_share < 1):
        raise ValueError("bad_share and duplicate_share must be in [0, 1] and leave room for good rows")
    population = Population.build(users, seed)
    seq = 0
    for day in sorted(days):
        for chunk in _generate_day(population, day, signals_per_day, seed, bad_share, duplicate_share, fmt, batch_size):
            for batch in _split_batches(chunk, fmt, batch_size, seq):
                seq = batch.seq
                yield batch


def generate_landing_files(
    landing_dir: Path | str,
    days: list[date],
    users: int,
    signals_per_day: int,
    seed: int,
    bad_share: float = 0.0,
    duplicate_share: float = 0.0,
    fmt: Format = "ndjson",
    batch_size: int = 1000,
    progress: Callable[[GenerationSummary], None] | None = None,
) -> GenerationSummary:
    """Writes one file per batch into the landing folder, atomically, named by its receive time.

    Re-running with the same arguments rewrites the same files with the same bytes.
    """
    landing = Path(landing_dir)
    landing.mkdir(parents=True, exist_ok=True)
    summary = GenerationSummary()
    started = time.perf_counter()
    for batch in iter_signal_batches(
        days, users, signals_per_day, seed, bad_share, duplicate_share, fmt, batch_size
    ):
        data = batch.payload if fmt == "ndjson" else _parquet_bytes(batch.payload)
        target = landing / batch.file_name
        # A watcher ignores dot-files, so it only ever sees the complete file after the rename.
        temp = landing / f".{batch.file_name}.tmp"
        temp.write_bytes(data)
        os.replace(temp, target)
        summary.files += 1
        summary.signals += batch.rows
        summary.duplicates += batch.duplicates
        summary.bad_rows.update(batch.bad_rows)
        summary.bytes += len(data)
        summary.paths.append(target)
        summary.seconds = time.perf_counter() - started
        if progress is not None:
            progress(summary)
    return summary


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "generate", help="write synthetic client batches (NDJSON or Parquet) into a landing folder"
    )
    parser.add_argument("--out", type=Path, required=True, help="landing folder to write batch files into")
    when = parser.add_mutually_exclusive_group()
    when.add_argument("--days", type=int, help="number of days ending today (UTC); the default is 1")
    when.add_argument("--start", type=date.fromisoformat, help="first receive day, YYYY-MM-DD")
    parser.add_argument("--end", type=date.fromisoformat, help="last receive day (with --start; default: --start)")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--signals-per-day", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--bad-share", type=float, default=0.0, help="share of malformed rows, 0-1")
    parser.add_argument("--duplicate-share", type=float, default=0.0, help="share of re-sent rows, 0-1")
    parser.add_argument("--format", choices=sorted(KINDS_BY_FORMAT), default="ndjson")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.end and not args.start:
        print("--end needs --start", file=sys.stderr)
        return 2
    if args.start:
        end = args.end or args.start
        days = [args.start + timedelta(days=i) for i in range((end - args.start).days + 1)]
    else:
        today = datetime.now(UTC).date()
        days = [today - timedelta(days=i) for i in reversed(range(args.days or 1))]
    if not days:
        print("--end is before --start", file=sys.stderr)
        return 2
    expected_files = len(days) * math.ceil(args.signals_per_day / args.batch_size)
    step = max(1, expected_files // 10)

    def report_progress(summary: GenerationSummary) -> None:
        if len(days) * args.signals_per_day >= 1_000_000 and summary.files % step == 0:
            print(f"  {summary.files}/{expected_files} files, {summary.signals} signals", file=sys.stderr)

    try:
        summary = generate_landing_files(
            args.out, days, args.users, args.signals_per_day, args.seed,
            args.bad_share, args.duplicate_share, args.format, args.batch_size, report_progress,
        )
    except ValueError as error:
        print(f"generate: {error}", file=sys.stderr)
        return 2
    kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(summary.bad_rows.items()))
    print(f"generated {summary.line()} into {args.out}" + (f"; bad rows: {kinds}" if kinds else ""))
    return 0


# -- one day -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Chunk:
    """Consecutive batches of one day, rendered together."""

    rows: pl.DataFrame  # in output order: `line` (NDJSON) or the Parquet columns
    bad_kind: np.ndarray  # per output row: index into `kinds`, -1 for a good row
    duplicate: np.ndarray  # per output row: a re-sent copy of an earlier row
    received_ms: np.ndarray  # one receive time per batch
    kinds: tuple[str, ...]


def _generate_day(
    population: Population,
    day: date,
    total: int,
    seed: int,
    bad_share: float,
    duplicate_share: float,
    fmt: Format,
    batch_size: int,
) -> Iterator[_Chunk]:
    """A day's batches, a few hundred at a time so memory stays flat however busy the day."""
    received_ms = _sync_times(np.random.default_rng([seed, 1, day.toordinal()]), day, math.ceil(total / batch_size))
    chunk_rows = CHUNK_BATCHES * batch_size
    ends = np.append(np.arange(chunk_rows, total, chunk_rows), total)
    # The day's exact bad and duplicate counts, spread over its chunks in proportion.
    bad = np.diff(np.round(bad_share * ends), prepend=0).astype(np.int64)
    duplicates = np.diff(np.round(duplicate_share * ends), prepend=0).astype(np.int64)
    for number, end in enumerate(ends):
        first_batch = number * CHUNK_BATCHES
        previous_sync = received_ms[first_batch - 1] if first_batch else received_ms[0] - SYNC_SECONDS[0] * 1000
        yield _generate_chunk(
            np.random.default_rng([seed, 1, day.toordinal(), number]), population,
            int(end) - number * chunk_rows, int(bad[number]), int(duplicates[number]),
            previous_sync, received_ms[first_batch:first_batch + CHUNK_BATCHES], fmt, batch_size,
        )


def _generate_chunk(
    rng: np.random.Generator,
    population: Population,
    total: int,
    bad: int,
    duplicates: int,
    previous_sync: int,
    received_ms: np.ndarray,
    fmt: Format,
    batch_size: int,
) -> _Chunk:
    kinds = KINDS_BY_FORMAT[fmt]
    originals = total - duplicates
    if originals < bad or (duplicates and originals == bad):
        raise ValueError(f"{total} signals leave no good rows at these bad and duplicate shares")
    window_s = (received_ms[-1] - previous_sync) / 1000
    events = _sample_events(rng, population, originals, window_s)
    output_order, source_of_duplicate, bad_rows = _arrange(rng, originals, duplicates, bad, batch_size)
    events["occurred_ms"] = _occurred_times(events, output_order, previous_sync, received_ms, batch_size)

    bad_kind = np.full(originals, -1, dtype=np.int8)
    bad_kind[bad_rows] = rng.permutation(np.arange(bad) % len(kinds))
    position = np.empty(total, dtype=np.int64)
    position[output_order] = np.arange(total)
    receive_of_original = received_ms[position[:originals] // batch_size]
    rows, spoiled = _render(rng, events, bad_kind, kinds, receive_of_original, fmt)

    source = np.concatenate([np.arange(originals), source_of_duplicate])[output_order]
    if len(bad_rows) or duplicates:
        # Spoiled renderings of the bad rows follow the good ones; one gather puts all in output order.
        take = np.arange(originals)
        take[np.sort(bad_rows)] = originals + np.arange(len(bad_rows))
        rows = pl.concat([rows, spoiled])[take[source]]
    return _Chunk(rows, bad_kind[source], output_order >= originals, received_ms, kinds)


def _sync_times(rng: np.random.Generator, day: date, batches: int) -> np.ndarray:
    """Receive times 30-60 s apart, squeezed closer only when a day cannot hold that many syncs."""
    gaps = rng.integers(SYNC_SECONDS[0], SYNC_SECONDS[1] + 1, size=batches) * 1000
    room = DAY_MS - SYNC_SECONDS[1] * 1000
    if gaps.sum() > room:
        gaps = gaps * room // gaps.sum()
    start = int(rng.integers(0, DAY_MS - gaps.sum())) // 1000 * 1000
    day_start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
    return day_start + start + np.cumsum(gaps)


def _sample_events(
    rng: np.random.Generator, population: Population, count: int, window_s: float
) -> dict[str, np.ndarray]:
    """Sessions of users and the events inside them, ordered by time on the day's sync window."""
    lengths = rng.geometric(1 / MEAN_SESSION_EVENTS, size=count // MEAN_SESSION_EVENTS * 2 + 16)
    while lengths.sum() < count:
        lengths = np.concatenate([lengths, rng.geometric(1 / MEAN_SESSION_EVENTS, size=len(lengths))])
    sessions = int(np.searchsorted(np.cumsum(lengths), count)) + 1
    lengths = lengths[:sessions]
    lengths[-1] -= lengths.sum() - count

    session_user = rng.choice(len(population.activity), size=sessions, p=population.activity)
    session_persona = population.persona[session_user]
    slot = np.searchsorted(SESSION_CITY_SLOTS, rng.random(sessions))
    session_city = np.select(
        [slot == 0, slot == 1, slot == 2],
        [population.home_city[session_user], population.wish_cities[session_user, 0],
         population.wish_cities[session_user, 1]],
        _pick(rng, _cumulative(_city_popularity()[None, :]), np.zeros(sessions, dtype=np.int64)),
    )
    # Sessions start anywhere in the window the day's syncs cover; events follow each other by ~20 s.
    session_start = rng.random(sessions) * window_s
    late = rng.random(sessions) < LATE_SESSION_SHARE
    skewed = rng.random(sessions) < SKEWED_CLOCK_SHARE
    session_shift_ms = np.where(late, -np.minimum(rng.lognormal(np.log(20 * 60_000), 1.2, sessions), 18 * 3_600_000), 0)
    session_shift_ms += np.where(skewed, rng.integers(0, 120_000, sessions), 0)

    session = np.repeat(np.arange(sessions), lengths)
    first = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    gaps = rng.exponential(MEAN_EVENT_GAP_S, size=count)
    gaps[first] = 0
    elapsed = np.cumsum(gaps)
    virtual_time = session_start[session] + elapsed - elapsed[first][session]

    # Event types and items first, in session order: a session often returns to its previous item.
    persona = session_persona[session]
    event_type = _pick(rng, _cumulative(EVENT_MIX), persona).astype(np.int8)
    item_kind = _pick(rng, _cumulative(ITEM_KIND_MIX), persona)
    item = item_kind * ITEM_NUMBERS + session_city[session] * ITEMS_PER_CITY.max() + _item_rank(rng, item_kind, persona)
    has_item = np.isin(event_type, [EVENT_TYPES.index(name) for name in ITEM_EVENTS]) | (
        (event_type == EVENT_TYPES.index("scroll")) & (rng.random(count) < SCROLL_ITEM_SHARE)
    )
    repeat = (rng.random(count) < REPEAT_ITEM_SHARE) & has_item & np.roll(has_item, 1)
    repeat[first] = False
    item = np.where(repeat, np.roll(item, 1), item).astype(np.int32)

    # Then into time order; everything else is drawn per event in that order.
    order = np.argsort(virtual_time, kind="stable")
    session, event_type, has_item, item = session[order], event_type[order], has_item[order], item[order]
    persona = session_persona[session]
    dwell_ms = np.full(count, -1, dtype=np.int64)
    for name, (median, sigma) in DWELL_MEDIAN_MS.items():
        mask = event_type == EVENT_TYPES.index(name)
        dwell_ms[mask] = rng.lognormal(np.log(median), sigma, mask.sum()) * DWELL_FACTOR[persona[mask]]
    vibe = np.where(rng.random(count) < OWN_VIBE_SHARE, persona, rng.integers(0, len(PERSONAS), count))
    price = PRICE_MEDIAN_BY_KIND[item // ITEM_NUMBERS] * PRICE_FACTOR[persona] * rng.lognormal(0, 0.35, count)
    return {
        "session": session, "user": session_user[session], "persona": persona, "city": session_city[session],
        "event_type": event_type, "has_item": has_item, "item": item, "dwell_ms": dwell_ms,
        "vibe": np.where(has_item & (rng.random(count) < VIBE_SHARE), vibe, -1),
        "price": np.round(price, 2),
        "phrase": rng.integers(0, len(SEARCH_PHRASES[0]), count),
        "template": rng.integers(0, len(CHAT_TEMPLATES[0]), count),
        "shift_ms": session_shift_ms[session].astype(np.int64),
        "virtual_time": virtual_time[order],
        "session_ids": _hex_ids(rng, "s_", sessions, 8),
    }


def _arrange(
    rng: np.random.Generator, originals: int, duplicates: int, bad: int, batch_size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Output order of originals and re-sent copies; which originals are bad.

    A copy follows its original closely (an immediate retry, same batch) or a batch or more later
    (a retry after a failed sync). Only good rows are re-sent, so every count stays exact.
    """
    bad_rows = rng.choice(originals, size=bad, replace=False)
    good = np.setdiff1d(np.arange(originals), bad_rows, assume_unique=True)
    source = np.sort(good[rng.integers(0, len(good), duplicates)]) if duplicates else np.empty(0, np.int64)
    near = rng.random(duplicates) < 0.7
    lag = np.where(near, rng.integers(1, 50, duplicates), rng.integers(batch_size, 3 * batch_size + 1, duplicates))
    keys = np.concatenate([np.arange(originals, dtype=float), np.minimum(source + lag, originals - 1) + 0.5])
    order = np.argsort(keys, kind="stable")
    return order, source, bad_rows


def _occurred_times(
    events: dict[str, np.ndarray],
    output_order: np.ndarray,
    previous_sync: int,
    received_ms: np.ndarray,
    batch_size: int,
) -> np.ndarray:
    """Maps the sessions' timeline onto the sync times so every event happened before its batch's sync."""
    originals = len(events["virtual_time"])
    original_position = np.flatnonzero(output_order < originals)  # output slots of originals, in order
    first_of_batch = np.searchsorted(original_position, np.arange(len(received_ms)) * batch_size)
    knots = first_of_batch < originals
    first_of_batch = first_of_batch[knots]
    knots_v = np.concatenate([events["virtual_time"][first_of_batch], [events["virtual_time"][-1]]])
    knots_t = np.concatenate([np.concatenate([[previous_sync], received_ms[:-1]])[knots], [received_ms[-1] - 1]])
    occurred = np.interp(events["virtual_time"], knots_v, knots_t).astype(np.int64)
    return occurred + events["shift_ms"]


@functools.cache
def _pieces() -> dict[str, pl.Series]:
    """Every possible `"key":"value"` JSON fragment of the categorical props, looked up by index."""
    cities = [json.dumps(city, ensure_ascii=False) for city in CITIES]
    phrases = [phrase for group in SEARCH_PHRASES for phrase in group]
    templates = [template for group in CHAT_TEMPLATES for template in group]
    items = [
        f'"item_id":"{kind}_{number:06d}"'
        for kind in ITEM_KINDS for number in range(ITEM_NUMBERS)
    ]
    return {
        "city": pl.Series([f'"city":{city}' for city in cities]),
        "vibe": pl.Series([f'"vibe":"{vibe}"' for vibe in PERSONAS]),
        "query": pl.Series([f'"query":"{phrase} {city}"' for phrase in phrases for city in CITIES]),
        "text": pl.Series([f'"text":"{before}{city}{after}"' for before, after in templates for city in CITIES]),
        "item_id": pl.Series(items),
        "event_type": pl.Series(EVENT_TYPES),
    }


# Columns holding ready `"key":value` fragments of props; null drops the key from that signal.
PROP_PIECES = ("city", "item_id", "dwell_ms", "vibe", "query", "text", "price", "extra")


def _render(
    rng: np.random.Generator,
    events: dict[str, np.ndarray],
    bad_kind: np.ndarray,
    kinds: tuple[str, ...],
    received_ms: np.ndarray,
    fmt: Format,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The signals as NDJSON lines or Parquet columns (props as JSON text), and the bad rows spoiled."""
    count = len(bad_kind)
    pieces = _pieces()
    city, persona, event_type = events["city"], events["persona"], events["event_type"]
    is_search = event_type == EVENT_TYPES.index("search")
    is_chat = event_type == EVENT_TYPES.index("chat_message")
    is_book = event_type == EVENT_TYPES.index("book")
    query = (persona * len(SEARCH_PHRASES[0]) + events["phrase"]) * len(CITIES) + city
    text = (persona * len(CHAT_TEMPLATES[0]) + events["template"]) * len(CITIES) + city
    frame = pl.DataFrame({
        "event_id": _uuid4s(rng, count),
        "user_id": _user_ids(events["user"]),
        "session_id": events["session_ids"].gather(events["session"]),
        "event_type": pieces["event_type"].gather(event_type),
        "occurred_at": _iso_times(events["occurred_ms"]),
        "city": pieces["city"].gather(city),
        "item_id": pieces["item_id"].gather(_present(events["item"], events["has_item"])),
        "dwell_ms": '"dwell_ms":' + pl.Series(_present(events["dwell_ms"], events["dwell_ms"] >= 0)).cast(pl.String),
        "vibe": pieces["vibe"].gather(_present(events["vibe"], events["vibe"] >= 0)),
        "query": pieces["query"].gather(_present(query, is_search)),
        "text": pieces["text"].gather(_present(text, is_chat)),
        "price": '"price":' + pl.Series(_present(events["price"], is_book)).cast(pl.String) + ',"currency":"EUR"',
        "extra": pl.repeat(None, count, dtype=pl.String, eager=True),
    })
    bad = bad_kind >= 0
    spoiled = _spoil(frame.filter(bad), bad_kind[bad], kinds, received_ms[bad], rng)
    props = pl.concat_str(
        [pl.lit("{"), pl.concat_str(PROP_PIECES, separator=",", ignore_nulls=True), pl.lit("}")]
    )
    if fmt == "parquet":
        columns = [*PARQUET_SCHEMA.names[:-1], props.alias("props")]
        return frame.select(columns), spoiled.select(columns)
    good_lines = frame.select(line=pl.concat_str([
        pl.lit('{"event_id":"'), "event_id", pl.lit('","user_id":"'), "user_id",
        pl.lit('","session_id":"'), "session_id", pl.lit('","event_type":"'), "event_type",
        pl.lit('","occurred_at":"'), "occurred_at", pl.lit('","props":'), props, pl.lit("}\n"),
    ]))
    # Bad rows may lack fields, and a NUL character must reach the line as the JSON escape.
    fields = [
        pl.lit(f'"{name}":"') + pl.col(name).str.replace_all("\x00", "\\u0000", literal=True) + pl.lit('"')
        for name in PARQUET_SCHEMA.names[:-1]
    ]
    members = pl.concat_str([*fields, pl.lit('"props":') + props], separator=",", ignore_nulls=True)
    line = pl.concat_str([pl.lit("{"), members, pl.lit("}")])
    truncated = kinds.index(MALFORMED_JSON) if MALFORMED_JSON in kinds else -1
    bad_lines = spoiled.with_columns(bad_kind=bad_kind[bad]).select(
        line=pl.when(pl.col("bad_kind") == truncated)
        .then(line.str.slice(0, line.str.len_chars() // 2))
        .otherwise(line) + pl.lit("\n")
    )
    return good_lines, bad_lines


def _spoil(
    rows: pl.DataFrame,
    bad_kind: np.ndarray,
    kinds: tuple[str, ...],
    received_ms: np.ndarray,
    rng: np.random.Generator,
) -> pl.DataFrame:
    """Turns each row into a bad row of its kind; a random variant picks how (which field, which value)."""
    kind, variant = pl.col("bad_kind"), pl.col("variant")

    def of(name: str, variants: int = 1, number: int = 0) -> pl.Expr:
        return (kind == kinds.index(name)) & (variant % variants == number) if name in kinds else pl.lit(False)

    def missing(name: str) -> pl.Expr:
        return of(MISSING_FIELD, len(REQUIRED_FIELDS), REQUIRED_FIELDS.index(name))

    none = pl.lit(None, dtype=pl.String)
    event_id, user_id, event_type = pl.col("event_id"), pl.col("user_id"), pl.col("event_type")
    future_ms = received_ms + rng.integers(25 * 3_600_000, 30 * DAY_MS, len(rows))
    ancient_ms = rng.integers(0, 946_684_800_000, len(rows))  # before 2000-01-01
    rows = rows.with_columns(
        bad_kind=bad_kind,
        variant=rng.integers(0, 12, len(rows)),
        future=_iso_times(future_ms),
        ancient=_iso_times(ancient_ms),
    )
    unknown_type = pl.lit(pl.Series(UNKNOWN_TYPES)).gather(variant % len(UNKNOWN_TYPES))
    deep = '"context":' + '{"context":' * (MAX_NESTING + 8) + "{}" + "}" * (MAX_NESTING + 8)
    # Base64-looking noise just over the size limit: a debug screenshot an SDK should never have sent.
    noise = "iVBORw0KGgoAAAANSUhEUgAA"
    oversized = '"debug_dump":"' + noise * (MAX_PAYLOAD_BYTES // len(noise) + 100) + '"'
    return rows.with_columns(
        event_id=pl.when(missing("event_id")).then(none)
        .when(of(INVALID_EVENT_ID, 3, 0)).then(event_id.str.slice(0, 35))
        .when(of(INVALID_EVENT_ID, 3, 1)).then(pl.lit("evt-") + event_id.str.slice(0, 8))
        .when(of(INVALID_EVENT_ID, 3, 2)).then(event_id.str.slice(0, 35) + pl.lit("g"))
        .otherwise(event_id),
        user_id=pl.when(missing("user_id")).then(none)
        .when(of(EMPTY_ID)).then(pl.lit(""))
        .when(of(ID_TOO_LONG)).then(user_id + pl.lit("x" * (MAX_ID_LENGTH + 44)))
        .when(of(NUL_BYTE, 2, 1)).then(user_id + pl.lit("\x00"))
        .otherwise(user_id),
        event_type=pl.when(missing("event_type")).then(none)
        .when(of(UNKNOWN_EVENT_TYPE)).then(unknown_type)
        .otherwise(event_type),
        occurred_at=pl.when(missing("occurred_at")).then(none)
        .when(of(BAD_TYPE, 2, 1)).then(pl.lit("yesterday"))
        .when(of(OCCURRED_IN_FUTURE)).then(pl.col("future"))
        .when(of(OCCURRED_TOO_OLD)).then(pl.col("ancient"))
        .otherwise(pl.col("occurred_at")),
        city=pl.when(of(NUL_BYTE, 2, 0))
        .then(pl.col("city").str.slice(0, 11) + pl.lit("\\u0000") + pl.col("city").str.slice(11))
        .when(of(INVALID_UTF8)).then(pl.col("city").str.strip_suffix('"') + pl.lit(UTF8_SENTINEL + '"'))
        .otherwise(pl.col("city")),
        dwell_ms=pl.when(of(BAD_TYPE, 2, 0)).then(pl.lit('"dwell_ms":"abc"')).otherwise(pl.col("dwell_ms")),
        extra=pl.when(of(OVERSIZE_PAYLOAD)).then(pl.lit(oversized))
        .when(of(TOO_DEEP)).then(pl.lit(deep))
        .otherwise(pl.col("extra")),
    ).drop("bad_kind", "variant", "future", "ancient")


def _split_batches(chunk: _Chunk, fmt: Format, batch_size: int, seq: int) -> Iterator[SignalBatch]:
    if fmt == "ndjson":
        # Each batch's NDJSON is a contiguous stretch of the lines' Arrow buffer: no per-row work.
        lines = chunk.rows["line"].rechunk().to_arrow().cast(pa.large_string())
        offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)[lines.offset:lines.offset + len(lines) + 1]
        data = _with_invalid_utf8(chunk, lines.buffers()[2], offsets)
    else:
        table = _arrow_table(chunk.rows)
    for number, received in enumerate(chunk.received_ms):
        start, stop = number * batch_size, min((number + 1) * batch_size, chunk.rows.height)
        counts = np.bincount(chunk.bad_kind[start:stop] + 1, minlength=len(chunk.kinds) + 1)[1:]
        seq += 1
        yield SignalBatch(
            seq=seq,
            received_at=datetime.fromtimestamp(received / 1000, UTC),
            rows=stop - start,
            duplicates=int(chunk.duplicate[start:stop].sum()),
            bad_rows={chunk.kinds[i]: int(n) for i, n in enumerate(counts) if n},
            payload=(
                bytes(data[offsets[start]:offsets[stop]]) if fmt == "ndjson" else table.slice(start, stop - start)
            ),
        )


def _with_invalid_utf8(chunk: _Chunk, data: pa.Buffer, offsets: np.ndarray) -> pa.Buffer | np.ndarray:
    """Overwrites each invalid_utf8 row's marker character with bytes that are not UTF-8."""
    rows = np.flatnonzero(chunk.bad_kind == chunk.kinds.index(INVALID_UTF8)) if INVALID_UTF8 in chunk.kinds else []
    if not len(rows):
        return data
    marked = chunk.rows["line"].gather(rows)
    marker_at = marked.str.slice(0, marked.str.find(UTF8_SENTINEL, literal=True)).str.len_bytes().to_numpy()
    patched = np.frombuffer(data, dtype=np.uint8).copy()
    for index, byte in enumerate(INVALID_UTF8_BYTES):
        patched[offsets[rows] + marker_at + index] = byte
    return patched


def _arrow_table(rows: pl.DataFrame) -> pa.Table:
    columns = rows.select(PARQUET_SCHEMA.names).to_arrow()
    arrays = [columns[name].combine_chunks().cast(pa.string()) for name in PARQUET_SCHEMA.names]
    arrays[-1] = pa.ExtensionArray.from_storage(PARQUET_SCHEMA.field("props").type, arrays[-1])
    return pa.Table.from_arrays(arrays, schema=PARQUET_SCHEMA)


def _parquet_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


def _present(values: np.ndarray, present: np.ndarray) -> pl.Series:
    """`values` with nulls where not `present`: a lookup by it yields null, which drops the piece."""
    return pl.Series(pa.array(values, mask=~present))


def _iso_times(epoch_ms: np.ndarray) -> pl.Series:
    return pl.from_epoch(pl.Series(epoch_ms), time_unit="ms").dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ")


# -- sampling helpers ----------------------------------------------------------------------------


def _cumulative(weights: np.ndarray) -> np.ndarray:
    cumulative = np.cumsum(weights, axis=1)
    return cumulative / cumulative[:, -1:]


def _pick(rng: np.random.Generator, cumulative: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """One category per element, drawn from the cumulative distribution in row `rows[i]`."""
    draws = rng.random(len(rows))
    choice = np.empty(len(rows), dtype=np.int64)
    # Per distinct row, searchsorted is far cheaper than comparing against every category.
    for row in np.unique(rows):
        mask = rows == row
        choice[mask] = np.searchsorted(cumulative[row], draws[mask], side="right")
    return np.minimum(choice, cumulative.shape[1] - 1)


def _city_popularity() -> np.ndarray:
    return np.arange(1, len(CITIES) + 1) ** -CITY_ZIPF_EXPONENT


def _persona_city_weights() -> np.ndarray:
    affinity = np.array([[city in favourites for city in CITIES] for favourites in PERSONA_CITIES])
    return _city_popularity()[None, :] * (1 + PERSONA_CITY_BOOST * affinity)


def _item_rank(rng: np.random.Generator, item_kind: np.ndarray, persona: np.ndarray) -> np.ndarray:
    """Popular items first (Zipf), each persona favouring its own stretch of every city's catalogue."""
    rank = np.empty(len(item_kind), dtype=np.int64)
    for kind, size in enumerate(ITEMS_PER_CITY):
        mask = item_kind == kind
        popularity = np.cumsum(np.arange(1, size + 1) ** -ITEM_ZIPF_EXPONENT)
        drawn = np.searchsorted(popularity / popularity[-1], rng.random(mask.sum()), side="right")
        rank[mask] = (np.minimum(drawn, size - 1) + persona[mask] * size // len(PERSONAS)) % size
    return rank


def _user_ids(users: np.ndarray) -> pl.Series:
    return "u_" + pl.Series(users + 1).cast(pl.String).str.zfill(6)


def _hex(raw: np.ndarray) -> np.ndarray:
    """Rows of bytes to rows of lower-case hex digits (ASCII codes)."""
    digits = np.empty((raw.shape[0], raw.shape[1] * 2), dtype=np.uint8)
    digits[:, 0::2] = HEX_DIGITS[raw >> 4]
    digits[:, 1::2] = HEX_DIGITS[raw & 0x0F]
    return digits


def _ascii_column(chars: np.ndarray) -> pl.Series:
    """A fixed-width ASCII matrix as a string column, without a Python object per row."""
    rows, width = chars.shape
    offsets = np.arange(0, (rows + 1) * width, width, dtype=np.int64)
    array = pa.LargeStringArray.from_buffers(rows, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(chars)))
    return pl.Series(array)


def _hex_ids(rng: np.random.Generator, prefix: str, count: int, nbytes: int) -> pl.Series:
    raw = np.frombuffer(rng.bytes(count * nbytes), dtype=np.uint8).reshape(count, nbytes)
    return prefix + _ascii_column(_hex(raw))


def _uuid4s(rng: np.random.Generator, count: int) -> pl.Series:
    raw = np.frombuffer(rng.bytes(count * 16), dtype=np.uint8).reshape(count, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    digits = _hex(raw)
    chars = np.full((count, 36), ord("-"), dtype=np.uint8)
    for start, stop, at in ((0, 8, 0), (8, 12, 9), (12, 16, 14), (16, 20, 19), (20, 32, 24)):
        chars[:, at:at + stop - start] = digits[:, start:stop]
    return _ascii_column(chars)
