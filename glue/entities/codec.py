"""Decoding input into entities: one decoder per entity, every bad field reported.

The fast path is a single msgspec decode (JSON bytes or str) or conversion (a
mapping). msgspec stops at the first error, so only when that fails does the slow
path walk the input field by field, recursing into nested Structs, lists and dicts,
to name *every* bad or missing field by its JSON path (``$.items[2]``).
"""

from __future__ import annotations

import collections.abc as abc
import types
import typing
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

import msgspec

from ..errors import FieldError, ValidationError
from .base import Entity

__all__ = [
    "Codec",
    "Payload",
    "field_error",
    "payload_type_error",
    "text_error",
]

E = TypeVar("E", bound=Entity)

Payload = bytes | bytearray | memoryview | str | Mapping[str, Any]
"""What :meth:`Codec.decode` accepts: JSON text or a mapping of field values."""

_TEXT = (bytes, str, bytearray, memoryview)
# typing.get_origin gives the collections.abc classes, also for typing.Sequence[X].
_SEQUENCES = frozenset(
    {
        list,
        tuple,
        set,
        frozenset,
        abc.Sequence,
        abc.MutableSequence,
        abc.Set,
        abc.MutableSet,
    }
)
_MAPPINGS = frozenset({dict, abc.Mapping, abc.MutableMapping})
_KEY_IN = "key` in `"  # msgspec's path of a bad key: "at `key` in `$.tags`"


class Codec(Generic[E]):
    """Decodes and encodes one entity type. Build one per entity, once.

    Args:
        entity: the entity class.
        full_name: its full name (``"shop:create-order"``), used in errors.

    Attributes:
        entity: the entity class.
        full_name: its full name.
        json: msgspec's decoder of JSON into the entity, for a caller's fast
            path: it raises msgspec's errors, stopping at the first bad field;
            :meth:`decode` then names every bad field.
    """

    __slots__ = ("entity", "full_name", "json")

    def __init__(self, entity: type[E], full_name: str) -> None:
        self.entity = entity
        self.full_name = full_name
        self.json = msgspec.json.Decoder(entity)

    def decode(self, payload: Payload) -> E:
        """Validate ``payload`` and build the entity from it.

        Args:
            payload: JSON text (bytes or str) or a mapping of field values.

        Returns:
            The entity instance.

        Raises:
            ValidationError: the payload does not fit; ``.errors`` lists every bad
                field by JSON path.
        """
        try:
            if isinstance(payload, _TEXT):
                return self.json.decode(payload)
            if isinstance(payload, dict):
                return msgspec.convert(payload, self.entity)
            if isinstance(payload, Mapping):
                return msgspec.convert(dict(payload), self.entity)
            # Reached by untyped callers (a JSON array or null decoded upstream).
            errors = [payload_type_error(payload)]  # type: ignore[unreachable]
        except msgspec.ValidationError as exc:
            errors = self._explain(payload, exc)
        except (msgspec.DecodeError, RecursionError, UnicodeEncodeError) as exc:
            errors = [text_error(exc)]
        raise ValidationError(self.full_name, errors) from None

    def encode(self, entity: E) -> bytes:
        """Encode an entity as JSON bytes."""
        return msgspec.json.encode(entity)

    def _explain(
        self, payload: Payload, first: msgspec.ValidationError
    ) -> list[FieldError]:
        """The slow path: every bad field of a payload that failed to decode."""
        try:
            value: object = payload
            if not isinstance(payload, Mapping):
                value = msgspec.json.decode(payload)
            errors: list[FieldError] = []
            _collect(self.entity, value, "$", errors)
        except (msgspec.MsgspecError, RecursionError):
            # What the typed decode got past, untyped decoding can still refuse
            # (1e999, a deep array): the first error then says it all.
            errors = []
        return errors or [field_error(first, "$")]


def text_error(
    exc: msgspec.DecodeError | RecursionError | UnicodeEncodeError,
) -> FieldError:
    """The error for input that is not JSON text msgspec can read."""
    if isinstance(exc, RecursionError):
        return FieldError("$", "arrays and objects nested too deeply")
    if isinstance(exc, UnicodeEncodeError):
        return FieldError(
            "$",
            f"not valid Unicode: character {exc.start} is a lone surrogate "
            f"({exc.object[exc.start]!r}); send UTF-8 text",
        )
    return FieldError("$", f"malformed JSON: {exc}")


def payload_type_error(payload: object) -> FieldError:
    """The error for a payload of the wrong kind (a list, None, a number)."""
    return FieldError(
        "$",
        "expected JSON text (bytes or str) or a mapping of fields, got "
        f"{type(payload).__name__}",
    )


def field_error(exc: msgspec.ValidationError, path: str) -> FieldError:
    """Turn msgspec's ``"reason - at `$.x`"`` into a FieldError under ``path``.

    A bad key (``"reason - at `key` in `$.x`"``) is reported at its object.
    """
    reason, sep, at = str(exc).rpartition(" - at `")
    if not sep:
        return FieldError(path, str(exc))
    at = at[:-1]
    if at.startswith(_KEY_IN):
        at, reason = at[len(_KEY_IN) :], f"a key: {reason}"
    return FieldError(path + at[1:], reason)


def _unwrap(tp: Any) -> Any:
    """Strip ``Annotated`` (its constraints are checked by the whole-value try)."""
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _collect(tp: Any, value: object, path: str, errors: list[FieldError]) -> None:
    """Append to ``errors`` every problem of ``value`` read as type ``tp``."""
    try:
        msgspec.convert(value, tp)
    except msgspec.ValidationError as exc:
        found = len(errors)
        _descend(_unwrap(tp), value, path, errors)
        if len(errors) == found:
            errors.append(field_error(exc, path))


def _descend(tp: Any, value: object, path: str, errors: list[FieldError]) -> None:
    """Look inside containers and Structs for the fields that are wrong."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        # Optional[X]: only X can hold nested errors worth reporting.
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1 and value is not None:
            _descend(_unwrap(inner[0]), value, path, errors)
    elif isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        if isinstance(value, dict):
            _collect_struct(tp, value, path, errors)
    elif origin in _SEQUENCES and isinstance(value, list):
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return  # fixed-length tuples: the whole-value message says it best
        item = args[0] if args else Any
        for index, element in enumerate(value):
            _collect(item, element, f"{path}[{index}]", errors)
    elif origin in _MAPPINGS and isinstance(value, dict) and len(args) == 2:
        for key, element in value.items():
            _collect(args[1], element, _join(path, key), errors)


def _collect_struct(
    tp: type[msgspec.Struct], value: dict[Any, Any], path: str, errors: list[FieldError]
) -> None:
    """Check each field of a Struct on its own, then its unknown keys."""
    fields = msgspec.structs.fields(tp)
    for field in fields:
        where = _join(path, field.encode_name)
        if field.encode_name in value:
            _collect(field.type, value[field.encode_name], where, errors)
        elif field.required:
            errors.append(FieldError(where, "missing required field"))
    if tp.__struct_config__.forbid_unknown_fields:
        known = {f.encode_name for f in fields}
        errors.extend(
            FieldError(_join(path, key), "unknown field")
            for key in value
            if key not in known
        )


def _join(path: str, key: object) -> str:
    """``$`` + ``items`` → ``$.items``; keys that are not plain names are quoted."""
    if isinstance(key, str) and key.isidentifier():
        return f"{path}.{key}"
    return f"{path}[{key!r}]"
