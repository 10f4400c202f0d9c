"""The shop's flows over HTTP, on SQLite and on SQLite + PostgreSQL (#11): an
order is pending when it is placed, then accepted or rejected once the
inventory answered (its subscribers run in the server's process)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

from glue.outbox.status import drain

if TYPE_CHECKING:
    import httpx

    from glue import App


async def test_customers_order_and_an_admin_cancels(
    shop: httpx.AsyncClient, shop_app: App, admin: dict[str, str]
) -> None:
    bob = await shop.post(
        "/customers:register-customer", json={"name": "Bob", "email": "bob@example.org"}
    )
    assert bob.json() == {"customer_id": 2}
    await shop.post("/inventory:restock", json={"sku": "PER-002", "quantity": 4})
    await drain(shop_app)  # the orders domain hears of Bob
    answers: list[httpx.Response] = []

    async def order(customer: int, sku: str, key: str) -> None:
        answers.append(
            await shop.post(
                "/orders:place-order",
                json={"customer_id": customer, "lines": [{"sku": sku, "quantity": 2}]},
                headers={"idempotency-key": key},
            )
        )

    async with anyio.create_task_group() as group:
        for n in range(4):
            group.start_soon(order, 1 + n % 2, "PER-002", f"per-{n}")
        group.start_soon(order, 1, "APL-001", "apl-0")
        group.start_soon(order, 1, "APL-001", "apl-0")  # a retry
    assert [answer.status_code for answer in answers] == [200] * 6
    assert {answer.json()["status"] for answer in answers} == {"pending"}
    await drain(shop_app)
    orders = await shop.get("/orders/orders?order=id&select=id,status", headers=admin)
    listed = orders.json()
    assert listed["total"] == 5  # four PER-002 orders and one APL-001, retried
    statuses = sorted(row["status"] for row in listed["items"])
    assert statuses == ["accepted"] * 3 + ["rejected"] * 2
    stock = {
        row["sku"]: row["quantity"]
        for row in (await shop.get("/inventory/stock")).json()["items"]
    }
    assert stock == {"APL-001": 8, "PER-002": 0}

    first = next(row["id"] for row in listed["items"] if row["status"] == "accepted")
    fetched = await shop.get(f"/orders/orders/{first}", headers=admin)
    cancelled = await shop.post(
        "/orders:cancel-order",
        json={"order_id": first},
        headers={**admin, "if-match": fetched.headers["etag"]},
    )
    assert cancelled.status_code == 200
    after = await shop.get(f"/orders/orders/{first}", headers=admin)
    assert after.json()["status"] == "cancelled"
    assert after.headers["etag"] != fetched.headers["etag"]
    accepted = await shop.get(
        '/orders/orders?where={"status": "accepted"}&select=id', headers=admin
    )
    assert accepted.json()["total"] == 2
    await drain(shop_app)  # the inventory puts the cancelled order's stock back
    back = (await shop.get("/inventory/stock")).json()["items"]
    assert sum(row["quantity"] for row in back) == 10
