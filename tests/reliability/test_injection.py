"""An injection corpus against values, names, DDL and LIKE patterns, on SQLite and
on PostgreSQL under both settings of ``standard_conforming_strings`` (#13, point
6).

With the setting off, PostgreSQL reads a backslash in a plain ``'...'`` literal as
an escape: DDL literals that only doubled quotes let ``\\'; DROP TABLE t; --``
end the literal and run the rest, and every ``LIKE ... ESCAPE '\\'`` failed to
parse. Each database here is the test's own (``ALTER DATABASE ... SET``), so the
shared server's configuration is left alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg
import pytest

from glue import DatabaseError, QueryError, SchemaError
from glue.connections import ConnectionManager, Statement
from glue.query import (
    Condition,
    Conditions,
    FieldLookup,
    FieldReference,
    QueryStatement,
    SchemaReference,
    Value,
)
from glue.schema import Check, Column, ColumnType, Schema
from glue.services.reads import DataQueryService
from glue.services.schema import SchemaCommandService, SchemaQueryService
from glue.state import Row
from glue.work import Repository, UnitOfWork

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from pathlib import Path

CORPUS = [
    "'",
    "''",
    "\\",
    "\\\\",
    "\\'",
    "'; DROP TABLE notes; --",
    "\\'; DROP TABLE notes; --",
    "\\''; DROP TABLE notes; --",
    "$$; DROP TABLE notes; $$",
    "$glue$",
    "%",
    "_",
    "!",
    "!%",
    "\\%",
    "\\_",
    "a_b%c!d\\e",
    "E'x'",
    "--",
    "/* */",
    "?",
    "$1",
    "\n\t",
    '"',
    '"; DROP TABLE notes; --',
    "ü€😀",
]

NOTES = Schema(
    name="notes",
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        Column(name="body", type=ColumnType.TEXT),
    ),
    primary_key=("id",),
)


class Notes(Repository[Row]):
    schema = NOTES


async def _set_database(dsn: str, setting: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        name = await conn.fetchval("SELECT current_database()")
        await conn.execute(
            f'ALTER DATABASE "{name}" SET standard_conforming_strings = {setting}'
        )
    finally:
        await conn.close()


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres-standard", marks=pytest.mark.postgres),
        pytest.param("postgres-backslashes", marks=pytest.mark.postgres),
    ]
)
async def manager(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[ConnectionManager]:
    """An open manager on SQLite, or on a PostgreSQL database whose sessions have
    ``standard_conforming_strings`` on (standard) or off (backslashes)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'injection.sqlite'}"
    else:
        url = request.getfixturevalue("postgres_dsn")
        setting = "off" if request.param == "postgres-backslashes" else "on"
        await _set_database(url, setting)
    async with ConnectionManager.from_urls({"default": url}) as opened:
        pool = opened.get_connection_pool()
        if pool.dialect.name == "postgres":
            async with pool.acquire() as conn:
                shown = await conn.fetch("SHOW standard_conforming_strings")
            assert shown.rows == [(setting,)]
        await SchemaCommandService(pool).create_table(NOTES)
        yield opened


async def table_exists(manager: ConnectionManager) -> bool:
    return "notes" in await SchemaQueryService(manager.get_connection_pool()).tables()


async def test_values_are_stored_and_matched_literally(
    manager: ConnectionManager,
) -> None:
    async with UnitOfWork(manager):
        for index, text in enumerate(CORPUS):
            await Notes().create({"id": index, "body": text})
    service = DataQueryService(manager, [NOTES])
    body = FieldReference.of("notes", "body")
    lookups: dict[FieldLookup, Callable[[str, str], bool]] = {
        FieldLookup.EQ: lambda row, text: row == text,
        FieldLookup.CONTAINS: lambda row, text: text in row,
        FieldLookup.ICONTAINS: lambda row, text: text.lower() in row.lower(),
        FieldLookup.STARTSWITH: lambda row, text: row.startswith(text),
        FieldLookup.ISTARTSWITH: lambda row, text: row.lower().startswith(text.lower()),
        FieldLookup.ENDSWITH: lambda row, text: row.endswith(text),
        FieldLookup.IENDSWITH: lambda row, text: row.lower().endswith(text.lower()),
    }
    for text in CORPUS:
        for lookup, matches in lookups.items():
            rows = await service.execute(
                QueryStatement(
                    table=SchemaReference(name="notes"),
                    where=Conditions(
                        Condition(field=body, lookup=lookup, value=Value(text))
                    ),
                )
            )
            expected = {i for i, row in enumerate(CORPUS) if matches(row, text)}
            assert {row["id"] for row in rows} == expected, (lookup, text)
        async with UnitOfWork(manager):
            for name in ("eq", "contains", "startswith"):
                found = await Notes().query({f"body__{name}": text})
                expected = {
                    i
                    for i, row in enumerate(CORPUS)
                    if {"eq": row == text, "contains": text in row}.get(
                        name, row.startswith(text)
                    )
                }
                assert {row["id"] for row in found} == expected, (name, text)
    assert await table_exists(manager)


@pytest.mark.parametrize("text", CORPUS)
async def test_a_column_default_is_data_never_sql(
    manager: ConnectionManager, text: str
) -> None:
    pool = manager.get_connection_pool()
    schemas = SchemaCommandService(pool)
    column = Column(name="c", type=ColumnType.TEXT, default=text)
    schema = await schemas.add_column(NOTES, column)
    assert await table_exists(manager)
    async with pool.acquire(write=True) as conn:
        await conn.execute("INSERT INTO notes (id, body, etag) VALUES (1, 'b', 'e')")
        result = await conn.fetch("SELECT c FROM notes WHERE id = 1")
    assert result.rows == [(text,)]
    checked = Schema(
        name="notes",
        columns=schema.columns,
        primary_key=("id",),
        constraints=(Check(name="c_from_text", column="c", op=">=", value=text),),
    )
    await schemas.add_constraint(schema, checked.constraints[0])
    assert await table_exists(manager)


async def test_text_holding_two_statements_runs_neither(
    manager: ConnectionManager,
) -> None:
    pool = manager.get_connection_pool()
    async with pool.acquire(write=True) as conn:
        with pytest.raises(DatabaseError):
            await conn.execute("SELECT 1; DROP TABLE notes")
        with pytest.raises(DatabaseError):
            await conn.batch([Statement("SELECT 1; DROP TABLE notes")])
    assert await table_exists(manager)


@pytest.mark.parametrize("name", [n for n in CORPUS if n != "_"])  # "_" is a name
async def test_a_hostile_name_is_refused_before_any_sql(
    manager: ConnectionManager, name: str
) -> None:
    pool = manager.get_connection_pool()
    schemas = SchemaCommandService(pool)
    with pytest.raises(SchemaError):
        await schemas.add_column(NOTES, Column(name=name, type=ColumnType.TEXT))
    with pytest.raises(SchemaError):
        await schemas.drop_table(name)
    with pytest.raises(QueryError):
        await DataQueryService(manager, [NOTES]).execute(
            QueryStatement(table=SchemaReference(name=name))
        )
    with pytest.raises(QueryError):
        await DataQueryService(manager, [NOTES]).execute(
            QueryStatement(
                table=SchemaReference(name="notes"),
                only=[FieldReference.of("notes", name)],
            )
        )
    assert await table_exists(manager)
