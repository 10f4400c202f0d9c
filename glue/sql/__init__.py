"""SQL built from validated names and bound values, for every dialect.

``glue.sql.dialects`` holds what differs between databases (one dialect object
per database); the SELECT compiler (``query``) and the DDL (``ddl``) ask it.
"""

from __future__ import annotations

from .dialects import POSTGRES as POSTGRES
from .dialects import SQLITE as SQLITE
from .dialects import Dialect as Dialect
from .query import CompiledQuery as CompiledQuery
from .query import QueryCompiler as QueryCompiler
from .query import compile_query as compile_query

__all__ = [
    "CompiledQuery",
    "Dialect",
    "POSTGRES",
    "QueryCompiler",
    "SQLITE",
    "compile_query",
]
