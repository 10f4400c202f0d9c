"""``glue``: the command line.

::

    glue demo                                   the example shop, narrated
    glue dispatch --app MODULE:ATTR NAME [JSON] dispatch a command, print its response
    glue query    --app MODULE:ATTR [JSON]      run a query statement, print its rows
    glue explain  --app MODULE:ATTR [JSON]      print a query's plan
    glue schema   --app MODULE:ATTR             the tables of every database
    glue transactions list|recover --app MODULE:ATTR
                                                prepared transactions a crash left

``--app`` names an App, or a factory taking no arguments that returns one
(``domains.shop.app:make_app``). JSON comes from the argument, or from standard
input when it is left out or is ``-``.

Exit status: 0 on success; 2 for a usage error or input that does not validate
(every bad field is printed by path); 1 for any other glue error, printed on one
line (``--traceback`` prints the traceback too). An exception that is not a glue
error is a bug, in a handler or in glue, and ends the program with its traceback.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import traceback
from typing import TYPE_CHECKING, Any

import anyio

from ..domain.policy import Actor
from ..errors import FieldError, GlueError, ValidationError
from ..log import configure
from .commands import STATEMENT, run_dispatch, run_explain, run_query, run_schema
from .demo import run_demo
from .loading import load_app
from .transactions import run_transactions

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

__all__ = ["EXIT_ERROR", "EXIT_INVALID", "EXIT_OK", "main"]

EXIT_OK = 0
"""The command did what was asked."""

EXIT_ERROR = 1
"""A glue error: an unknown command or table, a refused actor, a bad ``--app``."""

EXIT_INVALID = 2
"""A usage error, or input that does not validate."""


_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``glue`` command.

    Args:
        argv: the arguments after the program name; ``sys.argv[1:]`` when None.

    Returns:
        The process exit status (:data:`EXIT_OK`, :data:`EXIT_ERROR` or
        :data:`EXIT_INVALID`).
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        actor = _actor(parser, args)
    except SystemExit as exc:  # argparse's way to end on --help or a usage error
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or EXIT_OK
        return EXIT_ERROR
    configure(args.log_level)
    try:
        anyio.run(_work(args, actor))
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`glue schema | head`): stop quietly, and keep
        # Python from complaining when it flushes standard output at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    except ValidationError as exc:
        _report(exc, args)
        print(f"glue: invalid {exc.entity}:", file=sys.stderr)
        for error in exc.errors:
            print(f"  {error.path}: {error.reason}", file=sys.stderr)
        return EXIT_INVALID
    except GlueError as exc:
        _report(exc, args)
        print(f"glue: {exc}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def _work(
    args: argparse.Namespace, actor: Actor | None
) -> Callable[[], Awaitable[Any]]:
    """The coroutine function the chosen subcommand runs."""
    if args.command == "demo":
        return functools.partial(run_demo, args.database)
    app = load_app(args.app)
    if args.command == "dispatch":
        payload = _payload(args.json, args.name)
        return functools.partial(run_dispatch, app, args.name, payload, actor=actor)
    if args.command == "query":
        payload = _payload(args.json, STATEMENT)
        return functools.partial(
            run_query, app, payload, table=args.table, timeout=args.timeout
        )
    if args.command == "explain":
        return functools.partial(run_explain, app, _payload(args.json, STATEMENT))
    if args.command == "transactions":
        return functools.partial(
            run_transactions, app, recover=args.action == "recover"
        )
    return functools.partial(run_schema, app, as_json=args.json)


def _payload(text: str | None, entity: str) -> bytes:
    """The JSON argument, or standard input when it is None or ``-``.

    Raises:
        glue.ValidationError: no JSON at all (empty input, or standard input is
            a terminal, where reading would wait for a person to type).
    """
    if text is not None and text != "-":
        data = text.encode()
    elif sys.stdin.isatty():
        data = b""
    else:
        stream = getattr(sys.stdin, "buffer", None)
        data = stream.read() if stream is not None else sys.stdin.read().encode()
    if not data.strip():
        raise ValidationError(
            entity,
            [FieldError("$", "no JSON: give it as an argument, or on standard input")],
        )
    return data


def _actor(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Actor | None:
    """The Actor ``--actor`` and ``--permission`` describe, if any."""
    actor_id: str | None = getattr(args, "actor", None)
    permissions: list[str] = getattr(args, "permission", None) or []
    if actor_id is None:
        if permissions:
            parser.error("--permission needs --actor ID: whose permission is it?")
        return None
    return Actor(id=actor_id, permissions=frozenset(permissions))


def _report(exc: BaseException, args: argparse.Namespace) -> None:
    """Print the traceback of ``exc`` when ``--traceback`` asked for it."""
    if getattr(args, "traceback", False):
        traceback.print_exception(exc, file=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="glue",
        description="glue: the command line of an asyncio-first CQRS framework.",
        epilog="Exit status: 0 done, 1 a glue error, 2 a usage error or invalid input.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    with_app = argparse.ArgumentParser(add_help=False)
    with_app.add_argument(
        "--log-level",
        default="ERROR",
        type=str.upper,
        choices=_LEVELS,
        help="WARNING logs failed dispatches too, DEBUG every dispatch",
    )
    with_app.add_argument(
        "--app",
        required=True,
        metavar="MODULE:ATTR",
        help="the App, or a factory taking no arguments that returns one, "
        "such as domains.shop.app:make_app (imported from the current directory)",
    )
    with_app.add_argument(
        "--traceback",
        action="store_true",
        help="print the traceback of an error, not just its message",
    )
    json_help = "the JSON; read from standard input when left out or '-'"

    demo = commands.add_parser(
        "demo", help="run the example shop domain on databases and narrate it"
    )
    demo.add_argument(
        "--log-level",
        default="WARNING",
        type=str.upper,
        choices=_LEVELS,
        help="DEBUG shows every dispatch",
    )
    demo.add_argument(
        "--database",
        metavar="URL",
        help="keep every table in this database (sqlite:///shop.db, "
        "postgresql://...); by default two SQLite files in a temporary directory",
    )

    dispatch = commands.add_parser(
        "dispatch",
        parents=[with_app],
        help="dispatch a command and print its response as JSON",
        description="Decode JSON as the command NAME, dispatch it on the app's "
        "bus, print the response as JSON.",
    )
    dispatch.add_argument("name", metavar="NAME", help="the command, domain:name")
    dispatch.add_argument("json", metavar="JSON", nargs="?", help=json_help)
    dispatch.add_argument("--actor", metavar="ID", help="who dispatches the command")
    dispatch.add_argument(
        "--permission",
        metavar="P",
        action="append",
        help="a permission of the actor (repeat for several)",
    )

    query = commands.add_parser(
        "query",
        parents=[with_app],
        help="run a query statement (JSON) and print its rows",
        description="Run a glue.query.QueryStatement given as JSON; print each "
        "row as a line of JSON, or a table.",
    )
    query.add_argument("json", metavar="JSON", nargs="?", help=json_help)
    query.add_argument("--table", action="store_true", help="print a text table")
    query.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="give up after this long"
    )

    explain = commands.add_parser(
        "explain",
        parents=[with_app],
        help="print the plan of a query statement (JSON) as a tree",
        description="Print which part of a query runs on which database, with "
        "its SQL, and what runs in memory.",
    )
    explain.add_argument("json", metavar="JSON", nargs="?", help=json_help)

    schema = commands.add_parser(
        "schema",
        parents=[with_app],
        help="list each database's tables, columns, keys and indexes",
    )
    schema.add_argument("--json", action="store_true", help="print JSON instead")

    transactions = commands.add_parser(
        "transactions",
        parents=[with_app],
        help="list or finish the prepared transactions two-phase commit left",
        description="list: each prepared transaction glue left in the app's "
        "databases, with its unit's decision; recover: commit or roll back each "
        "as its unit decided (status 1 if one is left). The App itself is not "
        "opened; opening it recovers too.",
    )
    transactions.add_argument("action", choices=("list", "recover"))
    return parser
