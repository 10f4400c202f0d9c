"""Domains, the app that composes them, the bus, the context of a domain,
command policies and the tables each domain declares."""

from __future__ import annotations

from .app import App, AppState
from .bus import Bus, Outcome
from .context import DomainContext
from .domain import CommandRegistration, Domain, EventRegistration
from .policy import Actor, Policy
from .registry import CommandRoute, DomainScope, EventRoute, Registry
from .tables import DEFAULT_DATABASE, DomainState, DomainUnit, Table, TableAccess

__all__ = [
    "Actor",
    "App",
    "AppState",
    "Bus",
    "CommandRegistration",
    "CommandRoute",
    "DEFAULT_DATABASE",
    "Domain",
    "DomainContext",
    "DomainScope",
    "DomainState",
    "DomainUnit",
    "EventRegistration",
    "EventRoute",
    "Outcome",
    "Policy",
    "Registry",
    "Table",
    "TableAccess",
]
