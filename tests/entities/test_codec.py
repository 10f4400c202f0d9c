"""E02: validation names every bad or missing field by JSON path."""

from __future__ import annotations

from collections.abc import Mapping, MutableSequence, Sequence
from collections.abc import Set as AbstractSet
from typing import Annotated

import msgspec
import pytest

from glue import Command, FieldError, ValidationError
from glue.entities import Codec


class Line(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    sku: str
    quantity: Annotated[int, msgspec.Meta(gt=0)]


class PlaceOrder(Command):
    customer_id: int
    items: list[str]
    total: Annotated[float, msgspec.Meta(gt=0)]
    lines: list[Line] = msgspec.field(default_factory=list)
    tags: dict[str, int] = msgspec.field(default_factory=dict)
    note: str | None = None
    codes: Annotated[list[int], msgspec.Meta(max_length=2)] = msgspec.field(
        default_factory=list
    )


CODEC = Codec(PlaceOrder, "shop:place-order")
GOOD = {"customer_id": 1, "items": ["a"], "total": 2.0}


def errors_of(payload: object) -> list[FieldError]:
    with pytest.raises(ValidationError) as info:
        CODEC.decode(payload)  # type: ignore[arg-type]  # bad payloads on purpose
    assert info.value.entity == "shop:place-order"
    return info.value.errors


@pytest.mark.parametrize(
    "payload",
    [
        b'{"customer_id": 1, "items": ["a"], "total": 2}',
        '{"customer_id": 1, "items": ["a"], "total": 2}',
        bytearray(b'{"customer_id": 1, "items": ["a"], "total": 2}'),
        GOOD,
    ],
)
def test_bytes_str_and_mappings_decode(payload: object) -> None:
    assert CODEC.decode(payload) == PlaceOrder(  # type: ignore[arg-type]  # all accepted
        customer_id=1, items=["a"], total=2.0
    )


def test_every_bad_field_is_reported_with_its_path() -> None:
    errors = errors_of(
        b'{"items": ["a", "b", 3], "total": -1,'
        b' "lines": [{"sku": "x", "quantity": 0}, {"quantity": 1, "extra": 2}],'
        b' "tags": {"a": "x"}, "note": 5}'
    )
    assert {e.path for e in errors} == {
        "$.customer_id",
        "$.items[2]",
        "$.total",
        "$.lines[0].quantity",
        "$.lines[1].sku",
        "$.lines[1].extra",
        "$.tags.a",
        "$.note",
    }
    reasons = {e.path: e.reason for e in errors}
    assert reasons["$.customer_id"] == "missing required field"
    assert reasons["$.lines[1].extra"] == "unknown field"
    assert "str" in reasons["$.items[2]"]


def test_a_constraint_on_a_container_is_reported_on_the_container() -> None:
    errors = errors_of({**GOOD, "codes": [1, 2, 3]})
    assert [e.path for e in errors] == ["$.codes"]
    assert "length" in errors[0].reason


def test_mapping_payloads_collect_every_error_too() -> None:
    errors = errors_of({"customer_id": "x", "items": "no", "total": 0})
    assert [e.path for e in errors] == ["$.customer_id", "$.items", "$.total"]


def test_a_payload_that_is_not_an_object() -> None:
    assert errors_of(b"[1, 2]") == [FieldError("$", "Expected `object`, got `array`")]


def test_malformed_json() -> None:
    [error] = errors_of(b'{"customer_id": ')
    assert error.path == "$" and error.reason.startswith("malformed JSON")


def test_odd_keys_are_quoted_in_paths() -> None:
    errors = errors_of({**GOOD, "tags": {"two words": "x"}})
    assert [e.path for e in errors] == ["$.tags['two words']"]


def test_encode_round_trips() -> None:
    cmd = PlaceOrder(customer_id=1, items=["a"], total=2.0, lines=[Line("x", 1)])
    assert CODEC.decode(CODEC.encode(cmd)) == cmd


class Tagged(Command):
    counts: Sequence[int]
    labels: Mapping[str, int]
    flags: AbstractSet[str] = frozenset()
    queue: MutableSequence[int] = msgspec.field(default_factory=list)


def test_abstract_container_fields_report_every_bad_item() -> None:
    codec = Codec(Tagged, "shop:tagged")
    with pytest.raises(ValidationError) as info:
        codec.decode(
            b'{"counts": [1, "a", 2, "b"], "labels": {"k": "x", "j": "y"},'
            b' "flags": ["ok", 3], "queue": [1, "z"]}'
        )
    assert {e.path for e in info.value.errors} == {
        "$.counts[1]",
        "$.counts[3]",
        "$.labels.k",
        "$.labels.j",
        "$.flags[1]",
        "$.queue[1]",
    }
