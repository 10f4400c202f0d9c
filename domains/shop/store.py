"""The shop's in-memory store and its transactions.

Each dispatch gets a :class:`Transaction` through the ``store`` resource: it works
on copies, and the resource commits them when the context exits cleanly or drops
them when it exits with an error, so a failed command changes nothing.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Store", "Transaction"]


class Store:
    """The shop's data: customers, stock per article, orders, an audit trail."""

    def __init__(self) -> None:
        self.customers: dict[int, dict[str, Any]] = {}
        self.stock: dict[str, int] = {}
        self.orders: dict[int, dict[str, Any]] = {}
        self.audit: list[str] = []

    def begin(self) -> Transaction:
        """Start a transaction over copies of the data."""
        return Transaction(self)


class Transaction:
    """Copies of the store's data, written back by :meth:`commit`."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.customers = dict(store.customers)
        self.stock = dict(store.stock)
        self.orders = dict(store.orders)

    def commit(self) -> None:
        """Make the changes visible in the store."""
        self._store.customers = self.customers
        self._store.stock = self.stock
        self._store.orders = self.orders
