"""Hostile input stays a client error (#13, point 5): whatever bytes, text or
objects reach ``App.decode`` or ``decode_statement``, the caller gets a command
(or statement) or ``glue.ValidationError`` / ``glue.UnknownCommand`` naming what
was wrong, never msgspec's errors, RecursionError, UnicodeEncodeError or
TypeError. Identifiers are checked by property too."""

from __future__ import annotations

import os
import re
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from glue import App, Command, Domain, UnknownCommand, ValidationError
from glue.errors import SchemaError
from glue.query import (
    MAX_DEPTH,
    Condition,
    Conditions,
    FieldLookup,
    FieldReference,
    QueryStatement,
    SchemaReference,
    Value,
    decode_statement,
)
from glue.query.decoding import STATEMENT
from glue.schema import check_identifier
from glue.sql.dialects import POSTGRES, SQLITE

EXAMPLES = int(os.environ.get("GLUE_PROPERTY_EXAMPLES", "200"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


class Line(msgspec.Struct, frozen=True):
    sku: str
    quantity: int


class PlaceOrder(Command):
    customer_id: int
    items: list[str]
    total: float
    lines: list[Line] = msgspec.field(default_factory=list)
    note: str | None = None
    data: dict[str, Any] = msgspec.field(default_factory=dict)


def make_app() -> App:
    shop = Domain("shop")

    @shop.command(PlaceOrder)
    async def place(command: PlaceOrder) -> None:
        return None

    return App([shop])


APP = make_app()
NAME = "shop:place-order"
GOOD: dict[object, object] = {"customer_id": 7, "items": ["apple"], "total": 2.5}


def deep_array(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def decoded_or_refused(payload: Any, name: Any = NAME) -> PlaceOrder | None:
    """Decode, or check the refusal is a ValidationError that says where."""
    try:
        command = APP.decode(name, payload)
    except ValidationError as exc:
        assert exc.entity == NAME
        assert exc.errors, "a refusal names at least one field"
        for error in exc.errors:
            assert error.path.startswith("$") and error.reason
        return None
    assert isinstance(command, PlaceOrder)
    return command


# -- commands: the corpus from the adversarial run ------------------------------

BASE = b'"customer_id": 7, "items": ["apple"], "total": 2.5'


@pytest.mark.parametrize(
    ("payload", "path", "reason"),
    [
        pytest.param(b'{"customer_id": 7', "$", "malformed JSON", id="truncated"),
        pytest.param(b"{" + BASE + b"} junk", "$", "malformed JSON", id="trailing"),
        pytest.param(
            b'{"customer_id": 7, "items": [], "total": 1e999}',
            "$.total",
            "out of range",
            id="1e999",
        ),
        pytest.param(
            b'{"customer_id": ' + b"9" * 5000 + b', "items": [], "total": 1}',
            "$.customer_id",
            "out of range",
            id="5000-digits",
        ),
        pytest.param(
            b"{" + BASE + b', "zz": ' + deep_array(1000) + b"}",
            "$",
            "nested too deeply",
            id="deep-under-unknown-key",
        ),
        pytest.param(
            b"{" + BASE + b', "data": {"a": ' + deep_array(1000) + b"}}",
            "$",
            "nested too deeply",
            id="deep-under-known-key",
        ),
        pytest.param(
            ("{" + BASE.decode() + ', "zz": ' + deep_array(1000).decode() + "}"),
            "$",
            "nested too deeply",
            id="deep-in-text",
        ),
        pytest.param(
            '{"customer_id": 7, "items": ["\ud800"], "total": 1}',
            "$",
            "lone surrogate",
            id="lone-surrogate",
        ),
        pytest.param([1], "$", "expected JSON text", id="list"),
        pytest.param(None, "$", "expected JSON text", id="none"),
        pytest.param(5, "$", "expected JSON text", id="int"),
        pytest.param({**GOOD, 5: 1}, "$", "a key", id="int-key"),
        pytest.param(
            {**GOOD, "data": {"a": 1e999}}, None, None, id="mapping-inf-is-a-float"
        ),
    ],
)
def test_each_hostile_payload_is_a_validation_error_saying_where(
    payload: Any, path: str | None, reason: str | None
) -> None:
    if path is None:
        assert decoded_or_refused(payload) is not None
        return
    with pytest.raises(ValidationError) as info:
        APP.decode(NAME, payload)
    [error] = info.value.errors
    assert error.path == path
    assert reason is not None and reason in error.reason


@pytest.mark.parametrize("name", [["x"], {}, {"a": 1}, None, 5, b"shop:place-order"])
def test_a_name_that_is_no_string_is_an_unknown_command(name: Any) -> None:
    with pytest.raises(UnknownCommand, match="known: shop:place-order"):
        APP.decode(name, b"{}")


def test_a_large_body_of_bad_items_names_each() -> None:
    # 100,000 bad items (about 1 MB): every one is named, by path, in one pass
    # that grows with the body (RELIABILITY.md has the time it takes).
    body = msgspec.json.encode({**GOOD, "items": list(range(100_000))})
    with pytest.raises(ValidationError) as info:
        APP.decode(NAME, body)
    assert len(info.value.errors) == 100_000
    assert info.value.errors[-1].path == "$.items[99999]"


# -- commands: properties ------------------------------------------------------

json_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
json_values = st.recursive(
    json_leaves,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)
# Text with lone surrogates too (hypothesis leaves them out by default).
any_text = st.text(st.characters(exclude_categories=()), max_size=20)
near_payloads = st.fixed_dictionaries(
    {},
    optional={
        "customer_id": st.integers() | json_values,
        "items": st.lists(st.text(max_size=5)) | json_values,
        "total": st.floats(allow_nan=False) | json_values,
        "lines": st.lists(
            st.fixed_dictionaries(
                {}, optional={"sku": json_values, "quantity": json_values}
            )
        ),
        "note": st.none() | st.text(max_size=20),
        "data": st.dictionaries(st.text(max_size=5), json_values, max_size=3),
        "extra": json_values,
    },
)


@FUZZ
@given(st.binary(max_size=600))
@example(b'{"customer_id": 7, "items": [], "total": 1e999}')
@example(b"\xff\xfe")
def test_any_bytes_decode_or_are_refused(payload: bytes) -> None:
    decoded_or_refused(payload)


@FUZZ
@given(near_payloads, st.sampled_from(["whole", "cut", "junk", "text"]), st.data())
def test_near_miss_json_decodes_or_is_refused(
    value: dict[str, Any], how: str, data: st.DataObject
) -> None:
    body = msgspec.json.encode(value)
    if how == "cut":
        body = body[: data.draw(st.integers(0, max(len(body) - 1, 0)))]
    elif how == "junk":
        body += data.draw(st.binary(min_size=1, max_size=8))
    payload: Any = body.decode() if how == "text" else body
    decoded_or_refused(payload)
    decoded_or_refused(value)  # the same as a mapping


@FUZZ
@given(
    st.none()
    | st.integers()
    | any_text
    | st.lists(json_values, max_size=3)
    | st.dictionaries(st.integers() | any_text, json_values, max_size=4)
)
def test_any_object_as_payload_decodes_or_is_refused(payload: Any) -> None:
    decoded_or_refused(payload)


@FUZZ
@given(
    any_text
    | st.lists(st.text(max_size=3), max_size=3)
    | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)
    | st.integers()
    | st.none()
    | st.binary(max_size=8)
)
def test_any_name_is_a_command_or_unknown(name: Any) -> None:
    if name == NAME:
        return
    with pytest.raises(UnknownCommand):
        APP.decode(name, msgspec.json.encode(GOOD))


# -- query statements from JSON --------------------------------------------------


def nested_conditions(depth: int) -> bytes:
    inner = (
        '{"type": "condition", "field": {"type": "field", "field": {"name": "id"}, '
        '"table_name": "t"}, "lookup": "eq", "value": {"type": "value", "value": 1}}'
    )
    for _ in range(depth):
        inner = '{"type": "conditions", "children": [' + inner + "]}"
    table = '{"type": "schema", "name": "t"}'
    return ('{"table": ' + table + ', "where": ' + inner + "}").encode()


def statement_error(payload: Any) -> str:
    with pytest.raises(ValidationError) as info:
        decode_statement(payload)
    assert info.value.entity == STATEMENT
    [error] = info.value.errors
    return f"{error.path}: {error.reason}"


def test_a_statement_within_the_depth_limit_decodes() -> None:
    statement = decode_statement(nested_conditions(30))
    assert isinstance(statement.where, Conditions)


@pytest.mark.parametrize("depth", [31, 200, 1000, 5000])
def test_a_statement_nested_too_deep_is_refused(depth: int) -> None:
    assert statement_error(nested_conditions(depth)) == (
        f"$: nested deeper than {MAX_DEPTH} levels"
    )


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        pytest.param(b'{"table": {"type": "sch', "$: malformed JSON", id="truncated"),
        pytest.param(
            b'{"table": {"type": "schema", "name": "t"}} x',
            "$: malformed JSON",
            id="trailing",
        ),
        pytest.param(
            b'{"table": {"type": "schema", "name": "t"}, "limit": {"limit": 1e999}}',
            "$.limit.limit: ",
            id="1e999",
        ),
        pytest.param(
            '{"table": {"type": "schema", "name": "\ud800"}}',
            "$: not valid Unicode",
            id="lone-surrogate",
        ),
        pytest.param(
            b'{"table": {"type": "schema", "name": "t"}, "x": '
            + deep_array(3000)
            + b"}",
            "$: nested deeper than",
            id="deep-under-unknown-key",
        ),
        pytest.param(["table"], "$: expected JSON text", id="list"),
        pytest.param(None, "$: expected JSON text", id="none"),
        pytest.param(b'{"table": {"name": "t"}}', "missing required field", id="tag"),
    ],
)
def test_each_hostile_statement_is_a_validation_error(
    payload: Any, expected: str
) -> None:
    assert expected in statement_error(payload)


