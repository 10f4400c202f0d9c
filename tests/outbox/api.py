"""An API process of the multi-process test: ``python -m tests.outbox.api
COUNT SEED`` dispatches COUNT payments over 100 customers, 16 at a time, on
the database ``OUTBOX_TEST_DATABASE`` names; it exits with status 1 when one
failed (each failure on standard error)."""

from __future__ import annotations

import random
import sys

import anyio

from glue.work import RetryPolicy

from .shop import Pay, make_app

CUSTOMERS = 100
AT_ONCE = 16


async def main(count: int, seed: int) -> int:
    chooser = random.Random(seed)
    orders = [
        (f"c{chooser.randrange(CUSTOMERS)}", chooser.randrange(1, 100))
        for _ in range(count)
    ]
    failed = 0
    retry = RetryPolicy(attempts=200, base_delay=0.005, max_delay=0.1)
    async with make_app(delivery="workers", retry=retry) as app:
        limiter = anyio.CapacityLimiter(AT_ONCE)

        async def one(customer: str, amount: int) -> None:
            nonlocal failed
            async with limiter:
                try:
                    await app.bus.dispatch(Pay(customer=customer, amount=amount))
                except Exception as exc:
                    failed += 1
                    sys.stderr.write(f"failed: {exc!r}\n")

        async with anyio.create_task_group() as tg:
            for customer, amount in orders:
                tg.start_soon(one, customer, amount)
    return failed


if __name__ == "__main__":
    sys.exit(1 if anyio.run(main, int(sys.argv[1]), int(sys.argv[2])) else 0)
