"""SQL for SQLite and PostgreSQL, built from validated names and bound values."""

from __future__ import annotations

from .dialect import placeholder, quote
from .query import CompiledQuery, QueryCompiler, compile_query

__all__ = [
    "CompiledQuery",
    "QueryCompiler",
    "compile_query",
    "placeholder",
    "quote",
]
