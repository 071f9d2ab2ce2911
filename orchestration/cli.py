"""The `distillery` command line: each subcommand builds its resources from the environment once."""

import argparse
import sys
from collections.abc import Callable

from orchestration import (
    analyst,
    cache_cli,
    commands,
    demo,
    distill_cli,
    erasure_cli,
    health_cli,
    profile_cli,
    similar_cli,
    synthetic,
)

# Each module adds its subcommands; a subcommand's handler takes the parsed args and returns an exit code.
COMMAND_MODULES: list[Callable[[argparse._SubParsersAction], None]] = [
    commands.register_cli,
    synthetic.register_cli,
    demo.register_cli,
    distill_cli.register_cli,
    profile_cli.register_cli,
    similar_cli.register_cli,
    analyst.register_cli,
    health_cli.register_cli,
    cache_cli.register_cli,
    erasure_cli.register_cli,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="distillery",
        description="Raw user signals in, small permanent user intelligence out.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in COMMAND_MODULES:
        register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    finally:
        from resources.postgres import close_pools

        close_pools()


if __name__ == "__main__":
    sys.exit(main())
