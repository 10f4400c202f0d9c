"""Command policies: the permissions an actor needs, checked before the handler.

::

    @shop.command(DeleteOrder, requires={"orders:admin"})
    async def delete_order(cmd, ctx): ...

The bus reads ``ctx.actor.permissions`` (any set of strings): :class:`Actor` has one,
and so may any object of yours (see :class:`glue.typing.Principal`). An actor that
lacks a permission, or no actor at all, gets :class:`glue.Forbidden` naming what was
missing, and the handler does not run.
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterable
from typing import Any

import msgspec

from ..errors import Forbidden, RegistrationError

__all__ = ["Actor", "Policy"]


class Actor(msgspec.Struct, frozen=True, kw_only=True):
    """Who dispatches a command: an id and what they may do.

    Attributes:
        id: who the actor is (a user id, a service name).
        permissions: what they may do, such as ``frozenset({"orders:admin"})``.
    """

    id: str | int
    permissions: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        # Actor(permissions=["x"]) is a natural thing to write; keep a set.
        held: Iterable[str] = self.permissions
        if type(held) is not frozenset:
            value = frozenset({held}) if isinstance(held, str) else frozenset(held)
            msgspec.structs.force_setattr(self, "permissions", value)


class Policy:
    """The permissions one command requires, checked against the actor.

    Args:
        command: the command's full name, for messages.
        requires: the permissions the actor must all hold.

    Raises:
        glue.RegistrationError: a permission is not a non-empty string.
    """

    __slots__ = ("command", "requires")

    def __init__(self, command: str, requires: Iterable[str]) -> None:
        if isinstance(requires, str):
            requires = {requires}
        self.command = command
        self.requires = frozenset(requires)
        for permission in self.requires:
            if not isinstance(permission, str) or not permission:
                raise RegistrationError(
                    f"{command}: requires= takes permission names (non-empty "
                    f"strings), got {permission!r}"
                )

    def check(self, actor: Any) -> None:
        """Let ``actor`` through, or raise.

        The actor's ``permissions`` may be any iterable of strings (a set, a
        list, a tuple); a single string is one permission.

        Raises:
            glue.Forbidden: the actor lacks a required permission, has no
                permissions that can be read, or is None.
        """
        raw = getattr(actor, "permissions", None)
        held = raw if type(raw) is frozenset or type(raw) is set else _readable(raw)
        if held is not None and self.requires <= held:
            return
        missing = self.requires if held is None else self.requires - held
        needed = ", ".join(sorted(missing))
        who = getattr(actor, "id", actor)
        if actor is None:
            message = (
                f"{self.command} needs an actor with permission {needed}; "
                "it was dispatched without one (pass actor=...)"
            )
        elif held is None and raw is not None:
            message = (
                f"actor {who!r} may not run {self.command}: its permissions "
                f"{reprlib.repr(raw)} are not a string or an iterable of strings"
            )
        else:
            message = (
                f"actor {who!r} may not run {self.command}: missing permission {needed}"
            )
        raise Forbidden(message, missing=missing)


def _readable(held: object) -> frozenset[object] | None:
    """Permissions as a set (a string is one permission), or None if unreadable."""
    if isinstance(held, str):
        return frozenset({held})
    if not isinstance(held, Iterable):
        return None
    try:
        return frozenset(held)
    except TypeError:  # unhashable items
        return None
