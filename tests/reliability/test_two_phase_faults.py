"""Two-phase commit never lies: committed, not committed, or in doubt.

Issue #13, point 3. Every fault is real: a `LossyProxy` between glue and the
server loses a reply after the server ran the statement, cuts a session, or
refuses connections; a process dying mid-commit is an exception glue does not
catch, raised on its way between two statements. Databases ``a`` and ``b``:
in a unit on both, ``a`` (first by name) is the coordinator, which records the
decision and commits in one phase, and ``b`` prepares; in the mixed case ``b``
cannot prepare, so it is the coordinator and ``a`` prepares.

After each fault the test checks what the caller saw against the databases:
the writes are there exactly when the caller was told "committed" (or the
decision was "commit"), and no prepared transaction is left once recovery ran.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from glue import App, CommitError, CommitInDoubt, ConnectionError
from glue.connections import ConnectionManager
from glue.testing.plugin import throwaway
from glue.work import UnitOfWork, recover_prepared

from .bank import (
    ACCOUNTS,
    OPENING,
    Transfer,
    bank_app,
    move_and_crash,
    open_accounts,
)
from .faults import (
    HookedPool,
    LossyProxy,
    admin,
    database_of,
    prepared_transactions,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

MOVE = Transfer(source="a", source_id=1, target="b", target_id=1, amount=10)
MOVED = {("a", 1): OPENING - 10, ("b", 1): OPENING + 10}
UNMOVED = {("a", 1): OPENING, ("b", 1): OPENING}


class Wire:
    """Databases ``a`` and ``b``, each behind its own proxy."""

    def __init__(self, direct: dict[str, str], proxies: dict[str, LossyProxy]) -> None:
        self.direct = direct
        self.proxies = proxies
        self.urls = {
            name: proxies[name].url(database_of(url)) for name, url in direct.items()
        }

    def app(self) -> App:
        return bank_app(self.urls)

    async def balances(self) -> dict[tuple[str, int], int]:
        """The balances, read straight from the servers."""
        found = {}
        for name, url in self.direct.items():
            table = ACCOUNTS[name].name
            rows = await admin(url, f"SELECT id, balance FROM {table}")  # noqa: S608
            found.update({(name, r["id"]): r["balance"] for r in rows})
        return found

    async def prepared(self) -> list[tuple[str, str]]:
        return await prepared_transactions(self.direct)


@pytest.fixture(scope="session")
def postgres_without_2pc(postgres_server: str) -> Iterator[str]:
    """A server that cannot prepare: the shared one when it has
    ``max_prepared_transactions = 0``, else a throwaway one of our own."""
    setting = asyncio.run(admin(postgres_server, "SHOW max_prepared_transactions"))
    if int(setting[0][0]) == 0:
        yield postgres_server
        return
    yield from throwaway({"max_prepared_transactions": "0"})


@pytest.fixture
def mixed_urls(
    postgres_2pc_server: str,
    postgres_without_2pc: str,
    fresh_database: Callable[[str], str],
) -> dict[str, str]:
    return {
        "a": fresh_database(postgres_2pc_server),
        "b": fresh_database(postgres_without_2pc),
    }


async def _wire(
    urls: dict[str, str], start_proxy: Callable[[str], Awaitable[LossyProxy]]
) -> Wire:
    proxies = {name: await start_proxy(url) for name, url in urls.items()}
    wire = Wire(urls, proxies)
    async with wire.app() as app:
        await open_accounts(app, per_database=1)
    return wire


@pytest.fixture
async def two_phase(
    two_phase_urls: dict[str, str],
    start_proxy: Callable[[str], Awaitable[LossyProxy]],
) -> Wire:
    """Two databases on a server that prepares, with an account each."""
    return await _wire(two_phase_urls, start_proxy)


@pytest.fixture
async def mixed(
    mixed_urls: dict[str, str],
    start_proxy: Callable[[str], Awaitable[LossyProxy]],
) -> Wire:
    """``a`` on a server that prepares, ``b`` on one that cannot."""
    return await _wire(mixed_urls, start_proxy)


async def transfer(wire: Wire, cue: Callable[[], None]) -> Any:
    """Open the app, set the fault up (``cue``), dispatch MOVE through the
    proxies; return what the caller saw."""
    async with wire.app() as app:
        cue()
        try:
            return await app.bus.dispatch(MOVE)
        except (ConnectionError, CommitError) as exc:
            return exc


async def restart_recovers(wire: Wire) -> None:
    """Open the app again (it recovers at startup); nothing is left prepared."""
    for proxy in wire.proxies.values():
        proxy.up()
    async with wire.app():
        pass
    assert await wire.prepared() == []


# -- the session dies, or a reply is lost ------------------------------------------


async def test_a_session_lost_after_prepare_still_commits(two_phase: Wire) -> None:
    """3a: b's session dies once it prepared; the coordinator decides commit,
    and b's prepared transaction is committed on a fresh connection."""
    outcome = await transfer(
        two_phase, lambda: two_phase.proxies["b"].cut_after("PREPARE TRANSACTION ")
    )
    assert not isinstance(outcome, Exception), outcome
    assert two_phase.proxies["b"].fired
    assert await two_phase.balances() == MOVED
    assert await two_phase.prepared() == []


