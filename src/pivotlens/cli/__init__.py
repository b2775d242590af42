"""`pivotlens <command>`: the top floor over the library (docs/design.md). Commands register
statically here; each handler imports the library it needs, so `--help` loads no torch. User errors
print one line and exit 2."""

from __future__ import annotations

import argparse
import sys

from pivotlens.cli import clwtd, corpus, lens, pivots, selection, study, training
from pivotlens.errors import PivotlensError

COMMAND_GROUPS = (study, clwtd, lens, corpus, pivots, selection, training)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pivotlens", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for group in COMMAND_GROUPS:
        group.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.handler(args)
    except PivotlensError as error:
        print(f"pivotlens: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pivotlens: interrupted; finished work is saved, rerun the same command to resume", file=sys.stderr)
        return 130
    return 0
