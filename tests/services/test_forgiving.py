"""Queries forgive what costs nothing and refuse the rest with glue's errors: a bare
Condition, plain constants, and statements built in code with the wrong types (#9)."""

from __future__ import annotations

import datetime as dt
import decimal
import re
import uuid
from typing import TYPE_CHECKING, Any

import msgspec
import pytest

from glue import App, Domain
from glue.connections import ConnectionManager, pool_from_url
from glue.errors import GlueError, QueryError
from glue.query import (
    AggregationQuery,
    AnnotationQuery,
    Condition,
    Conditions,
    Count,
    Field,
    FieldLookup,
    FieldReference,
    JoinQuery,
    LimitQuery,
    OrderByQuery,
    OrderDirection,
    QueryStatement,
    SchemaReference,
    SetOperation,
    SetOperator,
    Value,
)
from glue.schema import Column, ColumnType, Schema
from glue.services.reads import DataQueryService
from glue.services.schema import SchemaCommandService

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

COUNTRIES = Schema(
    name="countries",
    columns=(
        Column(name="code", type=ColumnType.TEXT),
        Column(name="name", type=ColumnType.TEXT),
    ),
    primary_key=("code",),
    versioned=False,
)
CITIES = Schema(
    name="cities",
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        Column(name="country", type=ColumnType.TEXT),
        Column(name="name", type=ColumnType.TEXT),
        Column(name="founded", type=ColumnType.DATE, nullable=True),
        Column(name="area", type=ColumnType.DECIMAL, nullable=True),
        Column(name="ref", type=ColumnType.UUID, nullable=True),
    ),
    primary_key=("id",),
    versioned=False,
)
REF = uuid.UUID("12345678-1234-5678-1234-567812345678")
COUNTRY_ROWS: list[dict[str, Any]] = [
    {"code": "DE", "name": "Germany"},
    {"code": "FR", "name": "France"},
]
CITY_ROWS: list[dict[str, Any]] = [
    {
        "id": 1,
        "country": "DE",
        "name": "Berlin",
        "founded": dt.date(1237, 1, 1),
        "area": decimal.Decimal("891.7"),
        "ref": REF,
    },
    {
        "id": 2,
        "country": "DE",
        "name": "Bonn",
        "founded": None,
        "area": decimal.Decimal("141.1"),
        "ref": None,
    },
    {
        "id": 3,
        "country": "FR",
        "name": "Paris",
        "founded": None,
        "area": None,
        "ref": None,
    },
]


def f(table: str, name: str) -> FieldReference:
    return FieldReference.of(table, name)


def city_names(where: Any) -> QueryStatement:
    return QueryStatement(
        table=SchemaReference(name="cities", alias="c"),
        only=[f("c", "name")],
        where=where,
        order_by=[OrderByQuery(field=f("c", "id"))],
    )


async def fill(url: str, schema: Schema, rows: list[dict[str, Any]]) -> None:
    async with pool_from_url(url) as pool:
        await SchemaCommandService(pool).create_table(schema)
        async with pool.acquire(write=True) as conn:
            await conn.batch(conn.dialect.insert(schema, rows))


@pytest.fixture
async def one(database_url: str) -> AsyncIterator[DataQueryService]:
    """Both tables in one database, SQLite or PostgreSQL."""
    await fill(database_url, COUNTRIES, COUNTRY_ROWS)
    await fill(database_url, CITIES, CITY_ROWS)
    manager = ConnectionManager()
    manager.register_connection_pool(pool_from_url(database_url))
    async with manager:
        yield DataQueryService(manager, [COUNTRIES, CITIES])


