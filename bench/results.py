"""Figures a benchmark measured, collected for `bench/report.py` (which writes RESULTS.md).

Each bench prints its own table; `record` also appends the figure as one JSON line to the file
named by DISTILLERY_BENCH_RESULTS, when set (`make bench` sets it), so one report can gather them.
"""

import json
import os
from dataclasses import asdict, dataclass

RESULTS_ENV = "DISTILLERY_BENCH_RESULTS"


@dataclass(frozen=True)
class Figure:
    bench: str
    figure: str
    value: float
    unit: str
    target: str = ""
    met: bool | None = None
    baseline: str = ""
    baseline_value: float | None = None
    # How many times better than the baseline (higher is better, whatever the unit).
    ratio: float | None = None


def record(figure: Figure) -> Figure:
    path = os.environ.get(RESULTS_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(asdict(figure)) + "\n")
    return figure


def read(path: str) -> list[Figure]:
    with open(path, encoding="utf-8") as source:
        return [Figure(**json.loads(line)) for line in source if line.strip()]