def statements() -> st.SearchStrategy[QueryStatement]:
    names = st.sampled_from(["t", "orders", "x" * 70, "a\x00b", "é", "t; DROP"])
    leaf = st.builds(
        Condition,
        field=st.builds(FieldReference.of, names, names),
        lookup=st.sampled_from(list(FieldLookup)),
        value=st.builds(Value, json_values),
    )
    tree = st.recursive(
        leaf,
        lambda inner: st.lists(inner, min_size=1, max_size=3).map(
            lambda children: Conditions(*children)
        ),
        max_leaves=8,
    )
    return st.builds(
        QueryStatement,
        table=st.builds(SchemaReference, name=names),
        where=st.none()
        | tree.map(lambda t: t if isinstance(t, Conditions) else Conditions(t)),
    )


@FUZZ
@given(statements(), st.sampled_from(["whole", "cut", "junk", "flip"]), st.data())
def test_statement_json_decodes_or_is_refused(
    statement: QueryStatement, how: str, data: st.DataObject
) -> None:
    body = msgspec.json.encode(statement)
    if how == "whole":
        assert decode_statement(body) == statement
        return
    if how == "cut":
        body = body[: data.draw(st.integers(0, len(body) - 1))]
    elif how == "junk":
        body += data.draw(st.binary(min_size=1, max_size=8))
    else:
        index = data.draw(st.integers(0, len(body) - 1))
        byte = bytes([data.draw(st.integers(0, 255))])
        body = body[:index] + byte + body[index + 1 :]
    try:
        decoded = decode_statement(body)
    except ValidationError as exc:
        assert exc.entity == STATEMENT and exc.errors
    else:
        assert isinstance(decoded, QueryStatement)


@FUZZ
@given(st.binary(max_size=400))
def test_any_bytes_are_a_statement_or_refused(payload: bytes) -> None:
    try:
        decode_statement(payload)
    except ValidationError as exc:
        assert exc.entity == STATEMENT


# -- identifiers -------------------------------------------------------------------

SAFE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


@FUZZ
@given(any_text | st.text(st.sampled_from('ab_1"\x00; -'), max_size=70))
@example("x" * 63)
@example("x" * 64)
@example("a\x00b")
def test_an_identifier_is_safe_or_refused(name: str) -> None:
    try:
        checked = check_identifier(name, "table")
    except SchemaError as exc:
        assert SAFE.fullmatch(name) is None
        assert "is not a valid name" in str(exc)
        for dialect in (SQLITE, POSTGRES):
            with pytest.raises(SchemaError):
                dialect.quote(name, "table")
    else:
        assert checked == name and SAFE.fullmatch(name)
        assert SQLITE.quote(name, "table") == POSTGRES.quote(name, "table")
        assert SQLITE.quote(name, "table") == f'"{name}"'
