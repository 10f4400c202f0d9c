from __future__ import annotations

import builtins
import datetime as dt
import uuid
from decimal import Decimal

import pytest

import glue
from glue.errors import (
    ConcurrencyConflict,
    ConnectionError,
    FieldError,
    GlueError,
    IntegrityError,
    NotFound,
    PoolTimeout,
    SchemaError,
    StaleEtag,
    ValidationError,
    format_key,
)
from glue.schema import Column, ColumnType, Schema
from glue.state import StateManager


def test_every_error_is_rooted_in_glue_error() -> None:
    for name in glue.errors.__all__:
        cls = getattr(glue.errors, name)
        if isinstance(cls, type) and issubclass(cls, BaseException):
            assert issubclass(cls, GlueError), name


def test_validation_error_lists_every_field_by_path() -> None:
    err = ValidationError(
        "shop:create-order",
        [FieldError("$.total", "must be > 0"), FieldError("$.items[2]", "not a str")],
    )
    assert isinstance(err, ValueError)
    assert str(err) == (
        "invalid shop:create-order: $.total: must be > 0; $.items[2]: not a str"
    )


def test_conflict_names_table_and_key() -> None:
    err = ConcurrencyConflict("orders", 7, expected="abc")
    assert str(err) == (
        "orders 7 changed since it was read (held etag abc); nothing of the unit "
        "of work was written"
    )
    assert err.table == "orders" and err.key == 7


def test_a_stale_etag_is_a_conflict_of_its_own() -> None:
    err = StaleEtag("orders", 7, expected="abc")
    assert isinstance(err, ConcurrencyConflict)
    assert (err.table, err.key, err.expected) == ("orders", 7, "abc")
    assert str(err) == (
        "orders 7: etag abc is not the row's current etag (the row changed since "
        "it was read, or the etag is not one of its); read the row again"
    )


def test_keys_read_as_the_user_wrote_them() -> None:
    key = uuid.UUID("3f2a6c1e-8b7d-4e0f-9a1b-2c3d4e5f6a7b")
    assert str(NotFound("orders", 7)) == "orders 7 not found"
    assert str(NotFound("orders", "7")) == "orders 7 not found"
    assert str(NotFound("orders", key)) == f"orders {key} not found"
    assert str(ConcurrencyConflict("orders", key)).startswith(f"orders {key} changed")
    assert str(StaleEtag("orders", (key,), "x")).startswith(f"orders {key}: etag x")
    cases = {
        (7, 2): "(7, 2)",
        (7,): "7",
        "apple": "apple",
        "": "''",
        "two words": "'two words'",
        "tab\t": "'tab\\t'",
        Decimal("9.50"): "9.50",
        dt.date(2030, 1, 2): "2030-01-02",
        dt.datetime(2030, 1, 2, 3, 4, tzinfo=dt.UTC): "2030-01-02T03:04:00+00:00",
        None: "None",
        True: "True",
        b"\x00": "b'\\x00'",
    }
    for value, shown in cases.items():
        assert format_key(value) == shown, value
    assert format_key({"id": 7, "line": "a b"}) == "(id=7, line='a b')"
    assert format_key([1, key]) == f"(1, {key})"


async def test_state_messages_name_keys_as_written() -> None:
    table = Schema(
        name="orders",
        columns=(
            Column(name="id", type=ColumnType.INTEGER),
            Column(name="total", type=ColumnType.INTEGER),
        ),
        primary_key=("id",),
    )
    state = StateManager()
    await state.insert(table, {"id": 8, "total": 1})
    with pytest.raises(IntegrityError, match=r"orders 8 already exists"):
        await state.insert(table, {"id": 8, "total": 1})
    with pytest.raises(SchemaError, match=r"an update of orders 8 changes primary"):
        await state.update(table, 8, {"id": 9})
    with pytest.raises(NotFound, match=r"^orders 9 not found$"):
        await state.require(table, "9")


def test_connection_errors_keep_stdlib_meaning() -> None:
    err = PoolTimeout("orders", "no connection free within 1.0s")
    assert isinstance(err, ConnectionError)
    assert isinstance(err, builtins.ConnectionError)
    assert isinstance(err, TimeoutError)
    assert str(err) == "database 'orders': no connection free within 1.0s"
