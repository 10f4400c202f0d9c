from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Annotated

import msgspec
import pytest

from glue.errors import SchemaError
from glue.schema import Check, Column, ColumnType, Index, Schema, Unique
from glue.sql.dialects import POSTGRES, SQLITE, is_identity


class Order(msgspec.Struct):
    id: int
    customer_id: int
    total: Annotated[float, msgspec.Meta(gt=0)]
    note: str | None = None
    lines: list[str] = msgspec.field(default_factory=list)
    placed: dt.datetime | None = None


def test_schema_from_struct_maps_types_and_nullability() -> None:
    schema = Schema.from_struct(Order, audit=True, soft_delete=True)
    assert schema.name == "order"
    assert schema.primary_key == ("id",)
    assert schema.column("total").type is ColumnType.FLOAT
    assert schema.column("note").nullable
    assert schema.column("lines").type is ColumnType.JSON
    assert schema.column("placed").type is ColumnType.DATETIME
    assert schema.column_names[-6:] == (
        "etag",
        "created_at",
        "updated_at",
        "created_by",
        "updated_by",
        "deleted_at",
    )


def test_unknown_column_is_named() -> None:
    schema = Schema.from_struct(Order, name="orders")
    with pytest.raises(SchemaError, match="no column 'totl'"):
        schema.column("totl")
    with pytest.raises(SchemaError, match="'nope'"):
        Schema.from_struct(Order, primary_key="nope")


@pytest.mark.parametrize("name", ["", "1abc", "a b", 'x"; drop table t; --', "a" * 64])
def test_bad_identifiers_are_refused(name: str) -> None:
    with pytest.raises(SchemaError, match="not a valid name"):
        Schema(
            name=name,
            columns=(Column(name="id", type=ColumnType.INTEGER),),
            primary_key=("id",),
        )
    with pytest.raises(SchemaError):
        SQLITE.quote(name)


def test_duplicate_and_system_columns_are_refused() -> None:
    with pytest.raises(SchemaError, match="etag more than once"):
        Schema(
            name="t",
            columns=(
                Column(name="id", type=ColumnType.INTEGER),
                Column(name="etag", type=ColumnType.TEXT),
            ),
            primary_key=("id",),
        )


def test_indexes_and_constraints_are_checked() -> None:
    columns = (Column(name="id", type=ColumnType.INTEGER),)
    with pytest.raises(SchemaError, match="index 'ix'"):
        Schema(
            name="t",
            columns=columns,
            primary_key=("id",),
            indexes=(Index(name="ix", columns=("missing",)),),
        )
    with pytest.raises(SchemaError, match="operator"):
        Schema(
            name="t",
            columns=columns,
            primary_key=("id",),
            constraints=(Check(name="c", column="id", op="; drop", value=1),),
        )
    ok = Schema(
        name="t",
        columns=columns,
        primary_key=("id",),
        constraints=(Unique(name="u", columns=("id",)),),
    )
    assert ok.key_of({"id": 3}) == (3,)
    with pytest.raises(SchemaError, match="lacks primary key column 'id'"):
        ok.key_of({})


def test_schema_round_trips_through_json() -> None:
    schema = Schema.from_struct(
        Order, constraints=(Check(name="pos", column="total", op=">", value=0),)
    )
    assert msgspec.json.decode(msgspec.json.encode(schema), type=Schema) == schema


def test_quote_and_placeholders() -> None:
    assert SQLITE.quote("orders") == POSTGRES.quote("orders") == '"orders"'
    assert SQLITE.placeholder(3) == "?"
    assert POSTGRES.placeholder(3) == "$3"


@pytest.mark.parametrize(
    ("column_type", "value"),
    [
        (ColumnType.DATETIME, dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)),
        (ColumnType.DATE, dt.date(2026, 1, 2)),
        (ColumnType.UUID, uuid.UUID(int=7)),
        (ColumnType.DECIMAL, decimal.Decimal("1.25")),
        (ColumnType.BOOLEAN, True),
        (ColumnType.JSON, {"a": [1, 2]}),
        (ColumnType.INTEGER, 5),
    ],
)
def test_sqlite_values_round_trip(column_type: ColumnType, value: object) -> None:
    stored = SQLITE.encoder(column_type)(value)
    assert SQLITE.decoder(column_type)(stored) == value


def test_identity_conversions_are_recognised() -> None:
    assert is_identity(POSTGRES.encoder(ColumnType.INTEGER))
    assert not is_identity(POSTGRES.encoder(ColumnType.JSON))
