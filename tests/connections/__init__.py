"""Tests of glue.connections: pools, connections, the manager, on both databases."""
