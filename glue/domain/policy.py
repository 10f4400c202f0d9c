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

from typing import TYPE_CHECKING, Any

import msgspec

from ..errors import Forbidden, RegistrationError

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["Actor", "Policy"]


class Actor(msgspec.Struct, frozen=True, kw_only=True):
    """Who dispatches a command: an id and what they may do.

    Attributes:
        id: who the actor is (a user id, a service name).
        permissions: what they may do, such as ``frozenset({"orders:admin"})``.
    """

    id: str | int
    permissions: frozenset[str] = frozenset()


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

        Raises:
            glue.Forbidden: the actor lacks a required permission (or is None).
        """
        held = getattr(actor, "permissions", None)
        if held is not None and self.requires <= held:
            return
        missing = self.requires if held is None else self.requires - set(held)
        needed = ", ".join(sorted(missing))
        if actor is None:
            message = (
                f"{self.command} needs an actor with permission {needed}; "
                "it was dispatched without one (pass actor=...)"
            )
        else:
            who = getattr(actor, "id", actor)
            message = (
                f"actor {who!r} may not run {self.command}: missing permission {needed}"
            )
        raise Forbidden(message, missing=missing)
