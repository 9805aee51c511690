"""`python -m agentgym.replay FILE [--filter F] [--plain] [--reexec]` (same as `agentgym replay`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agentgym.replay.cli import replay_command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agentgym.replay", description=__doc__)
    parser.add_argument("path", type=Path)
    parser.add_argument("--episode", "-i", type=int)
    parser.add_argument("--filter", "-f", action="append", dest="filters")
    parser.add_argument("--plain", action="store_true", default=None)
    parser.add_argument("--reexec", action="store_true")
    parser.add_argument("--ignore", action="append")
    parser.add_argument("--limit", type=int, default=2000)
    args = parser.parse_args(argv)
    return replay_command(
        args.path,
        episode=args.episode,
        filters=args.filters,
        plain=args.plain,
        reexec=args.reexec,
        ignore=args.ignore,
        limit=args.limit,
    )


if __name__ == "__main__":
    sys.exit(main())
