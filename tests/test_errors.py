from __future__ import annotations

import builtins

import glue
from glue.errors import (
    ConcurrencyConflict,
    ConnectionError,
    FieldError,
    GlueError,
    PoolTimeout,
    ValidationError,
)


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
    assert "orders 7" in str(err)
    assert err.table == "orders" and err.key == 7


def test_connection_errors_keep_stdlib_meaning() -> None:
    err = PoolTimeout("orders", "no connection free within 1.0s")
    assert isinstance(err, ConnectionError)
    assert isinstance(err, builtins.ConnectionError)
    assert isinstance(err, TimeoutError)
    assert str(err) == "database 'orders': no connection free within 1.0s"
