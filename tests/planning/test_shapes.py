"""A statement's shape read from its Structs is the shape the general walk reads."""

from __future__ import annotations

import msgspec
import pytest

from glue.planning import shapes
from glue.query import (
    Condition,
    Conditions,
    FieldLookup,
    FieldReference,
    JoinQuery,
    QueryStatement,
    SchemaReference,
    SubQueryStatement,
    Value,
)

ID = FieldReference.of("orders", "id")
TOTAL = FieldReference.of("orders", "total")
OWNER = FieldReference.of("customers", "id")


def where(*conditions: Condition | Conditions) -> QueryStatement:
    return QueryStatement(
        table=SchemaReference(name="orders"), where=Conditions(*conditions)
    )


STATEMENTS = {
    "point": where(Condition(field=ID, value=Value(7))),
    "range": where(
        Condition(field=ID, lookup=FieldLookup.GTE, value=Value(1)),
        Condition(field=ID, lookup=FieldLookup.LT, value=Value(101)),
    ),
    "text, float, None, bool": where(
        Condition(field=TOTAL, value=Value("x")),
        Condition(field=TOTAL, lookup=FieldLookup.GT, value=Value(1.5)),
        Condition(field=TOTAL, value=Value(None)),
        Condition(field=TOTAL, lookup=FieldLookup.NEQ, value=Value(True)),
    ),
    "in list, tuple, pattern, big int": where(
        Condition(field=ID, lookup=FieldLookup.IN, value=Value([1, "a", None])),
        Condition(field=ID, lookup=FieldLookup.IN, value=Value((3, 4))),
        Condition(field=TOTAL, lookup=FieldLookup.CONTAINS, value=Value("ab")),
        Condition(field=ID, value=Value(2**40)),
    ),
    "nested, negated, field operand": where(
        Conditions(
            Condition(field=ID, value=Value(1)),
            ~Conditions(Condition(field=TOTAL, value=ID)),
        )
    ),
    "join and having": QueryStatement(
        table=SchemaReference(name="orders"),
        joins=[
            JoinQuery(
                table=SchemaReference(name="customers"),
                on=Condition(field=OWNER, value=Value(3)),
            )
        ],
        where=Condition(field=ID, value=Value(5)),
        having=Condition(field=TOTAL, lookup=FieldLookup.LT, value=Value(9)),
    ),
}
SLOW = {
    "a subquery": where(
        Condition(
            field=ID,
            lookup=FieldLookup.IN,
            value=SubQueryStatement(
                query=where(Condition(field=ID, value=Value(1))), alias="s"
            ),
        )
    ),
    "an Ext of its own": where(
        Condition(field=ID, value=Value(msgspec.msgpack.Ext(1, b"\0\0\0\0")))
    ),
}


def walked(statement: QueryStatement) -> shapes.Shape | None:
    """The shape by the general walk alone."""
    tree = shapes._DECODER.decode(statement.encoded())
    values: list[object] = []
    if not shapes._walk(tree, values, set()) or not values:
        return None
    return shapes.Shape(key=shapes._ENCODER.encode(tree), values=tuple(values))


@pytest.mark.parametrize("name", list(STATEMENTS))
def test_the_struct_walk_gives_the_general_walks_shape(name: str) -> None:
    statement = STATEMENTS[name]
    assert shapes._marked(statement, []) is not None
    assert shapes.shape_of(statement) == walked(statement)


@pytest.mark.parametrize("name", list(SLOW))
def test_other_statements_take_the_general_walk(name: str) -> None:
    statement = SLOW[name]
    assert shapes._marked(statement, []) is None
    assert shapes.shape_of(statement) == walked(statement)


def test_a_shape_without_slots_is_none() -> None:
    statement = where(Condition(field=TOTAL, lookup=FieldLookup.CONTAINS, value="a"))
    assert shapes.shape_of(statement) is None
