"""E01, E03, E04 (names): entity bases, immutability, names."""

from __future__ import annotations

from typing import Annotated

import msgspec
import pytest

from glue import Command, Event, Ok, Response
from glue.entities import Codec, kebab_case


class CreateOrder(Command):
    customer_id: int
    items: list[str]
    total: Annotated[float, msgspec.Meta(gt=0)]
    note: str | None = None
    priority: int = 0


class DeleteOrder(Command, name="delete", forbid_unknown_fields=True):
    order_id: int


class OrderCreated(Event):
    order_id: int


class OrderPlaced(Response):
    order_id: int


def test_fields_required_optional_and_defaults() -> None:
    cmd = CreateOrder(customer_id=1, items=["a"], total=2.5)
    assert cmd.note is None and cmd.priority == 0
    with pytest.raises(TypeError, match="customer_id"):
        CreateOrder(items=[], total=1.0)  # type: ignore[call-arg]  # the point


def test_instances_are_immutable_and_keyword_only() -> None:
    cmd = CreateOrder(customer_id=1, items=[], total=1.0)
    with pytest.raises(AttributeError):
        cmd.total = 3.0  # type: ignore[misc]  # the point
    with pytest.raises(TypeError):
        CreateOrder(1, [], 1.0)  # type: ignore[call-arg]  # the point
    assert cmd.replace(total=3.0).total == 3.0 and cmd.total == 1.0


def test_entities_are_hashable_and_compare_by_value() -> None:
    assert OrderCreated(order_id=1) == OrderCreated(order_id=1)
    assert hash(DeleteOrder(order_id=2)) == hash(DeleteOrder(order_id=2))


def test_names_are_explicit_or_kebab_case() -> None:
    assert CreateOrder.__entity_name__ == "create-order"
    assert DeleteOrder.__entity_name__ == "delete"
    assert OrderCreated.__entity_name__ == "order-created"
    assert Ok.__entity_name__ == "ok"
    assert kebab_case("HTTPRequestSent") == "http-request-sent"
    assert kebab_case("Order2Shipped") == "order2-shipped"


def test_an_invalid_name_is_refused_at_class_creation() -> None:
    with pytest.raises(TypeError, match="not valid"):

        class Bad(Command, name="Not Valid"):
            pass


def test_constraints_are_checked_when_decoding() -> None:
    codec = Codec(CreateOrder, "shop:create-order")
    with pytest.raises(ValueError, match=r"\$\.total"):
        codec.decode({"customer_id": 1, "items": [], "total": 0})


def test_unknown_keys_are_ignored_by_default() -> None:
    codec = Codec(CreateOrder, "shop:create-order")
    cmd = codec.decode(b'{"customer_id": 1, "items": [], "total": 1, "extra": 5}')
    assert cmd == CreateOrder(customer_id=1, items=[], total=1.0)


def test_an_entity_can_forbid_unknown_keys() -> None:
    codec = Codec(DeleteOrder, "shop:delete")
    with pytest.raises(ValueError, match=r"\$\.extra: unknown field") as info:
        codec.decode(b'{"order_id": 1, "extra": 5}')
    assert [e.path for e in info.value.errors] == ["$.extra"]  # type: ignore[attr-defined]  # ValidationError


def test_ok_is_the_default_response() -> None:
    assert isinstance(Ok(), Response)
    assert msgspec.json.encode(Ok()) == b"{}"
