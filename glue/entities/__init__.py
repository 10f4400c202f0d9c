"""Entities: the commands, events and responses a domain speaks in."""

from __future__ import annotations

from .base import Command, Entity, EntityMeta, Event, Ok, Response, kebab_case
from .codec import Codec, Payload

__all__ = [
    "Codec",
    "Command",
    "Entity",
    "EntityMeta",
    "Event",
    "Ok",
    "Payload",
    "Response",
    "kebab_case",
]
