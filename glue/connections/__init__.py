"""Connections to SQLite and PostgreSQL, their pools, and the connection manager."""

from __future__ import annotations

from ..sql.dialects import Dialect as Dialect
from ..sql.dialects import Params as Params
from ..sql.dialects import Statement as Statement
from .abc import Connection as Connection
from .abc import ConnectionPool as ConnectionPool
from .abc import PoolStatistics as PoolStatistics
from .abc import Result as Result
from .containers import Container as Container
from .containers import Registry as Registry
from .containers import init_default_containers as init_default_containers
from .manager import ConnectionManager as ConnectionManager
from .options import Database as Database
from .options import PoolOptions as PoolOptions
from .pool import DefaultConnectionPool as DefaultConnectionPool
from .postgres import PostgresConnection as PostgresConnection
from .postgres import map_asyncpg_errors as map_asyncpg_errors
from .sqlite import SqliteConnection as SqliteConnection
from .sqlite import map_sqlite_errors as map_sqlite_errors
from .streams import RowStream as RowStream
from .urls import pool_from_url as pool_from_url

AsyncConnectionManager = ConnectionManager
"""The seed's name for `ConnectionManager` (glue's is async already)."""
DefaultAsyncConnectionPool = DefaultConnectionPool
"""The seed's name for `DefaultConnectionPool`."""
AsyncSqliteConnection = SqliteConnection
"""The seed's name for `SqliteConnection`."""
AsyncPostgresConnection = PostgresConnection
"""The seed's name for `PostgresConnection`."""

__all__ = [
    "AsyncConnectionManager",
    "AsyncPostgresConnection",
    "AsyncSqliteConnection",
    "Connection",
    "ConnectionManager",
    "ConnectionPool",
    "Container",
    "Database",
    "DefaultAsyncConnectionPool",
    "DefaultConnectionPool",
    "Dialect",
    "Params",
    "PoolOptions",
    "PoolStatistics",
    "PostgresConnection",
    "Registry",
    "Result",
    "RowStream",
    "SqliteConnection",
    "Statement",
    "init_default_containers",
    "map_asyncpg_errors",
    "map_sqlite_errors",
    "pool_from_url",
]