@pytest.fixture
async def split(tmp_path: Path, postgres_dsn: str) -> AsyncIterator[DataQueryService]:
    """Countries in SQLite, cities in PostgreSQL: joins run in memory."""
    countries = f"sqlite:///{tmp_path / 'countries.sqlite'}"
    await fill(countries, COUNTRIES, COUNTRY_ROWS)
    await fill(postgres_dsn, CITIES, CITY_ROWS)
    manager = ConnectionManager()
    manager.register_connection_pool(pool_from_url(countries))
    manager.register_connection_pool(pool_from_url(postgres_dsn), "cities")
    async with manager:
        yield DataQueryService(manager, [COUNTRIES, CITIES])


# -- a bare condition -------------------------------------------------------------


def test_a_bare_condition_is_wrapped_in_conditions() -> None:
    condition = Condition(field=f("c", "country"), value=Value("DE"))
    statement = city_names(condition)
    assert statement.where == Conditions(condition)
    having = QueryStatement(table=SchemaReference(name="cities"), having=condition)
    assert having.having == Conditions(condition)
    join = JoinQuery(table=SchemaReference(name="countries"), on=condition)
    assert join.on == Conditions(condition)


def test_a_bare_condition_decodes_from_json() -> None:
    statement = city_names(Condition(field=f("c", "country"), value="DE"))
    raw = msgspec.json.encode(statement).replace(
        msgspec.json.encode(statement.where),
        msgspec.json.encode(Condition(field=f("c", "country"), value="DE")),
    )
    assert b'"type":"conditions"' not in raw
    assert msgspec.json.decode(raw, type=QueryStatement) == statement


async def test_a_bare_condition_runs(one: DataQueryService) -> None:
    rows = await one.execute(
        city_names(Condition(field=f("c", "country"), value=Value("DE")))
    )
    assert rows == [{"name": "Berlin"}, {"name": "Bonn"}]


# -- plain constants --------------------------------------------------------------


@pytest.mark.parametrize(
    ("constant", "expected"),
    [
        ("DE", Value("DE")),
        (7, Value(7)),
        (1.5, Value(1.5)),
        (True, Value(True)),
        (None, Value(None)),
        (dt.date(2024, 1, 2), Value(dt.date(2024, 1, 2))),
        (dt.time(12, 30), Value(dt.time(12, 30))),
        (REF, Value(REF)),
        (decimal.Decimal("1.5"), Value(decimal.Decimal("1.5"))),
        (["DE", "FR"], Value(["DE", "FR"])),
        (("DE", None), Value(("DE", None))),
    ],
)
def test_a_constant_means_its_value(constant: Any, expected: Value) -> None:
    condition = Condition(field=f("c", "x"), value=constant)
    assert condition.value == expected
    assert f("c", "x").lookup(FieldLookup.EQ, constant).value == expected


def test_constants_decode_from_json_as_values() -> None:
    for raw, expected in [
        (b'"DE"', Value("DE")),
        (b"7", Value(7)),
        (b"1.5", Value(1.5)),
        (b"false", Value(False)),
        (b"null", Value(None)),
        (b'["DE", 2, null]', Value(["DE", 2, None])),
        (b'{"type": "value", "value": "DE"}', Value("DE")),
    ]:
        payload = (
            b'{"type": "condition", "field": {"type": "field", "field": '
            b'{"name": "x"}}, "value": ' + raw + b"}"
        )
        assert msgspec.json.decode(payload, type=Condition).value == expected


def test_what_is_not_a_constant_is_refused_at_construction() -> None:
    with pytest.raises(QueryError, match="not <object object"):
        Condition(field=f("c", "x"), value=object())  # type: ignore[arg-type]
    with pytest.raises(QueryError, match=r"not \[\{'a': 1\}\]"):
        Condition(field=f("c", "x"), value=[{"a": 1}])  # type: ignore[list-item]
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(
            b'{"type": "condition", "field": {"type": "field", "field": {"name": '
            b'"x"}}, "value": [{"a": 1}]}',
            type=Condition,
        )


