"""``glue``: the command line.

::

    glue demo                                   the example shop, narrated
    glue dispatch --app MODULE:ATTR NAME [JSON] dispatch a command, print its response
    glue query    --app MODULE:ATTR [JSON]      run a query statement, print its rows
    glue explain  --app MODULE:ATTR [JSON]      print a query's plan
    glue schema   --app MODULE:ATTR             the tables of every database
    glue schema   --app MODULE:ATTR --diff      how they differ from the schemas
    glue schema   --app MODULE:ATTR --apply     add missing tables, columns, indexes
    glue config                                 the configuration, and its sources
    glue serve    --app MODULE:ATTR             serve it on HTTP (uvicorn)
    glue transactions list|recover --app MODULE:ATTR
                                                prepared transactions a crash left

``--app`` names an App, or a factory that returns one
(``domains.shop.app:make_app``); without it, the configuration's ``app`` (see
:mod:`glue.config`: ``glue.toml``, ``[tool.glue]`` in ``pyproject.toml``,
``GLUE_APP``). A factory with a ``config`` parameter gets the configuration, so
it can read its databases there. ``--log-level`` and ``--config FILE`` are
layers of the configuration too. JSON comes from the argument, or from
standard input when it is left out or is ``-``.

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

from ..config import CONFIG_FILE, ENV_PREFIX, LEVELS, PYPROJECT, resolve
from ..domain.policy import Actor
from ..errors import FieldError, GlueError, ValidationError
from ..log import configure
from ..query.decoding import STATEMENT
from .commands import run_dispatch, run_explain, run_query, run_schema
from .config import run_config
from .demo import run_demo
from .loading import load_app
from .outbox import (
    run_dead_letters,
    run_outbox_prune,
    run_outbox_status,
    run_worker_command,
)
from .serve import ServeOptions, serve
from .transactions import run_transactions

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from ..config import Resolved

__all__ = ["EXIT_ERROR", "EXIT_INVALID", "EXIT_OK", "main"]

EXIT_OK = 0
"""The command did what was asked."""

EXIT_ERROR = 1
"""A glue error: an unknown command or table, a refused actor, a bad ``--app``."""

EXIT_INVALID = 2
"""A usage error, or input that does not validate."""


_LOG_LEVEL = "ERROR"
"""The commands' logging level when nothing configures one."""


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
    try:
        if args.command == "serve":
            options = _serve_options(args)
            if options is None:
                return _no_app(args)
            configure(options.log_level, json=options.log_json)
            serve(options)
            return EXIT_OK
        work = _work(args, actor)
        if work is None:
            return _no_app(args)
        anyio.run(work)
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


def _no_app(args: argparse.Namespace) -> int:
    print(
        f"glue {args.command}: error: no app: give --app MODULE:ATTR, or "
        f'app = "MODULE:ATTR" in {CONFIG_FILE}, or {ENV_PREFIX}APP',
        file=sys.stderr,
    )
    return EXIT_INVALID


def _serve_options(args: argparse.Namespace) -> ServeOptions | None:
    """How ``glue serve`` serves: the configuration's ``[serve]``, app and
    logging, with the flags given on top; None when nothing names an app.

    Raises:
        glue.ConfigurationError: the configuration cannot be read.
    """
    flags = {"app": args.app, "logging.level": args.log_level}
    flags.update(
        {f"serve.{key}": getattr(args, key) for key in ("host", "port", "workers")}
    )
    flags["serve.reload"] = args.reload
    config = resolve(args.config, flags=flags).config
    if config.app is None:
        return None
    return ServeOptions(
        app=config.app,
        host=config.serve.host,
        port=config.serve.port,
        workers=config.serve.workers,
        reload=config.serve.reload,
        log_level=config.logging.level or "INFO",
        log_json=config.logging.json,
    )


