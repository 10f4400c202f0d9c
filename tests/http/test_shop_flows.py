"""The shop's flows over HTTP, on SQLite and on SQLite + PostgreSQL (#11)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    import httpx


async def test_customers_order_and_an_admin_cancels(
    shop: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    bob = await shop.post(
        "/shop:register-customer", json={"name": "Bob", "email": "bob@example.org"}
    )
    assert bob.json() == {"customer_id": 2}
    await shop.post("/shop:restock", json={"sku": "PER-002", "quantity": 4})
    answers: list[httpx.Response] = []

    async def order(customer: int, sku: str, key: str) -> None:
        answers.append(
            await shop.post(
                "/shop:place-order",
                json={"customer_id": customer, "lines": [{"sku": sku, "quantity": 2}]},
                headers={"idempotency-key": key},
            )
        )

    async with anyio.create_task_group() as group:
        for n in range(4):
            group.start_soon(order, 1 + n % 2, "PER-002", f"per-{n}")
        group.start_soon(order, 1, "APL-001", "apl-0")
        group.start_soon(order, 1, "APL-001", "apl-0")  # a retry
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200, 200, 200, 200, 422, 422]
    orders = await shop.get(
        "/shop/orders?order=id&select=id,customer_id", headers=admin
    )
    listed = orders.json()
    assert listed["total"] == 3  # two PER-002 orders and one APL-001, retried
    stock = {
        row["sku"]: row["quantity"]
        for row in (await shop.get("/shop/stock")).json()["items"]
    }
    assert stock == {"APL-001": 8, "PER-002": 0}

    first = listed["items"][0]["id"]
    fetched = await shop.get(f"/shop/orders/{first}", headers=admin)
    assert fetched.json()["status"] == "placed"
    cancelled = await shop.post(
        "/shop:cancel-order",
        json={"order_id": first},
        headers={**admin, "if-match": fetched.headers["etag"]},
    )
    assert cancelled.status_code == 200
    after = await shop.get(f"/shop/orders/{first}", headers=admin)
    assert after.json()["status"] == "cancelled"
    assert after.headers["etag"] != fetched.headers["etag"]
    placed = await shop.get(
        '/shop/orders?where={"status": "placed"}&select=id', headers=admin
    )
    assert placed.json()["total"] == 2
