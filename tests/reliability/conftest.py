"""Fixtures of the reliability suite: real databases, and real faults.

- ``pair``: two databases ``a`` and ``b`` as URLs, once per kind of pair
  (``sqlite+sqlite``, ``sqlite+postgres``, ``postgres+postgres`` and
  ``two-phase``: two PostgreSQL databases on a server that prepares).
- ``fresh_database``: makes fresh databases on a server; drops them (rolling
  back any prepared transaction left in them) at the end.
- ``start_proxy``: starts a `faults.LossyProxy` to a server, for this test.
- ``restartable_postgres``: a throwaway server of this test's own, which the
  test may restart (never the shared one).

The faults themselves, and the helpers that look at servers, are in
``faults.py``. Tests that run long carry the ``slow`` marker (``pytest -m "not
slow"`` skips them; ``make test`` runs them).
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import TYPE_CHECKING

import anyio
import pytest

from glue import testing
from glue.testing.plugin import started

from .faults import LossyProxy, RestartablePostgres

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
    from pathlib import Path

PAIRS = ["sqlite+sqlite", "sqlite+postgres", "postgres+postgres", "two-phase"]


@pytest.fixture
def fresh_database() -> Iterator[Callable[[str], str]]:
    """``make(server)``: a fresh database on ``server``, dropped afterwards."""
    with ExitStack() as stack:
        yield lambda server: stack.enter_context(testing.fresh_database(server))


@pytest.fixture(params=PAIRS)
def pair(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    fresh_database: Callable[[str], str],
) -> dict[str, str]:
    """URLs of two databases, ``a`` and ``b``, of the kinds the param names."""
    kind: str = request.param
    if kind == "two-phase":
        kinds: tuple[str, ...] = ("postgres_2pc_server", "postgres_2pc_server")
    else:
        kinds = tuple(
            "postgres_server" if k == "postgres" else "sqlite" for k in kind.split("+")
        )
    urls = {}
    for name, server in zip(("a", "b"), kinds, strict=True):
        if server == "sqlite":
            urls[name] = f"sqlite:///{tmp_path / f'{name}.sqlite'}"
        else:
            urls[name] = fresh_database(request.getfixturevalue(server))
    return urls


@pytest.fixture
def two_phase_urls(
    postgres_2pc_server: str, fresh_database: Callable[[str], str]
) -> dict[str, str]:
    """Databases ``a`` and ``b`` on a server that allows prepared transactions."""
    return {name: fresh_database(postgres_2pc_server) for name in ("a", "b")}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the ``pair`` tests that need PostgreSQL with ``postgres``."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "postgres" in str(callspec.params.get("pair", "")):
            item.add_marker(pytest.mark.postgres)
        if callspec is not None and callspec.params.get("pair") == "two-phase":
            item.add_marker(pytest.mark.postgres)


@pytest.fixture
async def start_proxy() -> AsyncIterator[Callable[[str], Awaitable[LossyProxy]]]:
    """``await start_proxy(target_url)``: a `LossyProxy` to the server of
    ``target_url``, serving until the test ends."""
    async with anyio.create_task_group() as tg:

        async def start(target: str) -> LossyProxy:
            proxy = LossyProxy(target)
            await tg.start(proxy.serve)
            return proxy

        yield start
        tg.cancel_scope.cancel()


@pytest.fixture
def restartable_postgres() -> Iterator[RestartablePostgres]:
    """A PostgreSQL server of this test's own, which it may restart."""
    yield from started(RestartablePostgres())