def _work(
    args: argparse.Namespace, actor: Actor | None
) -> Callable[[], Awaitable[Any]] | None:
    """The coroutine function the chosen subcommand runs; None when it needs an
    App and nothing names one.

    Raises:
        glue.ConfigurationError: the configuration or the App cannot be read.
    """
    if args.command == "demo":
        configure(args.log_level)
        return functools.partial(run_demo, args.database)
    target = getattr(args, "target", None)
    resolved = resolve(
        args.config,
        flags={"app": target or args.app, "logging.level": args.log_level},
    )
    if args.command == "config":
        return functools.partial(_show, resolved, args.json)
    config = resolved.config
    configure(config.logging.level or _LOG_LEVEL, json=config.logging.json)
    if config.app is None:
        return None
    source = resolved.sources["app"]
    origin = {
        "flag": "--app",
        "env": source.name,
        "file": f"{source.name}: {'.'.join(filter(None, (source.prefix, 'app')))}",
    }[source.layer]
    app = load_app(config.app, origin=origin, config=config)
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
    nats = None
    if getattr(args, "transport", None) == "nats":
        nats = {
            "url": args.nats_url,
            "stream": args.nats_stream,
            "prefix": args.nats_prefix,
            "ack_wait": args.nats_ack_wait,
        }
    if args.command == "worker":
        return functools.partial(
            run_worker_command,
            app,
            concurrency=args.concurrency,
            lease=args.lease,
            grace=args.grace,
            nats=nats,
        )
    if args.command == "outbox" and args.action == "prune":
        return functools.partial(run_outbox_prune, app, older_than=args.older_than)
    if args.command == "outbox":
        return functools.partial(run_outbox_status, app, nats=nats)
    if args.command == "dead-letters":
        return functools.partial(
            run_dead_letters,
            app,
            retry=args.action == "retry",
            event_id=args.event,
            subscriber=args.subscriber,
        )
    return functools.partial(
        run_schema, app, as_json=args.json, diff=args.diff, apply=args.apply
    )


