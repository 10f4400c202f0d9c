"""H08: an OpenAPI 3.1 document generated from the entities' schemas, with
names unique across domains, and an offline docs page (#11)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import glue.http
from domains.shop import make_app
from glue import App, Command, Context, Domain, Response

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import httpx

    Connect = Callable[[object], httpx.AsyncClient]


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


async def test_the_shops_document(shop: httpx.AsyncClient) -> None:
    served = await shop.get("/openapi.json")
    assert served.status_code == 200
    document = served.json()
    assert document["openapi"] == "3.1.0"
    schemas = document["components"]["schemas"]
    for ref in refs(document):
        assert ref.startswith("#/components/schemas/")
        assert ref.rpartition("/")[2] in schemas, ref
    place = document["paths"]["/orders:place-order"]["post"]
    assert place["operationId"] == "orders:place-order"
    assert place["summary"] == "Order articles for a customer."
    body = place["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/orders.place-order"}
    command = schemas["orders.place-order"]
    assert command["required"] == ["customer_id", "lines"]
    line = schemas[command["properties"]["lines"]["items"]["$ref"].rpartition("/")[2]]
    assert line["properties"]["quantity"] == {
        "type": "integer",
        "exclusiveMinimum": 0,
        "maximum": 1000,
    }
    answer = place["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/orders.placed"}
    assert set(place["responses"]) >= {"200", "404", "409", "415", "422", "500"}
    cancel = document["paths"]["/orders:cancel-order"]["post"]
    assert {"401", "403", "412", "428"} <= set(cancel["responses"])
    assert cancel["security"] == [{"bearer": []}]
    if_match = [p for p in cancel["parameters"] if p["name"] == "If-Match"]
    assert if_match[0]["required"] is True
    restock = document["paths"]["/inventory:restock"]["post"]
    ok = restock["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/Ok"}
    orders = document["paths"]["/orders/orders"]["get"]
    assert "orders:read" in orders["description"]
    row = schemas["orders.orders.row"]
    assert row["properties"]["created_by"] == {
        "anyOf": [{"type": "string"}, {"type": "null"}]
    }
    customers = schemas["customers.customers.row"]
    assert set(customers["properties"]) == {"id", "name"}
    assert "/orders/orders/{key}" in document["paths"]
    assert "/query" in document["paths"]
    problem = schemas["Problem"]
    assert {"type", "title", "status", "detail", "request_id"} <= set(
        problem["properties"]
    )


def twin(name: str, kind: type) -> Domain:
    """A domain with its own Place and Placed: every twin's classes have the
    same names, and fields of type ``kind``."""

    entity: Any = type(Command)  # the entities' metaclass: real annotations, not text
    Place = entity(
        "Place", (Command,), {"__annotations__": {"value": kind}, "__doc__": "Place."}
    )
    Placed = entity("Placed", (Response,), {"__annotations__": {"value": kind}})

    domain = Domain(name)

    @domain.command(Place, returns=Placed)
    async def place(cmd: Any, ctx: Context) -> Any:
        return Placed(value=cmd.value)

    return domain


def test_names_are_unique_across_domains() -> None:
    app = App([twin("shop", int), twin("stock", int), twin("billing", str)])
    document = glue.http.asgi(app).openapi()
    schemas = document["components"]["schemas"]
    assert {"shop.place", "stock.place", "billing.place"} <= set(schemas)
    assert {"shop.placed", "stock.placed", "billing.placed"} <= set(schemas)
    assert schemas["billing.place"]["properties"] == {"value": {"type": "string"}}
    assert schemas["shop.place"]["properties"] == {"value": {"type": "integer"}}
    operations = [
        operation["operationId"]
        for path in document["paths"].values()
        for operation in path.values()
    ]
    assert len(operations) == len(set(operations))
    assert {"/shop:place", "/stock:place", "/billing:place"} <= set(document["paths"])
    stock = document["paths"]["/stock:place"]["post"]
    answer = stock["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/stock.placed"}
    for ref in refs(document):
        assert ref.rpartition("/")[2] in schemas


async def test_the_docs_page_serves_its_own_assets(connect: Connect) -> None:
    api = glue.http.asgi(make_app({"default": "sqlite://"}))
    async with connect(api) as http:
        page = await http.get("/docs")
        assert page.status_code == 200
        assert "http://" not in page.text and "https://" not in page.text
        for asset in ("swagger-ui.css", "swagger-ui-bundle.js"):
            assert f"/docs/assets/{asset}" in page.text
            served = await http.get(f"/docs/assets/{asset}")
            assert served.status_code == 200 and len(served.content) > 1000
    off = glue.http.asgi(App([twin("shop", int)]), docs=False)
    async with connect(off) as http:
        assert (await http.get("/docs")).status_code == 405  # only POST /{name}
