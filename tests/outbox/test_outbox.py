"""The outbox in one process: written with the unit (O01), delivered after
commit in units of their own (O02) through the inbox (O04), in order per
aggregate (O05), retried, parked and replayed (O03); on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import anyio
import msgspec
import pytest

from glue.ids import new_id
from glue.outbox import CHANNEL, Delivery, Envelope, Relay, deliver
from glue.outbox.status import dead_letters, drain, retry_dead_letters, status
from glue.outbox.worker import Worker

from . import shop
from .shop import Charge, Charged, Paid, Pay, make_app

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from glue import App


@pytest.fixture(autouse=True)
def _nothing_fails() -> Iterator[None]:
    shop.FAILING.clear()
    shop.UNREACHABLE.clear()
    yield
    shop.FAILING.clear()
    shop.UNREACHABLE.clear()


async def select(app: App, sql: str) -> list[tuple[Any, ...]]:
    async with app.connections.get_connection_pool().acquire() as conn:
        return list((await conn.fetch(sql)).rows)


async def totals(app: App) -> list[tuple[Any, ...]]:
    return await select(
        app, "SELECT customer, count, total, last, out_of_order FROM customer_totals"
    )


async def test_a_committed_dispatch_reaches_every_subscriber_once(
    database_url: str,
) -> None:
    async with make_app(database_url, delivery="in-process") as app:
        for amount in (5, 7, 11):
            await app.bus.dispatch(Pay(customer="ada", amount=amount))
        await drain(app)
        assert await totals(app) == [("ada", 3, 23, 3, 0)]
        assert await select(app, "SELECT * FROM audit ORDER BY n") == [
            ("ada", 1),
            ("ada", 2),
            ("ada", 3),
        ]
        assert await select(app, "SELECT aggregate, seq FROM glue_outbox") == [
            ("payments/customer/ada", 1),
            ("payments/customer/ada", 2),
            ("payments/customer/ada", 3),
        ]
        assert await select(app, "SELECT * FROM glue_deliveries") == []
        found = await status(app)
        assert (found.pending, found.in_flight, found.dead_letters) == (0, 0, 0)


async def test_named_aggregates_are_numbered_without_gaps_in_one_statement(
    database_url: str,
) -> None:
    """Units that only insert write their events with their rows (on PostgreSQL
    one statement, the counters' new values numbering the events); concurrent
    ones, each with two events of one aggregate among others, still number
    each aggregate 1, 2, 3, ... without a gap or a repeat."""
    async with make_app(database_url, delivery="workers") as app:

        async def write(i: int) -> None:
            async with app.context(domain="payments") as ctx:
                values = {"id": new_id(), "customer": "ada", "amount": i}
                await ctx.state.insert(shop.CHARGES, values)
                app.outbox.publish(
                    ctx.unit,
                    "payments",
                    [
                        Paid(customer="ada", n=i, amount=1),
                        Charged(customer="ada", amount=i),
                        Paid(customer="bob", n=i, amount=2),
                        Paid(customer="ada", n=i, amount=3),
                    ],
                )

        async with anyio.create_task_group() as tg:
            for i in range(10):
                tg.start_soon(write, i)
        rows = await select(
            app, "SELECT aggregate, seq, payload FROM glue_outbox ORDER BY seq"
        )
        seqs: dict[str, list[int]] = {}
        for aggregate, seq, _ in rows:
            seqs.setdefault(aggregate, []).append(seq)
        assert sorted(seqs.pop("payments/customer/ada")) == list(range(1, 21))
        assert sorted(seqs.pop("payments/customer/bob")) == list(range(1, 11))
        assert sorted(seqs.values()) == [[1]] * 10  # the Charged events
        # A unit's two events of one aggregate follow each other, in order.
        amounts = {}
        for aggregate, seq, payload in rows:
            if aggregate == "payments/customer/ada":
                amounts[seq] = msgspec.json.decode(payload)["amount"]
        assert [amounts[seq] for seq in sorted(amounts)] == [1, 3] * 10
        deliveries = await select(
            app,
            "SELECT COUNT(*), COUNT(DISTINCT aggregate || seq) FROM glue_deliveries",
        )
        assert deliveries == [(2 * 40 - 10, 10 + 20 + 10)]


async def test_a_rolled_back_dispatch_publishes_nothing(database_url: str) -> None:
    async with make_app(database_url, delivery="in-process") as app:
        await app.bus.dispatch(Pay(customer="ada", amount=1))
        # The event handler (in the writer's unit) fails after the event was
        # emitted: the unit rolls back, and its event with it.
        with pytest.raises(ValueError, match="a payment of -1"):
            await app.bus.dispatch(Pay(customer="ada", amount=-1))
        await app.bus.dispatch(Pay(customer="ada", amount=2))
        await drain(app)
        assert await select(app, "SELECT seq FROM glue_outbox ORDER BY seq") == [
            (1,),
            (2,),
        ]
        assert await totals(app) == [("ada", 2, 3, 2, 0)]


async def test_fifty_concurrent_payments_for_one_customer(database_url: str) -> None:
    """The projection no longer runs in the writers' units: none of them fails
    because of it, and once delivered it is exact."""
    failures: list[BaseException] = []
    async with make_app(database_url, delivery="workers") as app:
        assert app.outbox.subscribers["ledger.tally"]
        worker = Worker(app, concurrency=4)
        async with anyio.create_task_group() as tg:
            await tg.start(worker.run)

            async def one() -> None:
                try:
                    await app.bus.dispatch(Charge(customer="ada", amount=2))
                except Exception as exc:
                    failures.append(exc)

            async with anyio.create_task_group() as writers:
                for _ in range(50):
                    writers.start_soon(one)
            await drain(app)
            worker.stop()
        assert failures == []
        assert await select(
            app, "SELECT customer, count, total FROM charge_totals"
        ) == [("ada", 50, 100)]
        assert worker.delivered == 50


async def test_a_failing_subscriber_is_retried_then_parked_and_replayed(
    database_url: str,
) -> None:
    shop.FAILING.add("eve")
    async with make_app(database_url, delivery="in-process") as app:
        for amount in (1, 2):
            await app.bus.dispatch(Pay(customer="eve", amount=amount))
        await app.bus.dispatch(Pay(customer="ada", amount=3))
        await drain(app)
        # The other subscriber, and the other customer, were not held up.
        assert sorted(await totals(app)) == [("ada", 1, 3, 1, 0), ("eve", 2, 3, 2, 0)]
        assert await select(app, "SELECT * FROM audit") == [("ada", 1)]
        letters = await dead_letters(app)
        assert [(x.subscriber, x.seq, x.attempts) for x in letters] == [
            ("ledger.audit", 1, 3),
            ("ledger.audit", 2, 3),
        ]
        assert all("audit refuses eve" in x.error for x in letters)
        assert (await status(app)).dead_letters == 2

        shop.FAILING.clear()
        assert await retry_dead_letters(app, subscriber="ledger.audit") == 2
        await drain(app)
        assert sorted(await select(app, "SELECT * FROM audit")) == [
            ("ada", 1),
            ("eve", 1),
            ("eve", 2),
        ]
        assert await dead_letters(app) == []
        assert await retry_dead_letters(app) == 0


async def test_a_database_down_is_no_attempt_of_the_subscriber(
    database_url: str,
) -> None:
    """A database the delivery needs that cannot be reached holds the event
    back, with the error kept, but spends none of the subscriber's attempts:
    an outage longer than its backoff parks nothing and breaks no order."""
    shop.UNREACHABLE.add("cara")
    async with make_app(database_url, delivery="in-process") as app:
        for amount in (1, 2):
            await app.bus.dispatch(Pay(customer="cara", amount=amount))
        await anyio.sleep(0.5)  # audit's three attempts take 0.06 s
        assert await dead_letters(app) == []
        held = await select(
            app,
            "SELECT seq, attempts, error FROM glue_deliveries "
            "WHERE subscriber = 'ledger.audit' ORDER BY seq",
        )
        assert [(seq, attempts) for seq, attempts, _ in held] == [(1, 0), (2, 0)]
        assert "connection refused" in held[0][2]
        shop.UNREACHABLE.clear()
        await drain(app)
        assert await select(app, "SELECT * FROM audit ORDER BY n") == [
            ("cara", 1),
            ("cara", 2),
        ]
        assert await dead_letters(app) == []


async def test_retrying_a_dead_letter_lets_its_aggregate_go_on(
    database_url: str,
) -> None:
    """Parking lets an aggregate's later events through; when that step
    failed (its database down just then), they wait, and retrying the dead
    letter, the remedy the logs name, lets them through."""
    async with make_app(database_url, delivery="in-process") as app:
        await app.bus.dispatch(Pay(customer="eve", amount=1))
        await drain(app)
        shop.FAILING.add("eve")
        await app.bus.dispatch(Pay(customer="eve", amount=2))
        await drain(app)
        assert [x.seq for x in await dead_letters(app)] == [2]
        # As if parking had not moved the aggregate on past 2.
        pool = app.connections.get_connection_pool()
        async with pool.acquire(write=True) as conn, conn.transaction():
            sql = (
                "UPDATE glue_inbox_aggregates SET seq = 1 "
                "WHERE subscriber = 'ledger.audit' AND aggregate LIKE '%eve'"
            )
            assert await conn.execute(sql) == 1
        shop.FAILING.clear()
        await app.bus.dispatch(Pay(customer="eve", amount=3))
        await anyio.sleep(0.2)
        assert await select(app, "SELECT n FROM audit") == [(1,)]  # 3 waits for 2
        assert await retry_dead_letters(app) == 1
        await drain(app)
        assert await select(app, "SELECT n FROM audit ORDER BY n") == [
            (1,),
            (2,),
            (3,),
        ]


async def test_deliver_applies_each_event_once_in_order(database_url: str) -> None:
    """What a transport sees: early events deferred, repeats duplicates."""
    async with make_app(database_url, delivery="workers") as app:

        def paid(n: int) -> Envelope:
            return Envelope(
                id=f"event-{n}",
                domain="payments",
                event="payments:paid",
                aggregate="payments/customer/zoe",
                seq=n,
                payload=f'{{"customer":"zoe","n":{n},"amount":{n}}}'.encode(),
                created_at=time.time(),
            )

        async def send(n: int) -> Delivery:
            envelope = Envelope.decode(paid(n).encode())
            return (await deliver(app, "ledger.project", envelope)).status

        assert await send(2) is Delivery.DEFERRED
        assert await send(1) is Delivery.APPLIED
        assert await send(1) is Delivery.DUPLICATE
        assert await send(3) is Delivery.DEFERRED
        assert await send(2) is Delivery.APPLIED
        # Two deliveries of one event at once: one applies it.
        results: list[Delivery] = []

        async def racing() -> None:
            results.append(await send(3))

        async with anyio.create_task_group() as tg:
            tg.start_soon(racing)
            tg.start_soon(racing)
        assert sorted(r.value for r in results) == ["applied", "duplicate"]
        assert await totals(app) == [("zoe", 3, 6, 3, 0)]


async def test_a_commit_that_wrote_events_wakes_the_listeners(
    database_url: str,
) -> None:
    async with make_app(database_url, delivery="workers") as app:
        pool = app.outbox.home("payments")
        woken = anyio.Event()
        async with pool.acquire() as conn, conn.listen(CHANNEL, woken.set) as listening:
            assert not woken.is_set()
            await app.bus.dispatch(Pay(customer="ada", amount=1))
            if listening:
                with anyio.fail_after(10):
                    await woken.wait()
            else:  # SQLite: no other session hears of it; the App wakes its own
                assert pool.dialect.notify(CHANNEL) is None


async def test_a_relay_waits_for_a_leased_head_without_spinning(
    database_url: str,
) -> None:
    """Events waiting behind one a dead worker still holds are not due: the
    relay sleeps until the lease runs out (or ``idle``), not in a busy loop."""
    async with make_app(database_url, delivery="workers") as app:
        for amount in (1, 2):
            await app.bus.dispatch(Pay(customer="ada", amount=amount))
        pool = app.outbox.home("payments")
        async with pool.acquire(write=True) as conn, conn.transaction():
            later = time.time() + 100
            mark = conn.dialect.placeholder(1)
            sql = f"UPDATE glue_deliveries SET leased_until = {mark} WHERE seq = 1"  # noqa: S608
            assert await conn.execute(sql, (later,)) == 2
        relay = Relay(app, pool, idle=5.0)
        assert await relay.claim() == []
        assert await relay._next_due() > 4.0


async def test_an_app_delivering_in_process_delivers_what_is_due_before_it_closes(
    tmp_path: Path,
) -> None:
    """A script that dispatches and ends leaves nothing pending: closing the
    App first delivers what is due."""
    url = f"sqlite:///{tmp_path / 'shop.sqlite'}"
    async with make_app(url, delivery="in-process") as app:
        for amount in range(1, 31):
            await app.bus.dispatch(Pay(customer="ada", amount=amount))
    async with make_app(url, delivery="workers") as app:
        found = await status(app)
        assert (found.pending, found.dead_letters) == (0, 0)
        assert await totals(app) == [("ada", 30, 465, 30, 0)]


async def test_an_app_closing_lets_a_delivery_in_flight_finish(
    tmp_path: Path,
) -> None:
    """Closing the App while a subscriber runs lets that round finish: it
    leaves no lease behind for the next App to wait out."""
    url = f"sqlite:///{tmp_path / 'shop.sqlite'}"
    async with make_app(url, delivery="in-process") as app:
        await app.bus.dispatch(Pay(customer="slow-ada", amount=1))
        await app.bus.dispatch(Pay(customer="slow-ada", amount=2))
        await anyio.sleep(0.2)  # the relay is in the first, slow delivery
    async with make_app(url, delivery="workers") as app:
        found = await status(app)
        assert (found.pending, found.in_flight) == (0, 0)
        assert await totals(app) == [("slow-ada", 2, 3, 2, 0)]
