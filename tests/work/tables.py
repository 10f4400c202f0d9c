"""Tables the write-side tests use, and a helper that creates them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from glue.schema import Column, ColumnType, ForeignKey, Schema
from glue.services.schema import SchemaCommandService

if TYPE_CHECKING:
    from glue.connections import ConnectionPool

ORDERS = Schema(
    name="orders",
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        Column(name="customer", type=ColumnType.TEXT),
        Column(name="total", type=ColumnType.FLOAT),
        Column(name="status", type=ColumnType.TEXT, default="new"),
        Column(name="note", type=ColumnType.TEXT, nullable=True),
    ),
    primary_key=("id",),
    audit=True,
)
LINES = Schema(
    name="lines",
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        Column(name="order_id", type=ColumnType.INTEGER),
        Column(name="qty", type=ColumnType.INTEGER),
    ),
    primary_key=("id",),
    constraints=(
        ForeignKey(
            name="lines_order",
            columns=("order_id",),
            references="orders",
            referenced_columns=("id",),
        ),
    ),
)
ITEMS = Schema(
    name="items",
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        Column(name="name", type=ColumnType.TEXT),
    ),
    primary_key=("id",),
    audit=True,
    soft_delete=True,
)
PLAIN = Schema(
    name="plain",
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        Column(name="value", type=ColumnType.INTEGER),
    ),
    primary_key=("id",),
    versioned=False,
)
COUNTERS = Schema(
    name="counters",
    columns=(
        Column(name="name", type=ColumnType.TEXT),
        Column(name="value", type=ColumnType.INTEGER),
    ),
    primary_key=("name",),
)
PAIRS = Schema(
    name="pairs",
    columns=(
        Column(name="a", type=ColumnType.INTEGER),
        Column(name="b", type=ColumnType.TEXT),
        Column(name="value", type=ColumnType.INTEGER),
    ),
    primary_key=("a", "b"),
)
ALL = (ORDERS, LINES, ITEMS, PLAIN, COUNTERS, PAIRS)


async def create_tables(pool: ConnectionPool, *schemas: Schema) -> None:
    """Create ``schemas`` (all test tables by default) on ``pool``'s database."""
    service = SchemaCommandService(pool)
    for schema in schemas or ALL:
        await service.create_table(schema)
