"""Apps for tests: every database a private in-memory SQLite."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..domain import App

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ..domain import Domain
    from ..work import RetryPolicy

MEMORY = "sqlite:///:memory:"


def memory_app(domains: Iterable[Domain], *, retry: RetryPolicy | None = None) -> App:
    """An App over ``domains`` whose every declared database is in memory.

    Each database the domains' tables name (``"default"`` when none) is a
    private in-memory SQLite, created with its tables when the App opens and
    gone when it closes::

        async with memory_app([shop]) as app:
            outcome = await app.bus.execute(PlaceOrder(...))
    """
    domains = list(domains)
    names = {table.database for d in domains for table in d.tables.values()}
    databases = dict.fromkeys(names or {"default"}, MEMORY)
    return App(domains, databases, create_tables=True, retry=retry)
