"""Example domains built with glue: real, runnable, and exercised by the tests."""

from __future__ import annotations

__all__: list[str] = []
