"""``python -m glue``: the same as the ``glue`` command."""

from __future__ import annotations

from .cli.main import main

__all__: list[str] = []

if __name__ == "__main__":
    raise SystemExit(main())