async def test_a_lost_reply_to_prepare_rolls_back(two_phase: Wire) -> None:
    """3b: b prepared but its reply was lost: not committed, and the prepared
    transaction glue cannot be sure of is found and rolled back."""
    outcome = await transfer(
        two_phase, lambda: two_phase.proxies["b"].lose_reply("PREPARE TRANSACTION ")
    )
    assert isinstance(outcome, ConnectionError)
    assert not isinstance(outcome, CommitError)
    assert await two_phase.balances() == UNMOVED
    assert await two_phase.prepared() == []


async def test_a_lost_reply_to_prepare_with_the_server_gone(two_phase: Wire) -> None:
    """3b, worse: b cannot be reached after its lost reply. Not committed; the
    error names the prepared transaction that may be left, and the next start
    rolls it back (no decision was recorded)."""
    outcome = await transfer(
        two_phase,
        lambda: two_phase.proxies["b"].lose_reply(
            "PREPARE TRANSACTION ", then_down=True
        ),
    )
    assert isinstance(outcome, ConnectionError)
    ((database, gid),) = await two_phase.prepared()
    assert database == database_of(two_phase.direct["b"])
    assert any(gid in note for note in outcome.__notes__)
    await restart_recovers(two_phase)
    assert await two_phase.balances() == UNMOVED


async def test_a_lost_reply_to_the_coordinators_commit(two_phase: Wire) -> None:
    """The decision's reply is lost: the coordinator's record says it
    committed, so b is committed too."""
    outcome = await transfer(
        two_phase, lambda: two_phase.proxies["a"].lose_reply("COMMIT")
    )
    assert not isinstance(outcome, Exception), outcome
    assert two_phase.proxies["a"].fired
    assert await two_phase.balances() == MOVED
    assert await two_phase.prepared() == []


async def test_a_lost_reply_to_commit_prepared_is_not_a_failure(
    two_phase: Wire,
) -> None:
    """3d: COMMIT PREPARED ran but its reply was lost. The server says the
    transaction committed: the caller is told so, and nothing runs twice."""
    outcome = await transfer(
        two_phase, lambda: two_phase.proxies["b"].lose_reply("COMMIT PREPARED ")
    )
    assert not isinstance(outcome, Exception), outcome
    assert two_phase.proxies["b"].fired
    assert await two_phase.balances() == MOVED
    assert await two_phase.prepared() == []


async def test_a_server_gone_after_prepare_is_in_doubt_then_recovered(
    two_phase: Wire,
) -> None:
    """b prepares, then cannot be reached: the coordinator still decides
    commit. CommitInDoubt says so and names b's prepared transaction, which
    holds b's row until the next start commits it."""
    outcome = await transfer(
        two_phase,
        lambda: two_phase.proxies["b"].cut_after(
            "PREPARE TRANSACTION ", then_down=True
        ),
    )
    assert isinstance(outcome, CommitInDoubt)
    assert outcome.decision == "commit"
    ((_, gid),) = await two_phase.prepared()
    assert outcome.prepared == (("b", gid),)
    assert gid in str(outcome)
    assert await two_phase.balances() == {("a", 1): OPENING - 10, ("b", 1): OPENING}
    await restart_recovers(two_phase)
    assert await two_phase.balances() == MOVED


