"""Q04, as a property: random queries over random data return the same rows with
customers in a SQLite file and orders in PostgreSQL as with both tables in one
SQLite file."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glue.connections import ConnectionManager, pool_from_url
from glue.query import (
    AggregationQuery,
    Avg,
    Condition,
    Conditions,
    Count,
    FieldLookup,
    FieldReference,
    FilterConnector,
    GroupByQuery,
    JoinQuery,
    JoinType,
    LimitQuery,
    Max,
    Min,
    OrderByQuery,
    OrderDirection,
    QueryStatement,
    SchemaReference,
    SetOperator,
    SubQueryStatement,
    Sum,
    Value,
)
from glue.query.model import SetOperation
from glue.services.reads import DataQueryService

from .conftest import CUSTOMERS, ORDERS, load

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

pytestmark = pytest.mark.postgres

SCHEMAS = {"customers": CUSTOMERS, "orders": ORDERS}

# -- data ---------------------------------------------------------------------

texts = st.sampled_from(["a", "ab", "b", "ba", "c", "", "aB"])
small = st.integers(min_value=-3, max_value=12)


@st.composite
def datasets(draw: st.DrawFn) -> dict[str, list[dict[str, Any]]]:
    customer_ids = draw(st.lists(st.integers(1, 12), unique=True, max_size=8))
    customers = [
        {
            "id": n,
            "name": draw(texts),
            "country": draw(st.none() | st.sampled_from(["nl", "de"])),
            "age": draw(st.none() | small),
            "joined": None,
        }
        for n in customer_ids
    ]
    order_ids = draw(st.lists(st.integers(1, 40), unique=True, max_size=14))
    orders = [
        {
            "id": n,
            "customer_id": draw(st.none() | st.integers(1, 13)),
            "product_id": None,
            "amount": draw(st.none() | small),
            "status": draw(st.none() | st.sampled_from(["paid", "open"])),
        }
        for n in order_ids
    ]
    return {"customers": customers, "orders": orders}


# -- queries --------------------------------------------------------------------

FIELDS = {
    ("c", "id"): "int",
    ("c", "name"): "text",
    ("c", "country"): "text",
    ("c", "age"): "int",
    ("o", "id"): "int",
    ("o", "customer_id"): "int",
    ("o", "amount"): "int",
    ("o", "status"): "text",
}
TEXT_VALUES = st.sampled_from(["a", "b", "nl", "paid", "open", "B"])


def ref(key: tuple[str, str]) -> FieldReference:
    return FieldReference.of(*key)


@st.composite
def conditions(draw: st.DrawFn, depth: int = 0) -> Condition | Conditions:
    if depth < 2 and draw(st.booleans()):
        children = draw(st.lists(conditions(depth + 1), min_size=1, max_size=3))
        return Conditions(
            *children,
            connector=draw(st.sampled_from(list(FilterConnector))),
            negated=draw(st.booleans()),
        )
    key = draw(st.sampled_from(sorted(FIELDS)))
    kind = FIELDS[key]
    values = small if kind == "int" else TEXT_VALUES
    lookups = [
        FieldLookup.EQ, FieldLookup.NEQ, FieldLookup.GT, FieldLookup.LTE,
        FieldLookup.IN, FieldLookup.ISNULL,
    ]  # fmt: skip
    if kind == "text":
        lookups += [
            FieldLookup.CONTAINS, FieldLookup.ISTARTSWITH, FieldLookup.ENDSWITH,
        ]  # fmt: skip
    lookup = draw(st.sampled_from(lookups))
    value: Any
    if lookup is FieldLookup.ISNULL:
        value = Value(draw(st.booleans()))
    elif lookup is FieldLookup.IN:
        value = Value(draw(st.lists(st.none() | values, max_size=3)))
    elif lookup in (FieldLookup.EQ, FieldLookup.NEQ) and draw(st.booleans()):
        other = [k for k, t in FIELDS.items() if t == kind and k[0] != key[0]]
        value = ref(draw(st.sampled_from(other)))
    else:
        value = Value(draw(values))
    return Condition(field=ref(key), lookup=lookup, value=value)


ON = Condition(
    field=FieldReference.of("o", "customer_id"),
    value=FieldReference.of("c", "id"),
)


@st.composite
def queries(draw: st.DrawFn) -> QueryStatement:
    join_type = draw(st.sampled_from(list(JoinType)))
    on = Conditions(ON)
    if draw(st.booleans()):
        on = Conditions(ON, draw(conditions()))
    where = draw(st.none() | conditions().map(lambda c: Conditions(c)))
    if draw(st.booleans()):
        paid = QueryStatement(
            table=SchemaReference(name="orders"),
            only=[FieldReference.of("orders", "customer_id")],
            where=Conditions(
                Condition(
                    field=FieldReference.of("orders", "status"), value=Value("paid")
                )
            ),
        )
        in_paid = Condition(
            field=FieldReference.of("c", "id"),
            lookup=FieldLookup.IN,
            value=SubQueryStatement(query=paid),
        )
        extra = Conditions(in_paid, negated=draw(st.booleans()))
        where = extra if where is None else Conditions(where, extra)
    base = QueryStatement(
        table=SchemaReference(name="customers", alias="c"),
        joins=[
            JoinQuery(
                table=SchemaReference(name="orders", alias="o"),
                on=on,
                join_type=join_type,
            )
        ],
        where=where,
    )
    shape = draw(st.sampled_from(["rows", "grouped", "set"]))
    if shape == "grouped":
        group = draw(st.sampled_from([("c", "country"), ("o", "status")]))
        functions: list[type[Count | Sum | Avg | Min | Max]] = [
            Count, Sum, Avg, Min, Max,
        ]  # fmt: skip
        function = draw(st.sampled_from(functions))
        field = (
            None if function is Count and draw(st.booleans()) else ref(("o", "amount"))
        )
        aggregate = function(field=field)
        having = None
        if draw(st.booleans()):
            having = Conditions(
                Condition(field=Count(), lookup=FieldLookup.GT, value=Value(1))
            )
        statement = QueryStatement(
            table=base.table,
            joins=base.joins,
            where=base.where,
            only=[ref(group)],
            aggregations=[AggregationQuery(expression=aggregate, alias="value")],
            group_by=[GroupByQuery(field=ref(group))],
            having=having,
        )
        return _ordered(draw, statement, [group[1], "value"])
    selected = draw(
        st.lists(st.sampled_from(sorted(FIELDS)), min_size=1, max_size=3, unique=True)
    )
    only = [ref(k).aliased(f"{k[0]}_{k[1]}") for k in selected]
    statement = QueryStatement(
        table=base.table,
        joins=base.joins,
        where=base.where,
        only=only,
        distinct=draw(st.booleans()),
    )
    names = [item.alias for item in only]
    if shape == "set" and len(only) == 1:
        other = QueryStatement(
            table=SchemaReference(name="orders"),
            only=[
                FieldReference.of(
                    "orders", selected[0][1] if selected[0][0] == "o" else "id"
                ).aliased(names[0])
            ],
        )
        operator = draw(st.sampled_from(list(SetOperator)))
        statement = QueryStatement(
            table=statement.table,
            joins=statement.joins,
            where=statement.where,
            only=statement.only,
            set_operations=[SetOperation(operator=operator, query=other)],
        )
        if FIELDS[selected[0]] != "int":
            return statement
    return _ordered(draw, statement, names)


def _ordered(
    draw: st.DrawFn, statement: QueryStatement, names: list[str]
) -> QueryStatement:
    """Sometimes order by every output column (a total order), and limit."""
    if not draw(st.booleans()):
        return statement
    direction = draw(st.sampled_from(list(OrderDirection)))
    order = [
        OrderByQuery(field=FieldReference.of("", name), direction=direction)
        for name in names
    ]
    return QueryStatement(
        **{
            **{f: getattr(statement, f) for f in statement.__struct_fields__},
            "order_by": order,
            "limit": LimitQuery(
                limit=draw(st.integers(0, 5)), offset=draw(st.integers(0, 3))
            ),
        }
    )


# -- the property ---------------------------------------------------------------


class Worlds:
    def __init__(self, reference: ConnectionManager, split: ConnectionManager) -> None:
        self.reference = reference
        self.split = split

    async def load(self, rows: dict[str, list[dict[str, Any]]]) -> None:
        async with self.reference.get_connection_pool().acquire(write=True) as conn:
            await load(conn, SCHEMAS, rows, create=False)
        for name in ("customers", "orders"):
            pool = self.split.get_connection_pool(name)
            async with pool.acquire(write=True) as conn:
                await load(conn, SCHEMAS, {name: rows[name]}, create=False)


@pytest.fixture
async def property_worlds(tmp_path: Path, postgres_dsn: str) -> AsyncIterator[Worlds]:
    reference = ConnectionManager()
    reference.register_connection_pool(
        pool_from_url(f"sqlite:///{tmp_path / 'ref.sqlite'}")
    )
    split = ConnectionManager()
    split.register_connection_pool(pool_from_url(f"sqlite:///{tmp_path / 'c.sqlite'}"))
    split.register_connection_pool(pool_from_url(postgres_dsn), "orders")
    async with reference, split:
        empty: dict[str, list[dict[str, Any]]] = {"customers": [], "orders": []}
        async with reference.get_connection_pool().acquire(write=True) as conn:
            await load(conn, SCHEMAS, empty)
        for name in ("customers", "orders"):
            async with split.get_connection_pool(name).acquire(write=True) as conn:
                await load(conn, SCHEMAS, {name: []})
        yield Worlds(reference, split)


def normal(rows: list[dict[str, Any]], ordered: bool) -> list[tuple[Any, ...]]:
    out = [
        tuple(round(v, 9) if isinstance(v, float) else v for v in row.values())
        for row in rows
    ]
    return out if ordered else sorted(out, key=repr)


@settings(
    max_examples=int(os.environ.get("GLUE_PROPERTY_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=datasets(), statement=queries())
async def test_split_equals_single_database(
    property_worlds: Worlds,
    rows: dict[str, list[dict[str, Any]]],
    statement: QueryStatement,
) -> None:
    await property_worlds.load(rows)
    one = DataQueryService(property_worlds.reference, SCHEMAS.values())
    split = DataQueryService(property_worlds.split, SCHEMAS.values(), max_keys=3)
    ordered = bool(statement.order_by)
    expected = normal(await one.execute(statement), ordered)
    assert normal(await split.execute(statement), ordered) == expected
