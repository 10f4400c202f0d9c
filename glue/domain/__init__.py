"""Domains, the app that composes them, the bus and command policies."""

from __future__ import annotations

from .app import App, AppState
from .bus import Bus, Outcome
from .domain import CommandRegistration, Domain, EventRegistration
from .policy import Actor, Policy
from .registry import CommandRoute, DomainScope, EventRoute, Registry

__all__ = [
    "Actor",
    "App",
    "AppState",
    "Bus",
    "CommandRegistration",
    "CommandRoute",
    "Domain",
    "DomainScope",
    "EventRegistration",
    "EventRoute",
    "Outcome",
    "Policy",
    "Registry",
]
