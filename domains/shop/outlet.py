"""Outlet: events a subscriber sends on, committed with its own unit of work.

A command handler emits events; a subscriber (``@domain.subscriber``) only
yields mutations. When a subscriber's answer is an event, as the inventory's
answer to an order is, an :class:`Outlet` writes it to the App's outbox with
the subscriber's unit of work: it commits with the subscriber's changes and its
inbox row, or not at all, so a redelivered event sends no second answer, and
the answer reaches its own subscribers after the commit.

The domain is built before its App: :func:`domains.shop.app.make_app` binds
the outlet once the App exists (in every process that builds it, ``glue
worker`` included).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from glue import ContextError

if TYPE_CHECKING:
    from glue import App, Context, Event

__all__ = ["Outlet"]


class Outlet:
    """The events of one domain's subscribers, into the App's outbox.

    Args:
        domain: the name of the domain whose subscribers send (it registers
            the events they send).
    """

    def __init__(self, domain: str) -> None:
        self.domain = domain
        self._app: App | None = None

    def bind(self, app: App) -> None:
        """Send through ``app``'s outbox from now on."""
        self._app = app

    def send(self, ctx: Context, *events: Event) -> None:
        """Write ``events`` with the unit of work of ``ctx`` (a subscriber's):
        they leave when it commits.

        Raises:
            glue.ContextError: the outlet is not bound to an App.
        """
        if self._app is None:
            raise ContextError(
                f"the outlet of domain {self.domain!r} is not bound to an App: "
                "call outlet.bind(app) once the App is built"
            )
        self._app.outbox.publish(ctx.unit, self.domain, events)
