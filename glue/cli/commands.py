"""The work behind ``glue dispatch``, ``query``, ``explain`` and ``schema``
(``--diff``, ``--apply``).

Each function takes an App that is not open yet, checks its input first (so a
bad request opens no database and changes nothing), then opens the App with
``async with`` and closes it before returning. Output goes to standard output:
JSON for responses and rows, readable text for plans and schemas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from ..errors import SchemaError
from ..query.decoding import decode_statement
from ..services.diff import Difference, apply_diffs, diff_tables
from ..services.schema import SchemaQueryService
from ..sql.dialects import TableInfo

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from ..connections.abc import ConnectionPool
    from ..domain.app import App
    from ..domain.policy import Actor

__all__ = [
    "DatabaseSchema",
    "describe_databases",
    "format_differences",
    "format_schema",
    "format_table",
    "run_dispatch",
    "run_explain",
    "run_query",
    "run_schema",
]


class DatabaseSchema(msgspec.Struct, frozen=True, kw_only=True):
    """What ``glue schema`` reports for one database.

    Attributes:
        database: the database's name in the App (``"default"``, ``"orders"``).
        dialect: the name of its dialect (``sqlite``, ``postgres``).
        tables: its tables, by name.
    """

    database: str
    dialect: str
    tables: tuple[TableInfo, ...]


async def run_dispatch(
    app: App, name: str, payload: bytes, *, actor: Actor | None = None
) -> None:
    """Decode ``payload`` as the command ``name``, dispatch it, print the
    response as one line of JSON.

    Raises:
        glue.UnknownCommand: no domain of the app registered ``name``.
        glue.ValidationError: the payload is not valid JSON or does not fit the
            command (checked before the app opens).
        glue.GlueError: whatever the dispatch raised.
    """
    command = app.decode(name, payload)
    async with app:
        response = await app.bus.dispatch(command, actor=actor)
    print(msgspec.json.encode(response).decode())


async def run_query(
    app: App, payload: bytes, *, table: bool = False, timeout: float | None = None
) -> None:
    """Run the query statement in ``payload`` and print its rows, one JSON
    object a line, or as a table with ``table=True``.

    Raises:
        glue.ValidationError: ``payload`` is not a query statement.
        glue.QueryError: it names an unknown table, field or lookup.
    """
    statement = decode_statement(payload)
    async with app:
        rows = await app.query(statement, timeout=timeout)
    if table:
        print(format_table(rows))
    else:
        for row in rows:
            print(msgspec.json.encode(row).decode())


async def run_explain(app: App, payload: bytes) -> None:
    """Print the plan of the query statement in ``payload`` as a tree.

    Raises:
        glue.ValidationError: ``payload`` is not a query statement.
        glue.QueryError: it names an unknown table, field or lookup.
    """
    statement = decode_statement(payload)
    async with app:
        plan = await app.explain(statement)
    print(plan)


async def run_schema(
    app: App, *, as_json: bool = False, diff: bool = False, apply: bool = False
) -> None:
    """Print every database of the app with its tables, columns, keys and
    indexes, as text or (``as_json=True``) as one JSON document.

    Args:
        app: the app, not open yet.
        as_json: print JSON.
        diff: print how the app's declared tables differ from the databases
            instead (see :mod:`glue.services.diff`).
        apply: create missing tables and add missing columns and indexes, then
            print what was done and what was refused.

    Raises:
        glue.SchemaError: with ``diff``, there are differences; with ``apply``,
            some were refused (after printing them).
    """
    if not (diff or apply):
        async with app:
            databases = await describe_databases(app.connections.pools)
        if as_json:
            print(msgspec.json.encode(databases).decode())
        else:
            print(format_schema(databases))
        return
    # The tables may not match: open without the app's own startup check.
    app.create_tables_at_open = False
    tables = [(t.schema, t.database) for t in app.registry.tables.values()]
    async with app:
        diffs = await diff_tables(app.connections, tables)
        differences = [d for table in diffs for d in table.differences]
        if diff:
            if as_json:
                print(msgspec.json.encode(differences).decode())
            else:
                print(format_differences(differences))
            if differences:
                raise SchemaError(
                    f"{len(differences)} difference(s) between the declared "
                    "tables and the databases"
                )
            return
        applied, refused = await apply_diffs(app.connections, diffs)
    if as_json:
        print(msgspec.json.encode({"applied": applied, "refused": refused}).decode())
    else:
        lines = [f"added: {d}" for d in applied]
        lines += [f"refused: {d} ({d.refusal})" for d in refused]
        print("\n".join(lines) or "nothing to do: every declared table matches")
    if refused:
        raise SchemaError(
            f"refused {len(refused)} change(s); change those tables yourself"
        )


def format_differences(differences: Sequence[Difference]) -> str:
    """One line per difference, saying what ``--apply`` would do about it."""
    if not differences:
        return "no differences: every declared table matches its database"
    lines = []
    for difference in differences:
        if difference.fix is not None:
            action = "--apply adds it"
        else:
            action = f"--apply refuses: {difference.refusal}"
        breaks = ", breaks reads or writes" if difference.breaks else ""
        lines.append(f"{difference} ({action}{breaks})")
    return "\n".join(lines)


async def describe_databases(
    pools: Mapping[str, ConnectionPool],
) -> list[DatabaseSchema]:
    """Describe each distinct pool of ``pools`` (name → pool), once, under the
    first name it is registered by (tables routed to a pool share it)."""
    seen: dict[int, str] = {}
    described: list[DatabaseSchema] = []
    for name, pool in pools.items():
        if id(pool) in seen:
            continue
        seen[id(pool)] = name
        tables = [
            msgspec.structs.replace(table, database=name)
            for table in await SchemaQueryService(pool).describe_all()
        ]
        described.append(
            DatabaseSchema(
                database=name, dialect=pool.dialect.name, tables=tuple(tables)
            )
        )
    return described


def format_schema(databases: Sequence[DatabaseSchema]) -> str:
    """The databases as indented text: each table's columns (portable type,
    database type, nullability), primary key, indexes and constraints."""
    lines: list[str] = []
    for database in databases:
        count = len(database.tables)
        lines.append(
            f"database {database.database} ({database.dialect}): "
            f"{count} table{'' if count == 1 else 's'}"
        )
        for info in database.tables:
            lines.append(f"  table {info.name}")
            width = max((len(c.name) for c in info.columns), default=0)
            for column in info.columns:
                portable = column.type.value if column.type else "?"
                null = "null" if column.nullable else "not null"
                key = "  primary key" if column.name in info.primary_key else ""
                lines.append(
                    f"    {column.name:<{width}}  {portable:<8}  "
                    f"{column.sql_type} {null}{key}"
                )
            lines.append(f"    primary key ({', '.join(info.primary_key)})")
            for index in info.indexes:
                unique = "unique " if index.unique else ""
                lines.append(
                    f"    {unique}index {index.name} ({', '.join(index.columns)})"
                )
            for constraint in info.constraints:
                target = (
                    f" references {constraint.references}"
                    if constraint.references
                    else ""
                )
                lines.append(
                    f"    {constraint.kind} {constraint.name} "
                    f"({', '.join(constraint.columns)}){target}"
                )
    return "\n".join(lines)


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """Rows as a text table: a header of the output names, a rule, a line per
    row, and the row count. Text (dates and times included) prints as it is,
    other values as JSON."""
    columns = _columns(rows)
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [
        max([len(name), *(len(line[i]) for line in cells)])
        for i, name in enumerate(columns)
    ]
    out = [
        " | ".join(n.ljust(w) for n, w in zip(columns, widths, strict=True)),
        "-+-".join("-" * w for w in widths),
    ]
    out.extend(
        " | ".join(v.ljust(w) for v, w in zip(line, widths, strict=True))
        for line in cells
    )
    out.append(f"({len(rows)} row{'' if len(rows) == 1 else 's'})")
    return "\n".join(line.rstrip() for line in out)


def _columns(rows: Iterable[dict[str, Any]]) -> list[str]:
    """Every key of the rows, in the order first seen."""
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def _cell(value: object) -> str:
    plain = msgspec.to_builtins(value)  # datetimes, decimals, uuids: as text
    if isinstance(plain, str):
        return plain
    return msgspec.json.encode(plain).decode()
