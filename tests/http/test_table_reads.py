"""H05, H06: exposed tables are read with select, order, limit/offset and nested
filters (unknown field or lookup: 400), with totals; one row carries its etag
as ETag; ``POST /query`` needs a permission (#11)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

import glue.http
from glue import App, Column, ColumnType, Domain, Schema

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from pathlib import Path

    import httpx

    Connect = Callable[[object], httpx.AsyncClient]

SKUS = ["ABC-001", "ABC-002", "BCD-003", "BCD-004", "CDE-005"]


@pytest.fixture
async def stocked(shop: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    for n, sku in enumerate(SKUS, start=1):
        await shop.post("/inventory:restock", json={"sku": sku, "quantity": n})
    yield shop


async def test_rows_are_paged_with_their_total(stocked: httpx.AsyncClient) -> None:
    page = await stocked.get("/inventory/stock?select=sku&order=-sku&limit=2&offset=1")
    assert page.status_code == 200
    assert page.json() == {
        "items": [{"sku": "BCD-004"}, {"sku": "BCD-003"}],
        "total": 6,
        "limit": 2,
        "offset": 1,
    }
    every = (await stocked.get("/inventory/stock")).json()
    assert [row["sku"] for row in every["items"]] == sorted([*SKUS, "APL-001"])
    assert set(every["items"][0]) == {"sku", "quantity", "etag"}


async def test_flat_filters_and_lookups(stocked: httpx.AsyncClient) -> None:
    async def skus(query: str) -> list[str]:
        answer = await stocked.get(f"/inventory/stock?select=sku&{query}")
        assert answer.status_code == 200, answer.text
        return [row["sku"] for row in answer.json()["items"]]

    assert await skus("quantity=3") == ["BCD-003"]
    assert await skus("quantity__gte=4&sku__startswith=BCD") == ["BCD-004"]
    assert await skus("sku__in=ABC-001,CDE-005") == ["ABC-001", "CDE-005"]
    assert await skus("sku__icontains=cd") == ["BCD-003", "BCD-004", "CDE-005"]
    assert await skus("quantity__isnull=true") == []


async def test_nested_where_filters(stocked: httpx.AsyncClient) -> None:
    where = {
        "or": [
            {"sku": {"startswith": "ABC"}, "quantity": {"gt": 1}},
            {"not": {"quantity": {"lt": 10}}},
        ]
    }
    answer = await stocked.get(
        "/inventory/stock", params={"select": "sku", "where": json.dumps(where)}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["items"] == [{"sku": "ABC-002"}, {"sku": "APL-001"}]
    assert answer.json()["total"] == 2


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("select=sku,price", "price"),
        ("order=-price", "price"),
        ("price=3", "price"),
        ("quantity__near=3", "near"),
        ('where={"price": 1}', "price"),
        ('where={"quantity": {"about": 1}}', "about"),
        ('where={"or": {"sku": "x"}}', "where.or"),
        ("where=[1", "where"),
        ("limit=many", "limit"),
        ("limit=100000", "limit"),
        ("offset=-1", "offset"),
        ("quantity__isnull=maybe", "quantity__isnull"),
    ],
)
async def test_a_bad_parameter_is_a_400_naming_it(
    stocked: httpx.AsyncClient, query: str, named: str
) -> None:
    refused = await stocked.get(f"/inventory/stock?{query}")
    assert refused.status_code == 400, refused.text
    assert named in refused.json()["detail"]
    assert refused.json()["error"] == "QueryError"


async def test_a_row_has_its_etag_and_if_none_match_spares_it(
    stocked: httpx.AsyncClient,
) -> None:
    row = await stocked.get("/inventory/stock/ABC-002")
    assert row.status_code == 200
    assert row.json()["quantity"] == 2
    etag = row.headers["etag"]
    assert etag == f'"{row.json()["etag"]}"'
    same = await stocked.get(
        "/inventory/stock/ABC-002", headers={"if-none-match": etag}
    )
    assert (same.status_code, same.content, same.headers["etag"]) == (304, b"", etag)
    await stocked.post("/inventory:restock", json={"sku": "ABC-002", "quantity": 1})
    changed = await stocked.get(
        "/inventory/stock/ABC-002", headers={"if-none-match": etag}
    )
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    missing = await stocked.get("/inventory/stock/ZZZ-999")
    assert missing.status_code == 404


async def test_reads_honour_the_exposure(
    shop: httpx.AsyncClient, admin: dict[str, str], reader: dict[str, str]
) -> None:
    assert (await shop.get("/orders/orders")).status_code == 401
    assert (await shop.get("/orders/orders", headers=reader)).status_code == 200
    refused = await shop.get("/customers/customers", headers=reader)
    assert (refused.status_code, refused.json()["missing"]) == (403, ["customers:read"])
    customers = await shop.get("/customers/customers", headers=admin)
    assert customers.json()["items"] == [{"id": 1, "name": "Ada"}]  # no email
    assert (
        await shop.get("/customers/customers?email=x", headers=admin)
    ).status_code == 400
    assert (await shop.get("/shop/glue_ids")).status_code == 404  # not exposed


async def test_post_query_needs_its_permission(
    stocked: httpx.AsyncClient, admin: dict[str, str], reader: dict[str, str]
) -> None:
    statement = {
        "table": {"type": "schema", "name": "stock"},
        "where": {
            "type": "condition",
            "field": {"type": "field", "field": {"name": "quantity"}},
            "lookup": "gte",
            "value": 5,
        },
    }
    assert (await stocked.post("/query", json=statement)).status_code == 401
    refused = await stocked.post("/query", json=statement, headers=reader)
    assert (refused.status_code, refused.json()["missing"]) == (403, ["glue:query"])
    answer = await stocked.post("/query", json=statement, headers=admin)
    assert [row["sku"] for row in answer.json()["items"]] == ["APL-001", "CDE-005"]
    bad = await stocked.post("/query", json={"table": "stock"}, headers=admin)
    assert bad.status_code == 422
    unknown = {"table": {"type": "schema", "name": "nowhere"}}
    missing = await stocked.post("/query", json=unknown, headers=admin)
    assert missing.status_code == 400


SOFT = Schema(
    name="notes",
    primary_key=("id",),
    soft_delete=True,
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        Column(name="text", type=ColumnType.TEXT),
    ),
)


async def test_soft_deleted_rows_are_never_read(
    tmp_path: Path, connect: Connect
) -> None:
    notes = Domain("notes")
    notes.table(SOFT)
    notes.expose(SOFT)
    app = App(
        [notes],
        databases={"default": f"sqlite:///{tmp_path / 'n.sqlite'}"},
        create_tables=True,
    )
    api = glue.http.asgi(app, query_permission=None)
    async with api.lifespan(), connect(api) as http:
        async with app.context(domain="notes") as ctx:
            await ctx.state.insert(SOFT, {"id": 1, "text": "kept"})
            await ctx.state.insert(SOFT, {"id": 2, "text": "gone"})
        async with app.context(domain="notes") as ctx:
            await ctx.state.delete(SOFT, 2)
        page = (await http.get("/notes/notes?select=id")).json()
        assert (page["items"], page["total"]) == ([{"id": 1}], 1)
        assert (await http.get("/notes/notes/2")).status_code == 404
        assert (await http.get("/notes/notes/1")).status_code == 200
        assert (await http.post("/query", json={})).status_code == 404


def test_a_domain_exposes_only_what_it_declared() -> None:
    from glue import RegistrationError

    notes = Domain("notes")
    with pytest.raises(RegistrationError, match="declare the table first"):
        notes.expose(SOFT)
    notes.table(SOFT)
    with pytest.raises(RegistrationError, match="unknown column"):
        notes.expose(SOFT, fields=("id", "title"))
