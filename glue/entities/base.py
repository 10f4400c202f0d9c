"""Command, Event and Response: the entities a domain speaks in.

Each is a frozen, keyword-only :class:`msgspec.Struct`. Subclasses are configured
with class keywords: msgspec's own (``forbid_unknown_fields=True`` rejects unknown
input keys, which are ignored by default) plus glue's ``name=``, the name the entity
registers under in its domain. Without ``name=`` the class name is turned into
kebab-case (``CreateOrder`` → ``create-order``)::

    class CreateOrder(Command):
        customer_id: int
        items: list[str]
        total: Annotated[float, Meta(gt=0)]

    class DeleteOrder(Command, name="delete", forbid_unknown_fields=True):
        order_id: int

``name=`` is taken by a metaclass rather than ``__init_subclass__``: msgspec's
metaclass already has a positional parameter called ``name`` (the class name), so a
class keyword of that name cannot reach ``__init_subclass__``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar, dataclass_transform

import msgspec

if TYPE_CHECKING:
    from typing import Self

__all__ = ["Command", "Entity", "EntityMeta", "Event", "Ok", "Response", "kebab_case"]

_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_ENTITY_NAME = re.compile(r"[a-z][a-z0-9]*(?:[-_.][a-z0-9]+)*")


def kebab_case(class_name: str) -> str:
    """Turn a class name into the kebab-case name an entity registers under.

    Args:
        class_name: a CamelCase name such as ``CreateOrder`` or ``HTTPRequestSent``.

    Returns:
        ``create-order``, ``http-request-sent``.
    """
    return _WORD_BOUNDARY.sub("-", class_name).lower()


class EntityMeta(msgspec.StructMeta):
    """The metaclass of every entity: takes the ``name=`` class keyword.

    The other class keywords are msgspec's Struct options and pass through.
    """

    def __new__(
        mcls,
        cls_name: str,
        bases: tuple[type, ...],
        namespace: dict[str, Any],
        /,
        *,
        name: str | None = None,
        **options: Any,
    ) -> EntityMeta:
        # msgspec inherits frozen but not kw_only: every entity class gets both.
        options.setdefault("frozen", True)
        options.setdefault("kw_only", True)
        cls = super().__new__(mcls, cls_name, bases, namespace, **options)
        entity_name = kebab_case(cls_name) if name is None else name
        if not isinstance(entity_name, str) or not _ENTITY_NAME.fullmatch(entity_name):
            raise TypeError(
                f"{cls_name}: entity name {entity_name!r} is not valid: use lowercase "
                "letters and digits, words joined by '-', '_' or '.'"
            )
        cls.__entity_name__ = entity_name  # type: ignore[attr-defined]  # declared on Entity
        return cls


@dataclass_transform(
    frozen_default=True, kw_only_default=True, field_specifiers=(msgspec.field,)
)
class Entity(msgspec.Struct, metaclass=EntityMeta, frozen=True, kw_only=True):
    """The base of Command, Event and Response. Not used directly.

    Attributes:
        __entity_name__: the name the class registers under in a domain (class-level).
    """

    if TYPE_CHECKING:
        # Declared for type checkers only: glue re-exports this class with
        # ``__module__ = "glue"``, where msgspec could not resolve ``ClassVar``.
        __entity_name__: ClassVar[str]

        # For type checkers: the class keywords an entity accepts. At run time
        # EntityMeta takes ``name`` and msgspec takes the rest.
        def __init_subclass__(
            cls,
            *,
            name: str | None = None,
            forbid_unknown_fields: bool = False,
            omit_defaults: bool = False,
            rename: Any = None,
            tag: Any = None,
            tag_field: str | None = None,
            **options: Any,
        ) -> None: ...

    def replace(self, **changes: Any) -> Self:
        """Return a copy with some fields changed (entities are immutable).

        Args:
            **changes: the new field values.
        """
        return msgspec.structs.replace(self, **changes)


class Command(Entity):
    """A request to change state, handled by exactly one command handler."""


class Event(Entity):
    """A fact a command handler emitted; routed to every handler of its type."""


class Response(Entity):
    """What a command handler answers with; :class:`Ok` when it gives none."""


class Ok(Response):
    """The default response of a command whose handler returned or yielded none."""