async def test_constants_compare_as_values(one: DataQueryService) -> None:
    async def names(field: str, lookup: FieldLookup, value: Any) -> list[str]:
        where = Condition(field=f("c", field), lookup=lookup, value=value)
        return [row["name"] for row in await one.execute(city_names(where))]

    assert await names("country", FieldLookup.EQ, "DE") == ["Berlin", "Bonn"]
    assert await names("id", FieldLookup.GT, 1) == ["Bonn", "Paris"]
    assert await names("id", FieldLookup.IN, [1, 3]) == ["Berlin", "Paris"]
    assert await names("founded", FieldLookup.EQ, None) == ["Bonn", "Paris"]
    assert await names("founded", FieldLookup.LT, dt.date(1500, 1, 1)) == ["Berlin"]
    assert await names("area", FieldLookup.GT, decimal.Decimal("200")) == ["Berlin"]
    assert await names("area", FieldLookup.LT, 500.5) == ["Bonn"]
    assert await names("ref", FieldLookup.EQ, REF) == ["Berlin"]
    assert await names("founded", FieldLookup.ISNULL, False) == ["Berlin"]


@pytest.mark.postgres
async def test_constants_compare_as_values_across_databases(
    split: DataQueryService,
) -> None:
    statement = QueryStatement(
        table=SchemaReference(name="countries", alias="k"),
        only=[f("k", "name"), f("c", "name").aliased("city")],
        joins=[
            JoinQuery(
                table=SchemaReference(name="cities", alias="c"),
                on=Condition(field=f("c", "country"), value=f("k", "code")),
            )
        ],
        where=Condition(field=f("k", "code"), value="DE")
        & Condition(field=f("c", "area"), lookup=FieldLookup.GT, value=200),
    )
    assert await split.execute(statement) == [{"name": "Germany", "city": "Berlin"}]


# -- statements built in code with the wrong types -----------------------------------

