"""Contexts, lazy resources and middleware: usable on their own, without the bus."""

from __future__ import annotations

from .context import Context, Hooks, Metadata, current_context, require_context
from .middleware import MiddlewareChain
from .resources import ResourceSet

__all__ = [
    "Context",
    "Hooks",
    "Metadata",
    "MiddlewareChain",
    "ResourceSet",
    "current_context",
    "require_context",
]
