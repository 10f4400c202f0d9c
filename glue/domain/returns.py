"""What a command answers with: the response types its handler may give.

A command declares them with ``returns=``, or its handler's return annotation
does::

    @shop.command(PlaceOrder, returns=OrderPlaced)        # declared
    async def place(cmd, ctx): ...

    @shop.command(Restock)
    async def restock(cmd: Restock, ctx: Context) -> None: ...   # Ok

    @shop.command(Register)
    async def register(cmd, ctx) -> AsyncIterator[Registered | CustomerRegistered]:
        ...                                                     # Registered

``returns=`` takes a Response class, a union of them, or a tuple; ``None`` in it
means the handler may give no response (the caller then gets :class:`glue.Ok`).
From an annotation: an async function's ``-> X | None`` allows X and Ok; an
async generator's ``AsyncIterator[...]`` allows the Response classes it names, or
Ok when it names none. An annotation that names something that is not a
Response, an Event or None, or a name that cannot be resolved at registration
(one imported only for type checkers), declares nothing: the handler may then
give any Response, as without an annotation.

The bus checks every response against the declaration at dispatch
(:class:`glue.HandlerError` otherwise), and the HTTP front documents it.
"""

from __future__ import annotations

import ast
import builtins
import collections.abc as abc
import types
import typing
from typing import TYPE_CHECKING, Any

from ..entities.base import Event, Ok, Response
from ..errors import RegistrationError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["ANY_RESPONSE", "declared_responses"]

ANY_RESPONSE: tuple[type[Response], ...] = (Response,)
"""The declaration of a command that declares nothing: any Response."""

_UNKNOWN = object()  # a part of an annotation that declares nothing we can use
_GENERATORS = frozenset({abc.AsyncGenerator, abc.AsyncIterator, abc.AsyncIterable})
_GENERATOR_NAMES = frozenset(
    {"AsyncGenerator", "AsyncIterator", "AsyncIterable"}
)  # wrappers an annotation may name without importing them at run time


def declared_responses(
    handler: Callable[..., Any], generator: bool, returns: object, where: str
) -> tuple[type[Response], ...]:
    """The response types a command's handler may give.

    Args:
        handler: the command handler.
        generator: whether it is an async generator.
        returns: what ``returns=`` was given; ``...`` when it was not given.
        where: the command's name, for errors.

    Returns:
        the Response classes (``Ok`` among them when giving none is allowed), or
        :data:`ANY_RESPONSE` when nothing is declared.

    Raises:
        glue.RegistrationError: ``returns=`` holds something that is not a
            Response class or None.
    """
    if returns is not ...:
        leaves = list(_leaves_of(returns))
        bad = [leaf for leaf in leaves if leaf is not None and not _response(leaf)]
        if bad or not leaves:
            raise RegistrationError(
                f"{where}: returns= takes Response classes (a union or tuple of "
                f"them, None for Ok), got {returns!r}"
            )
        return _declaration(leaves)
    annotation = getattr(handler, "__annotations__", {}).get("return", _UNKNOWN)
    if annotation is _UNKNOWN:
        return ANY_RESPONSE
    if isinstance(annotation, str):
        leaves = list(_parsed(annotation, getattr(handler, "__globals__", {})))
    else:
        leaves = list(_leaves_of(annotation))
    if generator:
        # None in AsyncGenerator[X, None] is the send type, not a response.
        leaves = [leaf for leaf in leaves if leaf is not None]
    if any(not _known(leaf) for leaf in leaves):
        return ANY_RESPONSE
    responses = [leaf for leaf in leaves if leaf is None or _response(leaf)]
    if generator and not responses:
        return (Ok,)  # yields events only
    if not responses:
        return ANY_RESPONSE
    return _declaration(responses)


def _declaration(leaves: list[Any]) -> tuple[type[Response], ...]:
    found = [Ok if leaf is None else leaf for leaf in leaves]
    if Response in found:
        return ANY_RESPONSE
    return tuple(dict.fromkeys(found))


def _response(leaf: object) -> bool:
    return isinstance(leaf, type) and issubclass(leaf, Response)


def _known(leaf: object) -> bool:
    """A leaf a declaration may hold: None, a Response or an Event class."""
    return leaf is None or (
        isinstance(leaf, type) and issubclass(leaf, Event | Response)
    )


def _leaves_of(annotation: object) -> Iterator[object]:
    """The classes (and None) an annotation object names, through unions,
    tuples and async-generator wrappers."""
    if annotation is None or annotation is type(None):
        yield None
    elif isinstance(annotation, tuple):
        for part in annotation:
            yield from _leaves_of(part)
    elif typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for part in typing.get_args(annotation):
            yield from _leaves_of(part)
    elif typing.get_origin(annotation) in _GENERATORS:
        yield from _leaves_of(typing.get_args(annotation)[0])
    elif isinstance(annotation, type) and typing.get_origin(annotation) is None:
        yield annotation
    else:
        yield _UNKNOWN


def _parsed(text: str, namespace: dict[str, Any]) -> Iterator[object]:
    """The leaves of an annotation written as text (``from __future__ import
    annotations``), resolved in the handler's module."""
    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError:
        yield _UNKNOWN
        return
    yield from _leaves_of_node(tree, namespace)


def _leaves_of_node(node: ast.expr, namespace: dict[str, Any]) -> Iterator[object]:
    match node:
        case ast.Constant(value=None):
            yield None
        case ast.BinOp(op=ast.BitOr()):
            yield from _leaves_of_node(node.left, namespace)
            yield from _leaves_of_node(node.right, namespace)
        case ast.Subscript(value=wrapper, slice=inner):
            parts = inner.elts if isinstance(inner, ast.Tuple) else [inner]
            name = _dotted(wrapper)
            if name is not None and name.rpartition(".")[2] in _GENERATOR_NAMES:
                yield from _leaves_of_node(parts[0], namespace)
            elif name is not None and name.rpartition(".")[2] in ("Union", "Optional"):
                for part in parts:
                    yield from _leaves_of_node(part, namespace)
                if name.endswith("Optional"):
                    yield None
            else:
                yield _UNKNOWN
        case ast.Name() | ast.Attribute():
            yield _resolve(_dotted(node), namespace)
        case _:
            yield _UNKNOWN


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return None if head is None else f"{head}.{node.attr}"
    return None


def _resolve(name: str | None, namespace: dict[str, Any]) -> object:
    if name is None:
        return _UNKNOWN
    head, *rest = name.split(".")
    value = namespace.get(head, getattr(builtins, head, _UNKNOWN))
    for attribute in rest:
        value = getattr(value, attribute, _UNKNOWN)
    return value if isinstance(value, type) else _UNKNOWN
