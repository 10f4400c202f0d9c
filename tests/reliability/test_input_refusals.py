"""Input that used to escape as TypeError or ValueError, leak a password, or reach
the database (#13, point 7): permissions of any iterable shape, malformed database
URLs, and table names a database would refuse, each a glue error that says what
was wrong, before any SQL runs."""

from __future__ import annotations

import os
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glue import (
    Actor,
    App,
    Command,
    ConnectionError,
    Context,
    Domain,
    Forbidden,
    QueryError,
    SchemaError,
)
from glue.connections import DefaultConnectionPool, PostgresConnection, pool_from_url
from glue.connections.postgres import redact_dsn
from glue.domain.policy import Policy
from glue.query import FieldReference, QueryStatement, SchemaReference
from glue.schema import Column, ColumnType, Schema
from glue.services.schema import SchemaQueryService

if TYPE_CHECKING:
    from collections.abc import Iterable

SECRET = "S3cr3tPw"
EXAMPLES = int(os.environ.get("GLUE_PROPERTY_EXAMPLES", "200"))


# -- permissions -------------------------------------------------------------------


class Refund(Command):
    order_id: int


@dataclass
class User:
    id: int
    permissions: Any


@pytest.mark.parametrize(
    "held",
    [
        ["orders:refund", "x"],
        ("orders:refund",),
        "orders:refund",
        {"orders:refund"},
        {"orders:refund": True}.keys(),
        (p for p in ["orders:refund"]),
    ],
    ids=["list", "tuple", "str", "set", "keys", "generator"],
)
async def test_permissions_may_be_any_iterable_of_strings(held: Iterable[str]) -> None:
    ran: list[int] = []
    shop = Domain("shop")

    @shop.command(Refund, requires={"orders:refund"})
    async def refund(command: Refund, ctx: Context) -> None:
        ran.append(command.order_id)

    async with App([shop]) as app:
        await app.bus.dispatch(Refund(order_id=1), actor=User(id=1, permissions=held))
    assert ran == [1]


def test_an_actor_keeps_its_permissions_as_a_set() -> None:
    assert Actor(id=1, permissions=["x", "y"]).permissions == {"x", "y"}  # type: ignore[arg-type]
    assert Actor(id=1, permissions="x").permissions == {"x"}  # type: ignore[arg-type]
    Policy("shop:refund", {"x"}).check(Actor(id=1, permissions=["x"]))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("held", "why"),
    [
        (["orders:read"], "missing permission orders:refund"),
        ("orders", "missing permission orders:refund"),
        (5, "its permissions 5 are not a string or an iterable of strings"),
        ([["orders:refund"]], "are not a string or an iterable of strings"),
    ],
)
def test_permissions_that_do_not_grant_are_refused_saying_why(
    held: Any, why: str
) -> None:
    with pytest.raises(Forbidden, match=why) as info:
        Policy("shop:refund", {"orders:refund"}).check(User(id=3, permissions=held))
    assert info.value.missing == {"orders:refund"}
    assert "actor 3 may not run shop:refund" in str(info.value)


# -- database URLs --------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        f"sqlite://user:{SECRET}@host/x.db",
        f"sqlite:///x.db?password={SECRET}",
        f"postgresql://u:{SECRET}@[bad/db",
        f"postgresql://u:{SECRET}@host:abc/db",
        f"postgresql://u:{SECRET}@host:99999/db",
        f"nosuch://u:{SECRET}@[x/y",
        f"postgresql://u:{SECRET}/x@host/db?sslmode=[",
    ],
)
def test_a_malformed_url_is_a_connection_error_without_the_password(url: str) -> None:
    try:
        pool_from_url(url)
    except ConnectionError as exc:
        assert SECRET not in str(exc)
        assert "cannot" in str(exc) or "unknown" in str(exc)
    else:
        pytest.fail(f"{url} was accepted")


@pytest.mark.parametrize(
    "dsn",
    [
        f"postgresql://u:{SECRET}@127.0.0.1/db?port=abc",
        f"postgresql://u:{SECRET}/x@127.0.0.1/db",
        f"postgresql://u:{SECRET}@[::1/db",
    ],
)
async def test_a_url_asyncpg_cannot_read_fails_to_open_without_the_password(
    dsn: str,
) -> None:
    with pytest.raises(ConnectionError, match="cannot connect to") as info:
        async with DefaultConnectionPool(PostgresConnection, dsn=dsn):
            pass
    assert SECRET not in "".join(traceback.format_exception(info.value))


url_text = st.text(
    st.characters(codec="ascii") | st.sampled_from("@:/?&=[]%#"), max_size=20
)


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    st.sampled_from(["sqlite", "postgresql", "postgres", "mysql", ""]),
    url_text,
    url_text,
    url_text,
    st.booleans(),
)
def test_no_url_leaks_its_password(
    scheme: str, user: str, rest: str, query: str, in_query: bool
) -> None:
    if in_query:
        url = f"{scheme}://{user}@{rest}?{query}&password={SECRET}"
    else:
        url = f"{scheme}://{user}:{SECRET}@{rest}?{query}"
    assert SECRET not in redact_dsn(url)
    try:
        pool_from_url(url)
    except ConnectionError as exc:
        assert SECRET not in str(exc)


# -- table names ---------------------------------------------------------------------

ORDERS = Schema(
    name="orders",
    columns=(Column(name="id", type=ColumnType.INTEGER),),
    primary_key=("id",),
)
BAD_NAMES = ["a\x00b", "x" * 64, "x" * 200, "t; DROP TABLE orders", 'a"b', "é", ""]


@pytest.mark.parametrize("name", BAD_NAMES)
async def test_a_bad_table_name_is_refused_before_any_sql(
    database_url: str, name: str
) -> None:
    shop = Domain("shop")
    shop.table(ORDERS)
    async with App([shop], databases={"default": database_url}) as app:
        with pytest.raises(QueryError, match="is not a valid name"):
            await app.query(QueryStatement(table=SchemaReference(name=name)))
        with pytest.raises(QueryError, match="is not a valid name"):
            await app.explain(QueryStatement(table=SchemaReference(name=name)))
        if name:  # an empty alias is no alias
            with pytest.raises(QueryError, match="is not a valid name"):
                await app.query(
                    QueryStatement(table=SchemaReference(name="orders", alias=name))
                )
        with pytest.raises(QueryError):
            await app.query(
                QueryStatement(
                    table=SchemaReference(name="orders"),
                    only=[FieldReference.of("orders", name)],
                )
            )
        pool = app.connections.get_connection_pool("orders")
        with pytest.raises(SchemaError, match="is not a valid name"):
            await SchemaQueryService(pool).describe(name)
        with pytest.raises(SchemaError, match="is not a valid name"):
            Schema(name=name, columns=ORDERS.columns, primary_key=("id",))
        with pytest.raises(SchemaError, match="is not a valid name"):
            Column(name=name, type=ColumnType.TEXT)
