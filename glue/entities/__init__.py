"""Entities: the commands, events and responses a domain speaks in."""

from __future__ import annotations

from .base import Command, Entity, EntityMeta, Event, Ok, Response, kebab_case
from .codec import Codec, Payload, field_error

__all__ = [
    "Codec",
    "Command",
    "Entity",
    "EntityMeta",
    "Event",
    "Ok",
    "Payload",
    "Response",
    "field_error",
    "kebab_case",
]
