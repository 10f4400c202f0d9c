"""Tests of the SQL compilers, run on SQLite and PostgreSQL."""