async def test_a_lost_reply_to_commit_prepared_with_the_server_gone(
    two_phase: Wire,
) -> None:
    """COMMIT PREPARED ran, its reply was lost, and b cannot be reached to
    check: in doubt, though decided; the writes are all there, and the next
    start finds nothing left to do."""
    outcome = await transfer(
        two_phase,
        lambda: two_phase.proxies["b"].lose_reply("COMMIT PREPARED ", then_down=True),
    )
    assert isinstance(outcome, CommitInDoubt)
    assert outcome.decision == "commit"
    assert len(outcome.prepared) == 1
    assert await two_phase.balances() == MOVED
    await restart_recovers(two_phase)
    assert await two_phase.balances() == MOVED


async def test_mixed_a_lost_reply_to_the_coordinators_commit(mixed: Wire) -> None:
    """3c: b cannot prepare, so it coordinates; its COMMIT ran but the reply
    was lost. Its record says commit: a's prepared transaction is committed."""
    outcome = await transfer(mixed, lambda: mixed.proxies["b"].lose_reply("COMMIT"))
    assert not isinstance(outcome, Exception), outcome
    assert mixed.proxies["b"].fired
    assert await mixed.balances() == MOVED
    assert await mixed.prepared() == []


async def test_mixed_coordinator_unreachable_is_in_doubt_then_recovered(
    mixed: Wire,
) -> None:
    """3c, worse: b's commit reply is lost and b cannot be reached to read the
    decision. CommitInDoubt, undecided, naming a's prepared transaction; the
    next start reads b's record (commit) and commits a."""
    outcome = await transfer(
        mixed, lambda: mixed.proxies["b"].lose_reply("COMMIT", then_down=True)
    )
    assert isinstance(outcome, CommitInDoubt)
    assert outcome.decision is None
    ((_, gid),) = await mixed.prepared()
    assert outcome.prepared == (("a", gid),)
    await restart_recovers(mixed)
    assert await mixed.balances() == MOVED


# -- the process dies between two statements ---------------------------------------


async def test_a_crash_before_the_decision_is_rolled_back_at_startup(
    two_phase: Wire,
) -> None:
    """The process dies once b prepared, before the coordinator committed: the
    next start finds b's prepared transaction, finds no commit recorded, and
    rolls it back."""
    await move_and_crash(two_phase.direct, "after", "PREPARE TRANSACTION ")
    assert len(await two_phase.prepared()) == 1
    await restart_recovers(two_phase)
    assert await two_phase.balances() == UNMOVED


async def test_a_crash_after_the_decision_is_committed_at_startup(
    two_phase: Wire,
) -> None:
    """The process dies once the coordinator committed, before COMMIT PREPARED:
    the decision is recorded, and the next start commits b."""
    await move_and_crash(two_phase.direct, "before", "COMMIT PREPARED ")
    assert len(await two_phase.prepared()) == 1
    await restart_recovers(two_phase)
    assert await two_phase.balances() == MOVED


async def test_recovery_never_rolls_back_a_unit_still_committing(
    two_phase: Wire,
) -> None:
    """Recovery beside a live unit: while the coordinator has not committed
    yet, deciding waits for it (and gives up after its lock timeout, leaving
    the prepared transaction alone); the unit then commits everything."""
    manager = ConnectionManager.from_urls(two_phase.direct)
    async with manager:
        pools = {
            name: HookedPool(manager.get_connection_pool(name)) for name in ("a", "b")
        }
        prepared, resume = anyio.Event(), anyio.Event()

        async def hook(when: str, sql: str) -> None:
            if when == "after" and sql.startswith("PREPARE TRANSACTION "):
                prepared.set()
                await resume.wait()

        pools["b"].hook = hook

        async def move() -> None:
            async with UnitOfWork(lambda table: pools[table[-1]]) as unit:
                src = await unit.state.require(ACCOUNTS["a"], 1)
                dst = await unit.state.require(ACCOUNTS["b"], 1)
                await unit.state.update(
                    ACCOUNTS["a"], 1, {"balance": src["balance"] - 10}
                )
                await unit.state.update(
                    ACCOUNTS["b"], 1, {"balance": dst["balance"] + 10}
                )

        async with anyio.create_task_group() as tg:
            tg.start_soon(move)
            await prepared.wait()
            (found,) = await recover_prepared(manager.pools.values(), lock_timeout=0.5)
            assert found.decision is None
            assert found.outcome.startswith("left: undecided")
            assert len(await two_phase.prepared()) == 1
            resume.set()
    assert await two_phase.balances() == MOVED
    assert await two_phase.prepared() == []