MALFORMED = [
    pytest.param(lambda: QueryStatement(table="cities"), "$.table", id="table-str"),  # type: ignore[arg-type]
    pytest.param(
        lambda: QueryStatement(table=SchemaReference(name=5)),  # type: ignore[arg-type]
        "$.table.name",
        id="table-name-int",
    ),
    pytest.param(
        lambda: QueryStatement(table=SchemaReference(name="cities"), only=["name"]),  # type: ignore[list-item]
        "$.only[0]",
        id="only-strings",
    ),
    pytest.param(
        lambda: QueryStatement(table=SchemaReference(name="cities"), only=f("c", "x")),  # type: ignore[arg-type]
        "$.only",
        id="only-not-a-list",
    ),
    pytest.param(
        lambda: QueryStatement(table=SchemaReference(name="cities"), only=5),  # type: ignore[arg-type]
        "$.only",
        id="only-int",
    ),
    pytest.param(
        lambda: QueryStatement(
            table=SchemaReference(name="cities"),
            order_by=[f("cities", "id")],  # type: ignore[list-item]
        ),
        "$.order_by[0]",
        id="order-by-field",
    ),
    pytest.param(
        lambda: QueryStatement(table=SchemaReference(name="cities"), limit=10),  # type: ignore[arg-type]
        "$.limit",
        id="limit-int",
    ),
    pytest.param(
        lambda: QueryStatement(
            table=SchemaReference(name="cities"),
            limit=LimitQuery(limit="10"),  # type: ignore[arg-type]
        ),
        "$.limit.limit",
        id="limit-str",
    ),
    pytest.param(
        lambda: city_names(Condition(field="country", value="DE")),  # type: ignore[arg-type]
        "$.where.children[0].field",
        id="condition-field-str",
    ),
    pytest.param(
        lambda: city_names(
            Condition(field=FieldReference(field="country"), value="DE")  # type: ignore[arg-type]
        ),
        "$.where.children[0].field.field",
        id="field-name-str",
    ),
    pytest.param(
        lambda: city_names(Condition(field=f("c", "id"), lookup="like", value=1)),  # type: ignore[arg-type]
        "lookups: eq, neq",
        id="unknown-lookup",
    ),
    pytest.param(
        lambda: city_names(Conditions("country = 'DE'")),  # type: ignore[arg-type]
        "$.where.children[0]",
        id="conditions-of-text",
    ),
    pytest.param(lambda: city_names("country = 'DE'"), "$.where", id="where-str"),
    pytest.param(
        lambda: city_names(Condition(field=f("c", "id"), value=Value(object()))),
        "cannot send to a database",
        id="value-object",
    ),
    pytest.param(
        lambda: city_names(Condition(field=f("c", "id"), value=Value(2**70))),
        "cannot send to a database",
        id="value-too-big",
    ),
    pytest.param(
        lambda: QueryStatement(
            table=SchemaReference(name="cities"),
            aggregations=[AggregationQuery(expression="count", alias="n")],  # type: ignore[arg-type]
        ),
        "$.aggregations[0].expression",
        id="aggregation-str",
    ),
    pytest.param(
        lambda: QueryStatement(
            table=SchemaReference(name="cities"),
            annotations=[AnnotationQuery(value=Value(1))],  # type: ignore[arg-type]
        ),
        "$.annotations[0].value",
        id="annotation-value",
    ),
    pytest.param(
        lambda: QueryStatement(
            table=SchemaReference(name="cities"),
            order_by=[OrderByQuery(field=f("cities", "id"), direction="sideways")],  # type: ignore[arg-type]
        ),
        "directions: ASC, DESC",
        id="direction",
    ),
    pytest.param(
        lambda: QueryStatement(table=SchemaReference(name="cities"), distinct="yes"),  # type: ignore[arg-type]
        "$.distinct",
        id="distinct-str",
    ),
    pytest.param(
        lambda: QueryStatement(table=SchemaReference(name="cities"), distinct=None),  # type: ignore[arg-type]
        "$.distinct",
        id="distinct-none",
    ),
    pytest.param(
        lambda: QueryStatement(
            table=SchemaReference(name="cities"),
            set_operations=[QueryStatement(table=SchemaReference(name="cities"))],  # type: ignore[list-item]
        ),
        "$.set_operations[0]",
        id="set-operation-statement",
    ),
    pytest.param(
        lambda: QueryStatement(
            table=SchemaReference(name="cities"),
            set_operations=[
                SetOperation(
                    operator="MERGE",  # type: ignore[arg-type]
                    query=QueryStatement(table=SchemaReference(name="cities")),
                )
            ],
        ),
        "operators: UNION",
        id="set-operator",
    ),
    pytest.param(
        lambda: QueryStatement(
            table=SchemaReference(name="cities"),
            joins=[JoinQuery(table="countries", on=Conditions())],  # type: ignore[arg-type]
        ),
        "$.joins[0].table",
        id="join-table-str",
    ),
    pytest.param(
        lambda: city_names(
            Condition(
                field=FieldReference(field=Field(name="country", child="code")),  # type: ignore[arg-type]
                value="DE",
            )
        ),
        "$.where.children[0].field.field.child",
        id="field-child-str",
    ),
    pytest.param(
        lambda: QueryStatement(
            table=SchemaReference(name="cities"),
            aggregations=[AggregationQuery(expression=Count(distinct="x"), alias="n")],  # type: ignore[arg-type]
        ),
        "$.aggregations[0].expression.distinct",
        id="count-distinct-str",
    ),
]


@pytest.mark.parametrize(("build", "named"), MALFORMED)
async def test_statements_with_wrong_types_raise_query_error(
    one: DataQueryService, build: Any, named: str
) -> None:
    statement = build()
    for call in (one.execute, one.explain, one.plan):
        with pytest.raises(QueryError) as caught:
            await call(statement)
        assert named in str(caught.value)


@pytest.mark.postgres
@pytest.mark.parametrize(("build", "named"), MALFORMED)
async def test_statements_with_wrong_types_raise_query_error_across_databases(
    split: DataQueryService, build: Any, named: str
) -> None:
    with pytest.raises(QueryError) as caught:
        await split.execute(build())
    assert named in str(caught.value)