async def _show(resolved: Resolved, as_json: bool) -> None:
    run_config(resolved, as_json=as_json)


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

    configured = argparse.ArgumentParser(add_help=False)
    configured.add_argument(
        "--app",
        metavar="MODULE:ATTR",
        help="the App, or a factory that returns one, such as "
        "domains.shop.app:make_app (imported from the current directory); "
        f"by default the configuration's app ({CONFIG_FILE}, {ENV_PREFIX}APP)",
    )
    configured.add_argument(
        "--log-level",
        type=str.upper,
        choices=LEVELS,
        help=f"{_LOG_LEVEL} unless configured; WARNING logs failed dispatches "
        "too, INFO refused ones, DEBUG every one",
    )
    configured.add_argument(
        "--config",
        metavar="FILE",
        help=f"the configuration file; by default {CONFIG_FILE}, or else "
        f"[tool.glue] in {PYPROJECT}, in the current directory",
    )
    configured.add_argument(
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
        choices=LEVELS,
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
        parents=[configured],
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
        parents=[configured],
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
        parents=[configured],
        help="print the plan of a query statement (JSON) as a tree",
        description="Print which part of a query runs on which database, with "
        "its SQL, and what runs in memory.",
    )
    explain.add_argument("json", metavar="JSON", nargs="?", help=json_help)

    schema = commands.add_parser(
        "schema",
        parents=[configured],
        help="list each database's tables, columns, keys and indexes",
        description="List each database's tables; with --diff, how the app's "
        "declared tables differ from them (exit status 1 if they do); with "
        "--apply, create missing tables and add missing columns and indexes, "
        "refusing (exit status 1) what would rewrite or lose data.",
    )
    schema.add_argument("--json", action="store_true", help="print JSON instead")
    action = schema.add_mutually_exclusive_group()
    action.add_argument(
        "--diff",
        action="store_true",
        help="compare the app's declared tables with the databases",
    )
    action.add_argument(
        "--apply",
        action="store_true",
        help="add what is missing (tables, columns, indexes); refuse the rest",
    )

    config = commands.add_parser(
        "config",
        parents=[configured],
        help="show the configuration and where each value came from",
        description="Show the configuration (defaults, then the file, then "
        f"{ENV_PREFIX}* variables, then flags) and where each value came from; "
        "database passwords are hidden.",
    )
    config.add_argument("--json", action="store_true", help="print JSON instead")

    # Flags left out are None: the configuration's values (see glue.config) stand.
    serve_ = commands.add_parser(
        "serve",
        parents=[configured],
        help="serve the app on HTTP under uvicorn",
        description="Serve an HttpApp (glue.http), or an App as glue.http.asgi(app), "
        "under uvicorn until interrupted. --app may also name an HttpApp or a "
        "factory of one, such as domains.shop.api:make_api.",
    )
    serve_.add_argument("--host", help="the address to listen on (127.0.0.1)")
    serve_.add_argument("--port", type=int, help="the port to listen on (8000)")
    serve_.add_argument("--workers", type=int, help="how many processes serve (1)")
    serve_.add_argument(
        "--reload",
        action="store_const",
        const=True,
        help="restart when a source file changes (development)",
    )

    transactions = commands.add_parser(
        "transactions",
        parents=[configured],
        help="list or finish the prepared transactions two-phase commit left",
        description="list: each prepared transaction glue left in the app's "
        "databases, with its unit's decision; recover: commit or roll back each "
        "as its unit decided (status 1 if one is left). The App itself is not "
        "opened; opening it recovers too.",
    )
    transactions.add_argument("action", choices=("list", "recover"))

    transport = argparse.ArgumentParser(add_help=False)
    transport.add_argument(
        "--transport",
        choices=("postgres", "nats"),
        default="postgres",
        help="postgres: claim deliveries from the outbox database (default); "
        "nats: relay the outbox to NATS JetStream and deliver from there, and "
        "show its consumers' lag in outbox status (needs the nats extra)",
    )
    transport.add_argument(
        "--nats-url",
        default="nats://127.0.0.1:4222",
        help="the NATS server, several joined by commas (nats://127.0.0.1:4222)",
    )
    transport.add_argument(
        "--nats-stream", default="GLUE", help="the JetStream stream (GLUE)"
    )
    transport.add_argument(
        "--nats-prefix",
        default="glue",
        help="the first token of the subjects, PREFIX.DOMAIN.EVENT (glue)",
    )
    transport.add_argument(
        "--nats-ack-wait",
        type=float,
        default=30.0,
        help="seconds before a message a worker took and did not answer goes "
        "to another worker (30)",
    )

    worker = commands.add_parser(
        "worker",
        parents=[configured, transport],
        help="run the app's subscribers: deliver its outbox until SIGTERM",
        description="Claim the app's outbox deliveries (FOR UPDATE SKIP LOCKED "
        "on PostgreSQL: start as many workers as you like), run each "
        "subscriber through its inbox, wake on LISTEN/NOTIFY. SIGTERM or "
        "SIGINT: finish what is in flight (up to --grace seconds), then exit.",
    )
    worker.add_argument(
        "target", nargs="?", metavar="APP", help="MODULE:ATTR, as --app"
    )
    worker.add_argument(
        "--concurrency",
        type=int,
        default=8,
        help="transactions delivering at once per outbox database (8)",
    )
    worker.add_argument(
        "--lease",
        type=float,
        default=30.0,
        help="seconds a claimed delivery is held before another worker may "
        "take it: longer than any subscriber runs (30)",
    )
    worker.add_argument(
        "--grace",
        type=float,
        default=10.0,
        help="seconds a stop waits for deliveries in flight (10)",
    )
    outbox = commands.add_parser(
        "outbox",
        parents=[configured, transport],
        help="what the app's outbox holds (status): pending, in flight, dead "
        "letters, lag; or delete what no delivery needs any more (prune)",
    )
    outbox.add_argument("action", choices=("status", "prune"))
    outbox.add_argument(
        "--older-than",
        type=float,
        default=7 * 86400.0,
        metavar="SECONDS",
        help="prune: delete delivered events and inbox rows older than this (a week)",
    )

    letters = commands.add_parser(
        "dead-letters",
        parents=[configured],
        help="list the deliveries parked after their last attempt, or retry them",
        description="list: each dead letter with its error; retry: deliver "
        "them again (applied unless that event was applied already).",
    )
    letters.add_argument("action", choices=("list", "retry"))
    letters.add_argument("--event", metavar="ID", help="only this event's")
    letters.add_argument("--subscriber", metavar="NAME", help="only this one's")
    return parser
