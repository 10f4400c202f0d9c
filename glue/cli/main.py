"""``glue``: the command line. For now one subcommand, ``demo``."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING

import anyio

from ..errors import GlueError
from ..log import configure
from .demo import run_demo

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``glue`` command.

    Args:
        argv: the arguments after the program name; ``sys.argv[1:]`` when None.

    Returns:
        The process exit status.
    """
    parser = argparse.ArgumentParser(prog="glue", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="run the example shop domain on databases and narrate it"
    )
    demo.add_argument(
        "--database",
        metavar="URL",
        help="keep every table in this database (sqlite:///shop.db, "
        "postgresql://...); by default two SQLite files in a temporary directory",
    )
    demo.add_argument(
        "--log-level", default="WARNING", help="DEBUG shows every dispatch"
    )
    args = parser.parse_args(argv)
    configure(logging.getLevelNamesMapping().get(args.log_level.upper(), logging.INFO))
    try:
        if args.command == "demo":
            anyio.run(run_demo, args.database)
    except GlueError as exc:
        print(f"glue: {exc}", file=sys.stderr)
        return 1
    return 0