def test_plain_strings_for_enums_mean_the_enum() -> None:
    built = QueryStatement(
        table=SchemaReference(name="cities"),
        order_by=[OrderByQuery(field=f("cities", "id"), direction="DESC")],  # type: ignore[arg-type]
    )
    validated = built.validated()
    assert validated.order_by[0].direction is OrderDirection.DESC
    assert validated == msgspec.json.decode(
        msgspec.json.encode(built), type=QueryStatement
    )


async def test_wrong_values_in_well_typed_statements_raise_glue_errors(
    one: DataQueryService,
) -> None:
    """Statements of the right shape that mean nothing: each a GlueError."""
    statements = [
        city_names(Condition(field=f("c", "id"), lookup=FieldLookup.IN, value=5)),
        city_names(Condition(field=f("c", "id"), value="seven")),
        city_names(Condition(field=f("c", "founded"), value="tuesday")),
        city_names(Condition(field=f("c", "ref"), value="not a uuid")),
        city_names(Condition(field=f("c", "area"), value="x")),
        city_names(Condition(field=f("c", "name"), lookup=FieldLookup.ISNULL, value=3)),
        city_names(
            Condition(field=f("c", "name"), lookup=FieldLookup.CONTAINS, value=3)
        ),
        city_names(Condition(field=f("c", "id"), lookup=FieldLookup.GT, value=None)),
        city_names(Condition(field=f("c", "id"), value=Value({"a": 1}))),
        QueryStatement(
            table=SchemaReference(name="cities"), limit=LimitQuery(limit=-1)
        ),
        QueryStatement(table=SchemaReference(name="nowhere")),
        QueryStatement(
            table=SchemaReference(name="cities"),
            set_operations=[
                SetOperation(
                    operator=SetOperator.UNION,
                    query=QueryStatement(table=SchemaReference(name="countries")),
                )
            ],
        ),
    ]
    for statement in statements:
        with pytest.raises(GlueError):
            await one.execute(statement)


@pytest.mark.postgres
async def test_a_bad_pattern_in_memory_is_a_query_error(
    split: DataQueryService,
) -> None:
    statement = QueryStatement(
        table=SchemaReference(name="countries", alias="k"),
        only=[f("k", "name")],
        joins=[
            JoinQuery(
                table=SchemaReference(name="cities", alias="c"),
                on=Condition(field=f("c", "country"), value=f("k", "code")),
            )
        ],
        where=Condition(field=f("c", "name"), lookup=FieldLookup.REGEX, value="(")
        | Condition(field=f("k", "name"), lookup=FieldLookup.REGEX, value="("),
    )
    with pytest.raises(QueryError, match="regex"):
        await split.execute(statement)


@pytest.mark.postgres
async def test_values_that_do_not_compare_in_memory_are_a_query_error(
    split: DataQueryService,
) -> None:
    statement = QueryStatement(
        table=SchemaReference(name="countries", alias="k"),
        only=[f("k", "name")],
        joins=[
            JoinQuery(
                table=SchemaReference(name="cities", alias="c"),
                on=Condition(
                    field=f("c", "id"), lookup=FieldLookup.GT, value=f("k", "code")
                ),
            )
        ],
    )
    with pytest.raises(QueryError, match="values of different types"):
        await split.execute(statement)


@pytest.mark.parametrize(("build", "named"), MALFORMED[:6])
async def test_app_query_raises_only_glue_errors(
    database_url: str, build: Any, named: str
) -> None:
    geo = Domain("geo")
    geo.table(CITIES)
    async with App(
        [geo], databases={"default": database_url}, create_tables=True
    ) as app:
        with pytest.raises(QueryError, match=re.escape(named)):
            await app.query(build())
        assert await app.query(city_names(Condition(field=f("c", "id"), value=1))) == []
