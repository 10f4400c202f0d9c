"""Every dialect keeps the `Dialect` contract, on its own database.

A new dialect joins ``DIALECTS`` (and its database the ``database_url``
fixture); these tests then hold it to what glue asks of one.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

import pytest

from glue.connections import pool_from_url
from glue.errors import GlueError
from glue.schema import Column, ColumnType, Schema
from glue.services.schema import SchemaCommandService
from glue.sql import dialects
from glue.sql.dialects import POSTGRES, SQLITE, Dialect, Statement

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from glue.connections import Connection

DIALECTS: tuple[Dialect, ...] = (SQLITE, POSTGRES)

WORDS = Schema(
    name="words",
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        Column(name="word", type=ColumnType.TEXT),
        Column(name="hits", type=ColumnType.INTEGER),
    ),
    primary_key=("id",),
    versioned=False,
)

# Text with every character LIKE, GLOB or their escapes give a meaning to.
TEXTS = ["a%b", "a_b", "A%B", "x[*]?y", "a!b", "ab", "aXb", "%", "", "plain"]


def _members() -> list[str]:
    return [
        name
        for name in dir(Dialect)
        if not name.startswith("_") and name not in dir(object)
    ]


@pytest.mark.parametrize("dialect", DIALECTS, ids=str)
def test_every_member_of_the_protocol_is_there(dialect: Dialect) -> None:
    for name in _members():
        wanted = inspect.getattr_static(Dialect, name)
        have = getattr(dialect, name)
        if isinstance(wanted, property):
            assert not callable(have), name
            continue
        assert callable(have), name
        expected = list(inspect.signature(wanted).parameters)[1:]
        assert list(inspect.signature(have).parameters) == expected, name


def test_dialects_are_told_apart_by_their_answers_not_their_names() -> None:
    assert [str(d) for d in DIALECTS] == [d.name for d in DIALECTS]
    assert len({d.name for d in DIALECTS}) == len(DIALECTS)
    for dialect in DIALECTS:
        assert dialect.number_placeholders(["a = ", " AND b = ", ""]) == (
            f"a = {dialect.placeholder(1)} AND b = {dialect.placeholder(2)}"
        )
        for column_type in ColumnType:
            assert dialect.type_name(column_type)


def test_a_database_without_sequences_says_so() -> None:
    for dialect in DIALECTS:
        if dialect.sequences:
            assert dialect.create_sequence('"s"', 5)
            continue
        with pytest.raises(GlueError, match="no sequences"):
            dialect.create_sequence('"s"', 5)


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[Connection]:
    async with pool_from_url(database_url) as pool:
        await SchemaCommandService(pool).create_table(WORDS)
        async with pool.acquire(write=True) as conn:
            rows = [{"id": n, "word": w, "hits": 0} for n, w in enumerate(TEXTS)]
            await conn.batch(conn.dialect.insert(WORDS, rows))
            yield conn


async def _column(conn: Connection, sql: str, params: list[Any]) -> list[Any]:
    """The first column of ``sql`` (\\x00 for each placeholder), sorted."""
    numbered = conn.dialect.number_placeholders(sql.split("\x00"))
    result = await conn.fetch(numbered, params)
    return sorted(row[0] for row in result.rows)


@pytest.mark.parametrize(
    ("starts", "ends"), [(False, False), (True, False), (False, True)]
)
@pytest.mark.parametrize("ignore_case", [False, True])
@pytest.mark.parametrize("needle", ["%", "_", "a%", "[*]?", "!", "b", "A"])
async def test_text_matches_literally(
    conn: Connection, needle: str, starts: bool, ends: bool, ignore_case: bool
) -> None:
    dialect = conn.dialect
    pattern = dialect.text_pattern(
        needle, starts=starts, ends=ends, ignore_case=ignore_case
    )
    condition = dialect.text_match('"word"', "\x00", ignore_case=ignore_case)
    sql = f'SELECT "word" FROM "words" WHERE {condition}'  # noqa: S608
    found = await _column(conn, sql, [pattern])

    def fold(text: str) -> str:
        return text.lower() if ignore_case else text

    if starts:
        expected = [t for t in TEXTS if fold(t).startswith(fold(needle))]
    elif ends:
        expected = [t for t in TEXTS if fold(t).endswith(fold(needle))]
    else:
        expected = [t for t in TEXTS if fold(needle) in fold(t)]
    assert found == sorted(expected)


async def test_in_limit_and_offset(conn: Connection) -> None:
    dialect = conn.dialect
    condition, params = dialect.is_in('"id"', "\x00", ColumnType.INTEGER, [1, 3, 5])
    sql = f'SELECT "id" FROM "words" WHERE {condition}'  # noqa: S608
    assert await _column(conn, sql, params) == [1, 3, 5]
    ordered = 'SELECT "id" FROM "words" ORDER BY "id"'
    assert await _column(conn, ordered + dialect.limit(None, "\x00"), [8]) == [8, 9]
    assert await _column(conn, ordered + dialect.limit("\x00", "\x00"), [2, 3]) == [
        3,
        4,
    ]


async def test_upsert_inserts_then_updates_or_keeps(conn: Connection) -> None:
    dialect = conn.dialect
    table, hits = dialect.quote("words"), dialect.quote("hits")
    bump = dialect.upsert(
        "words",
        ("id", "word", "hits"),
        ("id",),
        update={"hits": f"{table}.{hits} + 1"},
        returning=("hits",),
    )
    keep = dialect.upsert("words", ("id", "word", "hits"), ("id",))
    assert (await conn.fetch(bump, (100, "new", 0))).rows == [(0,)]
    assert (await conn.fetch(bump, (100, "new", 0))).rows == [(1,)]
    assert await conn.execute(keep, (100, "other", 7)) == 0
    found = await conn.fetch('SELECT "word", "hits" FROM "words" WHERE "id" = 100')
    assert found.rows == [("new", 1)]


async def test_combined_statements_run_in_order(conn: Connection) -> None:
    dialect = conn.dialect
    insert = 'INSERT INTO "words" (id, word, hits) VALUES '
    marks = dialect.number_placeholders(["(", ", ", ", ", ")"])
    statements = [Statement(insert + marks, (200 + i, f"w{i}", i)) for i in range(3)]
    combined = dialect.combine(statements)
    assert len(combined) <= len(statements)
    await conn.batch(combined)
    found = await conn.fetch('SELECT "hits" FROM "words" WHERE "id" >= 200 ORDER BY 1')
    assert found.rows == [(0,), (1,), (2,)]
    assert dialect.combine(statements[:1]) == statements[:1]


@pytest.mark.parametrize(
    ("value", "column_type"),
    [
        (None, None),
        (True, ColumnType.BOOLEAN),
        (False, ColumnType.BOOLEAN),
        (-7, ColumnType.INTEGER),
        (2.5, ColumnType.FLOAT),
        ("it's", ColumnType.TEXT),
        ("back\\slash 'quoted'", ColumnType.TEXT),
        ({"a": [1, "b"]}, ColumnType.JSON),
    ],
)
async def test_literals_read_back_as_their_values(
    conn: Connection, value: Any, column_type: ColumnType | None
) -> None:
    dialect = conn.dialect
    result = await conn.fetch(f"SELECT {dialect.literal(value, column_type)}")
    (read,) = result.rows[0]
    if column_type is not None:
        read = dialect.decoder(column_type)(read)
    assert read == value


async def test_advisory_locks_in_a_transaction(conn: Connection) -> None:
    dialect = conn.dialect
    async with conn.transaction():
        await dialect.advisory_lock(conn, 42)
        assert await dialect.try_advisory_lock(conn, 42) is True
    assert isinstance(await dialect.allows_prepared_transactions(conn), bool)
    assert await dialect.is_prepared(conn, "glue_nothing") is False


async def test_tables_read_back(conn: Connection) -> None:
    dialect = conn.dialect
    assert "words" in await dialect.table_names(conn)
    info = await dialect.describe(conn, "words")
    assert [(c.name, c.type) for c in info.columns] == [
        (c.name, c.type) for c in WORDS.columns
    ]
    assert info.primary_key == ("id",)
    assert [dialect.column_type(c.sql_type) for c in info.columns] == [
        c.type for c in WORDS.columns
    ]
    assert (await dialect.describe(conn, "nothing_here")).columns == ()


def test_the_package_says_what_a_dialect_must_provide() -> None:
    doc = dialects.__doc__ or ""
    assert [name for name in _members() if f"``{name}``" not in doc] == []
