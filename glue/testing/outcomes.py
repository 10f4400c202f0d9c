"""Assertions on what a dispatch emitted (an :class:`~glue.Outcome`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from ..entities import Event

if TYPE_CHECKING:
    from ..domain import Outcome

E = TypeVar("E", bound=Event)


def emitted(outcome: Outcome, kind: type[E]) -> list[E]:
    """The events of type ``kind`` the dispatch emitted, in emission order."""
    return [event for event in outcome.events if isinstance(event, kind)]


def assert_emitted(outcome: Outcome, *events: Event) -> None:
    """Assert that the dispatch emitted exactly ``events``, in this order.

    Raises:
        AssertionError: naming what was expected and what was emitted.
    """
    if tuple(events) != outcome.events:
        expected = "\n  ".join(map(repr, events)) or "(none)"
        got = "\n  ".join(map(repr, outcome.events)) or "(none)"
        raise AssertionError(
            f"{type(outcome.command).__name__} emitted\n  {got}\nexpected\n  {expected}"
        )
