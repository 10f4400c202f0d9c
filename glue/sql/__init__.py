"""SQL for SQLite and PostgreSQL, built from validated names and bound values."""
